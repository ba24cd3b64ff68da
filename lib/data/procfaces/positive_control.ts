/**
 * The positive-control setting, in the manner of decoy MNIST (Ross et al., 2017): a mark outside
 * the face on every training and validation fake and on no real, which the human maps never mark,
 * while the seen-generator artifacts stay learnable. A model that learns the mark fails when the
 * mark moves to the reals; one that is kept off it by the human maps should not.
 *
 * Derived from a complete `procfaces-control` folder (same faces, same maps and masks), in the
 * paper's layout, in one of three modes:
 *
 * - `mark` (`procfaces-positive/`): the mark on 100 % of the training and validation fakes and 0 %
 *   of the reals.
 * - `nomark` (`procfaces-positive-nomark/`): no mark in training or validation (calibration: what
 *   a baseline reaches without the decoy).
 * - `masked` (`procfaces-positive-masked/`): as `mark`, then the mark's square painted black in
 *   every image, test sets included (calibration: the decoy's region carries no information).
 *
 * Test sets, each a real set and a fake set scored against each other (`tN_real` / `tN_fake`;
 * reals from `real_same`, fakes from `seen_generators`, 300 each at the paper's counts):
 * T1 the mark on every real and no fake (reversed), T2 no mark, T3 the mark on each image with
 * probability ½. Only `csvs/original.csv` is written (no 7× set).
 *
 * The paper-like setting uses the same machinery in two more modes. The seen generators' in-face
 * artifacts (attenuated, learnable) stand for the artifact family that unseen generators share;
 * each generator also leaves an easier fingerprint outside the face, in the mark's corner
 * ({@linkcode FINGERPRINTS}), which the maps never mark:
 *
 * - `paper` (`procfaces-paperlike/`): every training fake carries the seen generators'
 *   fingerprint (the ring). Validation comes from shifted sources, as in the paper: the reals from
 *   another capture (`real_shifted`), the fakes from another generator (same in-face artifacts,
 *   the validation generator's fingerprint, a dark bar).
 * - `paper-twin` (`procfaces-paperlike-twin/`): the same images with no fingerprint in training
 *   or validation, where guidance has nothing to correct.
 *
 * Their test sets (reals from `real_same`, never marked): T1 fakes with the unseen generator's
 * fingerprint (a dark disc), T2 fakes without a fingerprint, T3 fakes with the seen generators'
 * fingerprint. Both modes share the test sets byte for byte.
 *
 * @module
 */
import { readSplitCsv } from "../csv.ts";
import { hashString, Rng } from "../../rng.ts";
import { applyShortcut, type ShortcutSpec, shortcutWeights } from "./shortcut.ts";
import { COMPLETE_MARKER, contentHash, decodePng, digestOf, encodePng } from "./writer.ts";

/** Derivation modes (see the module doc). */
export type PositiveMode = "mark" | "nomark" | "masked" | "paper" | "paper-twin";

/** Folder of each mode, next to `procfaces-control/`. */
export const POSITIVE_DIRS: Readonly<Record<PositiveMode, string>> = {
  mark: "procfaces-positive",
  nomark: "procfaces-positive-nomark",
  masked: "procfaces-positive-masked",
  paper: "procfaces-paperlike",
  "paper-twin": "procfaces-paperlike-twin",
};

/** Whether a mode builds the paper-like setting (shifted validation, fingerprints). */
export function isPaperLike(mode: PositiveMode): boolean {
  return mode === "paper" || mode === "paper-twin";
}

/**
 * The decoy: a ring with a centre dot, +80 levels, 6 px at 32 px (18.75 % of the side), in the
 * bottom-right corner — the design a baseline probe learned at the `quick` scale (minicnn, 32 px,
 * 3 seeds: T1 AUC 0.19 ± 0.10, T2 0.98, T3 0.78). `pFake`/`pReal` are not used here: the mode
 * decides who carries it.
 */
export const POSITIVE_MARK: ShortcutSpec = { pFake: 1, pReal: 0, amplitude: 80, sizeFrac: 0.1875 };

/**
 * Default artifact attenuation ({@linkcode soften}) of the derived folders, calibrated on
 * baselines alone (data/README.md, "Positive control: calibration log"): at 0 the baseline ignores
 * the mark (T1 AUC 0.999); at 0.5 it relies on it (T1 0.196) while the artifacts stay learnable
 * (T1 0.999 without the mark, 1.000 with its region masked).
 */
export const POSITIVE_SOFTEN = 0.5;

