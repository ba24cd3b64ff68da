/**
 * Renders one planned item of the benchmark into its 8-bit payloads: the RGB image (and its
 * shortcut-marked twin when the training-only cue applies), the face-region mask, and for
 * training images with maps the averaged simulated-annotator saliency map. Every random choice
 * comes from a stream seeded by (dataset seed, base name), so an item is the same whatever order
 * or worker renders it in.
 *
 * @module
 */
import { hashString, Rng } from "../../rng.ts";
import { simulateSaliency } from "./annotators.ts";
import { type AppliedArtifact, generatorByName, renderFake } from "./artifacts.ts";
import { addSensorNoise, renderFace } from "./face.ts";
import { landmarks, sampleFace, STYLE_SHIFTED, STYLE_STANDARD } from "./face_params.ts";
import type { PlannedItem } from "./layout.ts";
import { faceMaskU8 } from "./masks.ts";
import { type Ellipse, ellipseMask, toU8 } from "./raster.ts";
import { applyShortcut, DEFAULT_SHORTCUT, hasShortcut, type ShortcutSpec } from "./shortcut.ts";

/** The rendered payloads of one item. */
export interface RenderedItem {
  /** Base name. */
  base: string;
  /** 8-bit RGB, `size × size × 3`, without the shortcut. */
  rgb: Uint8Array;
  /** The same image with the shortcut mark, when the item carries it in the shortcut variant. */
  rgbShortcut?: Uint8Array;
  /** 8-bit face-region mask. */
  mask: Uint8Array;
  /** 8-bit averaged saliency map, for items with maps. */
  heatmap?: Uint8Array;
  /** Artifacts applied (fakes). */
  artifacts: AppliedArtifact[];
}

/** Rasterised union of artifact ellipses (`size × size`, in [0, 1]); for tests and calibration. */
export function artifactMask(
  size: number,
  artifacts: readonly { ellipse: Ellipse }[],
): Float32Array {
  const out = new Float32Array(size * size);
  for (const a of artifacts) ellipseMask(size, a.ellipse, 0, out);
  return out;
}

/** Renders one item. `shortcut` null disables the cue (the control variant never uses it). */
export function renderItem(
  seed: number,
  item: PlannedItem,
  size: number,
  shortcut: ShortcutSpec | null = DEFAULT_SHORTCUT,
): RenderedItem {
  const rng = new Rng(hashString(`${seed}:${item.base}`));
  const style = item.source === "shifted" ? STYLE_SHIFTED : STYLE_STANDARD;
  const face = sampleFace(rng.fork("face"), style);
  let rendered, artifacts: AppliedArtifact[] = [];
  if (item.label === 1) {
    const fake = renderFake(generatorByName(item.source), face, rng.fork("artifacts"), size);
    rendered = fake.rendered;
    artifacts = fake.artifacts;
  } else {
    rendered = renderFace(face, size);
  }
  addSensorNoise(rendered.image, face.sensorNoise, rng.fork("sensor"));
  const rgb = toU8(rendered.image.data);
  const out: RenderedItem = { base: item.base, rgb, mask: faceMaskU8(rendered), artifacts };
  if (shortcut && item.shortcutEligible && hasShortcut(seed, item.base, item.label, shortcut)) {
    out.rgbShortcut = applyShortcut(rgb, size, shortcut);
  }
  if (item.hasMap) {
    const map = simulateSaliency(
      size,
      artifacts.map((a) => a.ellipse),
      landmarks(face),
      rng.fork("annotators"),
    );
    out.heatmap = toU8(map);
  }
  return out;
}
