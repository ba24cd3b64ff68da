/**
 * The training-only shortcut: a faint watermark-like mark (a small bright ring with a centre dot)
 * in the bottom-right corner, correlated with the class in the training, 7× and validation images
 * of the `procfaces` variant (present on `pFake` of the fakes and `pReal` of the reals) and absent
 * from every test set and from the whole `procfaces-control` variant.
 *
 * Why this cue: the paper's validation set is drawn like its training set, so validation accuracy
 * stays high while unseen test sets lack the bias. The mark lies outside the face, where the
 * simulated human maps never are, so a CAM that uses it disagrees with the human map: exactly
 * the kind of spurious evidence the CYBORG loss term penalises. It never touches the face, so it
 * does not interact with the artifacts.
 *
 * @module
 */
import { hashString, Rng } from "../../rng.ts";

/** Shortcut settings. */
export interface ShortcutSpec {
  /** Probability that a fake (train/val) carries the mark. */
  pFake: number;
  /** Probability that a real (train/val) carries the mark. */
  pReal: number;
  /** Brightness added on the mark, in 8-bit levels. */
  amplitude: number;
  /** Mark diameter as a fraction of the image side (at least 5 px). */
  sizeFrac: number;
}

/**
 * The benchmark's shortcut, calibrated by measurement (tools/calibration/torch_proxy.py, minicnn
 * at 32 px, lr 0.05, 30 epochs, seed 0): with the first design (+14 levels, 12 % of the side) a
 * baseline learned neither the mark nor the artifacts (train 0.59, val 0.47, unseen AUC 0.52); at
 * +60 levels and 20 % it shows the paper's pattern (train 0.91, val 0.89 with AUC 0.91, seen
 * generators 0.57, unseen 0.54). Chosen on the baseline alone, never on CYBORG's result.
 */
export const DEFAULT_SHORTCUT: ShortcutSpec = {
  pFake: 0.9,
  pReal: 0.1,
  amplitude: 60,
  sizeFrac: 0.2,
};

/** Whether the item with this seed / base name / label carries the mark (deterministic). */
export function hasShortcut(
  seed: number,
  base: string,
  label: 0 | 1,
  spec: ShortcutSpec = DEFAULT_SHORTCUT,
): boolean {
  const rng = new Rng(hashString(`${seed}:${base}:shortcut`));
  return rng.chance(label === 1 ? spec.pFake : spec.pReal);
}

/** The mark's weight map (`size × size`, in [0, 1]): a ring plus a centre dot near the bottom-right corner. */
export function shortcutWeights(size: number, spec: ShortcutSpec = DEFAULT_SHORTCUT): Float32Array {
  const w = new Float32Array(size * size);
  const diam = Math.max(5, Math.round(spec.sizeFrac * size));
  const margin = Math.max(1, Math.round(size * 0.03));
  const c = size - margin - diam / 2; // centre (pixel units)
  const rOuter = diam / 2, ring = Math.max(0.8, diam * 0.12), dot = Math.max(0.7, diam * 0.12);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x + 0.5 - c, y + 0.5 - c);
      const dRing = Math.abs(d - (rOuter - ring)) - ring / 2;
      const v = Math.max(
        Math.min(1, Math.max(0, 0.5 - dRing)),
        Math.min(1, Math.max(0, 0.5 - (d - dot))),
      );
      w[y * size + x] = v;
    }
  }
  return w;
}

/** A copy of an 8-bit RGB image with the mark added (clamped). */
export function applyShortcut(
  rgb: Uint8Array,
  size: number,
  spec: ShortcutSpec = DEFAULT_SHORTCUT,
): Uint8Array {
  if (rgb.length !== size * size * 3) {
    throw new Error(
      `applyShortcut: expected ${size * size * 3} bytes for size ${size}, got ${rgb.length}`,
    );
  }
  const w = shortcutWeights(size, spec);
  const out = rgb.slice();
  for (let i = 0; i < w.length; i++) {
    if (w[i] <= 0) continue;
    const add = Math.round(spec.amplitude * w[i]);
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.min(255, out[3 * i + c] + add);
  }
  return out;
}

/**
 * How strongly an image shows the mark: mean brightness on the mark minus mean brightness of the
 * ring of pixels just around it (8-bit levels). About `amplitude` with the mark, near 0 without.
 */
export function shortcutScore(
  rgb: Uint8Array,
  size: number,
  spec: ShortcutSpec = DEFAULT_SHORTCUT,
): number {
  const w = shortcutWeights(size, spec);
  const diam = Math.max(5, Math.round(spec.sizeFrac * size));
  const margin = Math.max(1, Math.round(size * 0.03));
  const lo = Math.max(0, size - margin - diam - 2);
  let on = 0, nOn = 0, off = 0, nOff = 0;
  for (let y = lo; y < size; y++) {
    for (let x = lo; x < size; x++) {
      const i = y * size + x;
      const lum = (rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]) / 3;
      if (w[i] > 0.5) {
        on += lum;
        nOn++;
      } else if (w[i] === 0) {
        off += lum;
        nOff++;
      }
    }
  }
  return nOn && nOff ? on / nOn - off / nOff : 0;
}