/** The square `[lo, size)²` that holds the mark (1 px of border around its disc). */
export function markBox(size: number, spec: ShortcutSpec = POSITIVE_MARK): number {
  const diam = Math.max(5, Math.round(spec.sizeFrac * size));
  const margin = Math.max(1, Math.round(size * 0.03));
  return Math.max(0, Math.floor(size - margin - diam) - 1);
}

/**
 * Attenuates pixel-period textures (the seen generators' artifacts): `(1 − s)·img + s·B(img)`
 * with B the 3×3 binomial blur ([1, 2, 1]², edges clamped). A period-2 pattern keeps `1 − s` of its
 * amplitude, a period-4 one `1 − s/2`; `s = 0` returns a copy.
 */
export function soften(rgb: Uint8Array, size: number, s: number): Uint8Array {
  if (!(s >= 0 && s <= 1)) throw new Error(`positive control: soften=${s} must be in [0, 1]`);
  const out = rgb.slice();
  if (s === 0) return out;
  const at = (x: number, y: number, c: number) =>
    rgb[3 * (Math.min(size - 1, Math.max(0, y)) * size + Math.min(size - 1, Math.max(0, x))) + c];
  const k = [1, 2, 1];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let b = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) b += k[dy + 1] * k[dx + 1] * at(x + dx, y + dy, c);
        }
        const v = (1 - s) * rgb[3 * (y * size + x) + c] + s * b / 16;
        out[3 * (y * size + x) + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return out;
}

/** A generator fingerprint of the paper-like setting: a pattern in the mark's corner. */
export type Fingerprint = "ring" | "bar" | "disc";

/**
 * The fingerprint of each kind of generator in the paper-like setting, all in the corner square
 * of {@linkcode markBox}, with the mark's brightness: the seen generators' is the positive
 * control's bright ring; the validation generator's a dark horizontal bar; the unseen
 * generator's a dark filled disc. Their signs differ, so a filter tuned to the bright ring does
 * not answer the others.
 */
export const FINGERPRINTS = { seen: "ring", validation: "bar", unseen: "disc" } as const;

/** Weights in [0, 1] (`size × size`) of a fingerprint pattern, inside {@linkcode markBox}. */
export function fingerprintWeights(
  size: number,
  kind: Fingerprint,
  spec: ShortcutSpec = POSITIVE_MARK,
): Float32Array {
  if (kind === "ring") return shortcutWeights(size, spec);
  const w = new Float32Array(size * size);
  const diam = Math.max(5, Math.round(spec.sizeFrac * size));
  const margin = Math.max(1, Math.round(size * 0.03));
  const c = size - margin - diam / 2; // centre, as the ring's
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - c, dy = y + 0.5 - c;
      // bar: diam wide, diam/3 tall; disc: diam across; both anti-aliased over 1 px.
      const v = kind === "bar"
        ? Math.min(0.5 + diam / 2 - Math.abs(dx), 0.5 + diam / 6 - Math.abs(dy))
        : 0.5 + diam / 2 - Math.hypot(dx, dy);
      w[y * size + x] = Math.min(1, Math.max(0, v));
    }
  }
  return w;
}

/** A copy of an 8-bit RGB image with a fingerprint added: bright for the ring, dark otherwise. */
export function applyFingerprint(
  rgb: Uint8Array,
  size: number,
  kind: Fingerprint,
  spec: ShortcutSpec = POSITIVE_MARK,
): Uint8Array {
  if (kind === "ring") return applyShortcut(rgb, size, spec);
  const w = fingerprintWeights(size, kind, spec);
  const out = rgb.slice();
  for (let i = 0; i < w.length; i++) {
    if (w[i] <= 0) continue;
    const sub = Math.round(spec.amplitude * w[i]);
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.max(0, out[3 * i + c] - sub);
  }
  return out;
}

/** A copy of an 8-bit RGB image with the mark's square set to 0. */
export function maskMarkRegion(
  rgb: Uint8Array,
  size: number,
  spec: ShortcutSpec = POSITIVE_MARK,
): Uint8Array {
  const out = rgb.slice();
  const lo = markBox(size, spec);
  for (let y = lo; y < size; y++) out.fill(0, 3 * (y * size + lo), 3 * (y * size + size));
  return out;
}

/** Options of {@linkcode derivePositiveControl}. */
export interface DeriveOptions {
  /** A complete `procfaces-control` folder. */
  control: string;
  /** Parent folder of the derived folder (default: the control folder's parent). */
  out?: string;
  /** Which derivation. */
  mode: PositiveMode;
  /** Seed of T3's random marks (default 1). */
  seed?: number;
  /** The mark (default {@linkcode POSITIVE_MARK}). */
  spec?: ShortcutSpec;
  /** Artifact attenuation ({@linkcode soften}) of every image (default {@linkcode POSITIVE_SOFTEN}). */
  soften?: number;
  /** Images whose artifacts are erased instead ({@linkcode HeavySoften}; default none). */
  heavy?: HeavySoften;
}

