/**
 * Command-line options of `deno task data` (tools/make_data.ts), parsed with errors that name the
 * offending option.
 *
 * @module
 */
import type { VariantChoice } from "./generate.ts";

/** Usage text of `deno task data`. */
export const USAGE = `usage: deno task data [options]
  --seed N        dataset seed (default 1)
  --size PX       image side in pixels (default 64; the paper preset uses 224 or 299)
  --out DIR       parent folder of procfaces/ and procfaces-control/ (default data)
  --variant V     both | shortcut | control (default both)
  --no-shortcut   same as --variant control
  --scale F       multiply every image count by F (default 1: the paper's counts)
  --workers N     render workers (default: CPU count, at most 4; 0 = main thread)
  --force         re-render and compare every file even if COMPLETE.json says up to date
  --help          this text`;

/** Parsed command line. */
export interface MakeDataArgs {
  /** Dataset seed. */
  seed: number;
  /** Image side. */
  size: number;
  /** Output parent folder. */
  out: string;
  /** Variants. */
  variant: VariantChoice;
  /** Count multiplier. */
  scale: number;
  /** Render workers, or undefined for the default. */
  workers?: number;
  /** Re-render even when the folder verifies as up to date. */
  force?: boolean;
}

function intArg(flag: string, v: string | undefined): number {
  if (v === undefined || !/^\d+$/.test(v)) {
    throw new Error(
      `${flag}: expected a non-negative integer, got ${v === undefined ? "nothing" : `"${v}"`}`,
    );
  }
  return Number(v);
}

/** Parses the command line (throws with the offending option named). */
export function parseMakeDataArgs(argv: readonly string[]): MakeDataArgs {
  const a: MakeDataArgs = { seed: 1, size: 64, out: "data", variant: "both", scale: 1 };
  let variantSet = false, noShortcut = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes("=")
      ? argv[i].split(/=(.*)/s, 2)
      : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--seed":
        a.seed = intArg(flag, value());
        if (a.seed > 0xffffffff) throw new Error(`--seed: must be < 2^32, got ${a.seed}`);
        break;
      case "--size":
        a.size = intArg(flag, value());
        if (a.size < 8 || a.size > 1024) throw new Error(`--size: expected 8..1024, got ${a.size}`);
        break;
      case "--out": {
        const v = value();
        if (!v) throw new Error("--out: expected a folder");
        a.out = v;
        break;
      }
      case "--variant": {
        const v = value();
        if (v !== "both" && v !== "shortcut" && v !== "control") {
          throw new Error(`--variant: expected both, shortcut or control, got "${v ?? ""}"`);
        }
        a.variant = v;
        variantSet = true;
        break;
      }
      case "--force":
        a.force = true;
        break;
      case "--no-shortcut":
        noShortcut = true;
        break;
      case "--scale": {
        const v = value();
        const f = Number(v);
        if (!v || !(f > 0) || !Number.isFinite(f)) {
          throw new Error(`--scale: expected a positive number, got "${v ?? ""}"`);
        }
        a.scale = f;
        break;
      }
      case "--workers":
        a.workers = intArg(flag, value());
        break;
      default:
        throw new Error(`unknown option "${argv[i]}"\n${USAGE}`);
    }
  }
  if (noShortcut) {
    if (variantSet && a.variant !== "control") {
      throw new Error(`--no-shortcut conflicts with --variant ${a.variant}`);
    }
    a.variant = "control";
  }
  return a;
}
