/**
 * The embedded benchmark of a preset: its folder, its two variants (shortcut and control), and
 * generating or verifying it.
 *
 * @module
 */
import { generate, VARIANT_DIRS } from "../data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../data/procfaces/layout.ts";
import { COMPLETE_MARKER } from "../data/procfaces/writer.ts";
import type { Preset } from "../presets.ts";
import { exists } from "../run_dir.ts";
import type { DataVariant } from "./run_config.ts";

/** Parent folder of a preset's embedded data: `data` for the paper-sized 64 px set, else `data/<size>px-x<scale>`. */
export function embeddedDataDir(preset: Preset): string {
  return preset.dataSize === 64 && preset.dataScale === 1
    ? "data"
    : `data/${preset.dataSize}px-x${preset.dataScale}`;
}

/** The embedded benchmark's two variants for a preset: the shortcut one and its control. */
export function embeddedVariants(preset: Preset): DataVariant[] {
  const dir = embeddedDataDir(preset);
  return [
    { name: "shortcut", root: `${dir}/${VARIANT_DIRS.shortcut}` },
    { name: "control", root: `${dir}/${VARIANT_DIRS.control}` },
  ];
}

/**
 * Brings the preset's embedded data up to date and returns its variants. The generator is
 * idempotent: when `COMPLETE.json` matches the options and the generator's source, it only
 * verifies (seconds); otherwise it (re)renders and replaces what differs.
 */
export async function ensureEmbeddedData(
  preset: Preset,
  log: (line: string) => void = () => {},
): Promise<DataVariant[]> {
  const variants = embeddedVariants(preset);
  const complete = await Promise.all(variants.map((v) => exists(`${v.root}/${COMPLETE_MARKER}`)));
  log(
    complete.every(Boolean)
      ? `checking the embedded data (${preset.dataSize} px, counts x${preset.dataScale}) ...`
      : `generating the embedded data (${preset.dataSize} px, counts x${preset.dataScale}) ...`,
  );
  const r = await generate({
    out: embeddedDataDir(preset),
    size: preset.dataSize,
    counts: scaleCounts(PAPER_COUNTS, preset.dataScale),
    log,
  });
  log(`embedded data ready: ${r.images} images per variant (${r.seconds.toFixed(1)} s)`);
  return variants;
}