/**
 * A label-independent share of the images (real and fake alike, chosen per source image by a
 * seeded hash, so a test image and its twins agree) gets `soften(·, 1)` applied `passes` times
 * instead of the folder's attenuation: their artifacts are erased, so no detector can tell those
 * fakes from reals and the reachable AUC is about `1 − fraction / 2`. Used by the negative control
 * to put every baseline below the ceiling by the same amount.
 */
export interface HeavySoften {
  /** Share of the images, in [0, 1]. */
  fraction: number;
  /** Passes of the full 3×3 blur (an integer >= 1). */
  passes: number;
}

/** What {@linkcode derivePositiveControl} did. */
export interface DeriveReport {
  /** The derived folder. */
  dir: string;
  /** Images in it. */
  images: number;
  /** True when it was already complete for these options and source (nothing written). */
  upToDate: boolean;
}

const TESTS = ["t1", "t2", "t3"] as const;

interface Marker {
  format: string;
  mode: PositiveMode;
  seed: number;
  spec: ShortcutSpec;
  soften: number;
  heavy?: HeavySoften;
  source: string;
  images: number;
  digest: string;
}

function parentOf(p: string): string {
  const s = p.replace(/\/+$/, "");
  const i = s.lastIndexOf("/");
  return i < 0 ? "." : s.slice(0, i);
}

/**
 * Writes the derived folder of `mode` from a complete control folder. Idempotent: a folder whose
 * `COMPLETE.json` records the same mode, seed, mark and source digest is left alone. Otherwise it
 * is built under `<dir>.tmp/` and renamed into place, so the folder is never half-written.
 */
export async function derivePositiveControl(opts: DeriveOptions): Promise<DeriveReport> {
  const spec = opts.spec ?? POSITIVE_MARK;
  const seed = opts.seed ?? 1;
  const softening = opts.soften ?? POSITIVE_SOFTEN;
  if (!(softening >= 0 && softening <= 1)) {
    throw new Error(`positive control: soften=${softening} must be in [0, 1]`);
  }
  const heavy = opts.heavy;
  if (
    heavy &&
    !(heavy.fraction >= 0 && heavy.fraction <= 1 && Number.isInteger(heavy.passes) &&
      heavy.passes >= 1)
  ) {
    throw new Error(
      `positive control: heavy fraction ${heavy.fraction} must be in [0, 1] and passes ` +
        `${heavy.passes} an integer >= 1`,
    );
  }
  if (!(opts.mode in POSITIVE_DIRS)) {
    throw new Error(
      `positive control: mode must be one of ${Object.keys(POSITIVE_DIRS).join(", ")}, got ` +
        `"${opts.mode}"`,
    );
  }
  const srcMarkerPath = `${opts.control}/${COMPLETE_MARKER}`;
  let srcMarker: { variant?: string; digest?: string };
  try {
    srcMarker = JSON.parse(await Deno.readTextFile(srcMarkerPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `positive control: ${srcMarkerPath} is missing (generate the control variant first: ` +
          "deno task data)",
      );
    }
    throw e;
  }
  if (srcMarker.variant !== "control" || !srcMarker.digest) {
    throw new Error(
      `positive control: ${srcMarkerPath} is not a complete control variant ` +
        `(variant ${srcMarker.variant})`,
    );
  }
  const dir = `${opts.out ?? parentOf(opts.control)}/${POSITIVE_DIRS[opts.mode]}`;
  const want = {
    mode: opts.mode,
    seed,
    spec,
    soften: softening,
    ...(heavy ? { heavy } : {}),
    source: srcMarker.digest,
  };
  try {
    const m: Marker = JSON.parse(await Deno.readTextFile(`${dir}/${COMPLETE_MARKER}`));
    if (
      JSON.stringify({
        mode: m.mode,
        seed: m.seed,
        spec: m.spec,
        soften: m.soften,
        ...(m.heavy ? { heavy: m.heavy } : {}),
        source: m.source,
      }) ===
        JSON.stringify(want)
    ) {
      return { dir, images: m.images, upToDate: true };
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }

  const tmp = `${dir}.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const hashes = new Map<string, string>();
  const write = async (rel: string, bytes: Uint8Array) => {
    const path = `${tmp}/${rel}`;
    await Deno.mkdir(parentOf(path), { recursive: true });
    await Deno.writeFile(path, bytes);
    hashes.set(rel, contentHash(bytes));
  };
  // `mark`: true for the positive control's mark, or the fingerprint to add.
  const render = async (srcRel: string, mark: boolean | Fingerprint): Promise<Uint8Array> => {
    const { size, pixels } = await decodePng(await Deno.readFile(`${opts.control}${srcRel}`), 3);
    let base: Uint8Array;
    if (heavy && new Rng(hashString(`${seed}:${srcRel}:heavy`)).uniform() < heavy.fraction) {
      base = pixels;
      for (let k = 0; k < heavy.passes; k++) base = soften(base, size, 1);
    } else {
      base = soften(pixels, size, softening);
    }
    let rgb = mark === true
      ? applyShortcut(base, size, spec)
      : mark
      ? applyFingerprint(base, size, mark, spec)
      : base;
    if (opts.mode === "masked") rgb = maskMarkRegion(rgb, size, spec);
    return encodePng(rgb, size, 3);
  };
  const paper = isPaperLike(opts.mode);
  const fingerprinted = opts.mode === "paper";

  // Training and validation rows of original.csv, maps and masks of the training rows. In the
  // paper-like modes the validation reals come from the shifted capture instead.
  const rows = await readSplitCsv(`${opts.control}/csvs/original.csv`);
  const shifted = paper
    ? await readSplitCsv(`${opts.control}/csvs/test_sets/real_shifted.csv`)
    : [];
  const valReals = rows.filter((r) => r.split === "test" && r.label === 0).length;
  if (paper && shifted.length < valReals) {
    throw new Error(
      `positive control: ${opts.control}/csvs/test_sets/real_shifted.csv has ${shifted.length} ` +
        `rows, the validation needs ${valReals}`,
    );
  }
  const csvLines: string[] = [];
  let images = 0;
  let nextShifted = 0;
  for (const r0 of rows) {
    const r = paper && r0.split === "test" && r0.label === 0 ? shifted[nextShifted++] : r0;
    const rel = r.path.startsWith("/") ? r.path : `/${r.path}`;
    const mark: boolean | Fingerprint = paper
      ? fingerprinted && r.label === 1 &&
        (r.split === "train" ? FINGERPRINTS.seen : FINGERPRINTS.validation)
      : opts.mode !== "nomark" && r.label === 1;
    await write(rel.slice(1), await render(rel, mark));
    images++;
    csvLines.push(`${r0.split},${r.label === 1 ? "Synthetic" : "Real"},${rel}`);
    const base = rel.slice(rel.lastIndexOf("/") + 1);
    if (r.split === "train") {
      for (const sub of ["heatmaps", "masks"]) {
        const src = `${opts.control}/${sub}/${base}`;
        await write(`${sub}/${base}`, await Deno.readFile(src));
      }
    }
  }
  await write("csvs/original.csv", new TextEncoder().encode(csvLines.join("\n") + "\n"));

  // T1–T3 from the control's real_same and seen_generators test sets.
  const sources = { real: "real_same", fake: "seen_generators" } as const;
  for (const kind of ["real", "fake"] as const) {
    const src = await readSplitCsv(`${opts.control}/csvs/test_sets/${sources[kind]}.csv`);
    for (const t of TESTS) {
      const set = `${t}_${kind}`;
      const lines: string[] = [];
      for (const [i, r] of src.entries()) {
        const rel = r.path.startsWith("/") ? r.path : `/${r.path}`;
        const base = `${set}_${String(i).padStart(5, "0")}.png`;
        const mark: boolean | Fingerprint = paper
          ? kind === "fake" && t !== "t2" &&
            (t === "t1" ? FINGERPRINTS.unseen : FINGERPRINTS.seen)
          : t === "t1"
          ? kind === "real"
          : t === "t3"
          ? new Rng(hashString(`${seed}:${base}:t3`)).chance(0.5)
          : false;
        const out = `images/test/${set}/${base}`;
        await write(out, await render(rel, mark));
        images++;
        lines.push(`test,${kind === "real" ? "Real" : "Synthetic"},/${out}`);
      }
      await write(`csvs/test_sets/${set}.csv`, new TextEncoder().encode(lines.join("\n") + "\n"));
    }
  }
  const marker: Marker = {
    format: "procfaces-positive/1",
    ...want,
    images,
    digest: digestOf(hashes),
  };
  await Deno.writeTextFile(`${tmp}/${COMPLETE_MARKER}`, JSON.stringify(marker, null, 2) + "\n");
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.rename(tmp, dir);
  return { dir, images, upToDate: false };
}
