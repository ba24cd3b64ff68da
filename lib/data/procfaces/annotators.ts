/**
 * Simulated human saliency maps. The paper's annotators marked, on each training image, the
 * regions that made them judge it fake (for synthetic faces) or real (for authentic ones); the
 * per-image maps are the average of several annotators. Here each of 3–5 simulated annotators is
 * imperfect: they miss some artifact regions, add strokes on salient face parts that hold no
 * artifact, misplace and mis-size their strokes, draw filled blobs or outlines with varying
 * stroke width, and their maps are blurred by varying amounts. The average is the saved map.
 *
 * @module
 */
import type { Rng } from "../../rng.ts";
import type { Landmarks } from "./face_params.ts";
import { type Ellipse, gaussianBlur } from "./raster.ts";

/** Behaviour of the simulated annotators. */
export interface AnnotatorOptions {
  /** Fewest and most annotators per image (inclusive). */
  annotators: [number, number];
  /** Probability that an annotator marks a given artifact region. */
  pMark: number;
  /** Probability that an annotator adds a stroke on a salient part with no artifact. */
  pExtra: number;
  /** Std of the stroke centre error, as a fraction of the target's radius. */
  placementError: number;
  /** Range of stroke size relative to the target. */
  sizeRange: [number, number];
  /** Probability that a stroke is an outline (else a filled blob). */
  pOutline: number;
  /** Outline width range in pixels at 64 px (scaled with image size). */
  widthPx: [number, number];
  /** Blur sigma range in pixels at 64 px (scaled with image size). */
  blurPx: [number, number];
}

/** Defaults used by the benchmark. */
export const DEFAULT_ANNOTATORS: AnnotatorOptions = {
  annotators: [3, 5],
  pMark: 0.8,
  pExtra: 0.35,
  placementError: 0.25,
  sizeRange: [0.75, 1.4],
  pOutline: 0.4,
  widthPx: [1.5, 4],
  blurPx: [0.6, 2.2],
};

/** Salient face parts with the probability a "real" annotator picks each. */
function salientParts(lm: Landmarks): { e: Ellipse; w: number }[] {
  const parts = [
    { e: lm.eyes[0], w: 0.2 },
    { e: lm.eyes[1], w: 0.2 },
    { e: lm.mouth, w: 0.22 },
    { e: lm.nose, w: 0.1 },
    { e: lm.skin[0], w: 0.05 },
    { e: lm.skin[1], w: 0.05 },
    { e: lm.skin[2], w: 0.06 },
  ];
  for (const h of lm.hairEdge) parts.push({ e: h, w: 0.04 });
  return parts;
}

function pickWeighted<T extends { w: number }>(rng: Rng, items: readonly T[]): T {
  let total = 0;
  for (const it of items) total += it.w;
  let u = rng.uniform() * total;
  for (const it of items) {
    if (u < it.w) return it;
    u -= it.w;
  }
  return items[items.length - 1];
}

/** Draws one wobbly stroke (filled or outline) around `target` into `out` (max-combined). */
function drawStroke(
  out: Float32Array,
  size: number,
  target: Ellipse,
  rng: Rng,
  o: AnnotatorOptions,
): void {
  const rmean = (target.rx + target.ry) / 2;
  const cx = target.cx + rng.normal() * o.placementError * rmean;
  const cy = target.cy + rng.normal() * o.placementError * rmean;
  const scale = rng.range(o.sizeRange[0], o.sizeRange[1]);
  const rx = Math.max(1.5 / size, target.rx * scale * rng.range(0.85, 1.15));
  const ry = Math.max(1.5 / size, target.ry * scale * rng.range(0.85, 1.15));
  const angle = target.angle + rng.normal() * 0.3;
  const outline = rng.chance(o.pOutline);
  const halfW = (rng.range(o.widthPx[0], o.widthPx[1]) * size) / 64 / 2 / size;
  const wobK = 2 + rng.int(3), wobA = rng.range(0, 0.15), wobP = rng.range(0, 2 * Math.PI);
  const c = Math.cos(angle), s = Math.sin(angle);
  const reach = Math.max(rx, ry) * (1 + wobA) + halfW + 2 / size;
  const x0 = Math.max(0, Math.floor((cx - reach) * size)),
    x1 = Math.min(size - 1, Math.ceil((cx + reach) * size));
  const y0 = Math.max(0, Math.floor((cy - reach) * size)),
    y1 = Math.min(size - 1, Math.ceil((cy + reach) * size));
  const px = 1 / size;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = (x + 0.5) / size - cx, dy = (y + 0.5) / size - cy;
      const lx = c * dx + s * dy, ly = -s * dx + c * dy;
      const t = Math.atan2(ly / ry, lx / rx);
      const rr = Math.hypot(lx / rx, ly / ry) / (1 + wobA * Math.sin(wobK * t + wobP));
      const d = (rr - 1) * Math.min(rx, ry);
      const dist = outline ? Math.abs(d) - halfW : d;
      const v = Math.min(1, Math.max(0, 0.5 - dist / px));
      const i = y * size + x;
      if (v > out[i]) out[i] = v;
    }
  }
}

/**
 * One annotator's map: strokes on the targets it notices (each with probability `pMark`), maybe
 * an extra stroke on a salient part, at least one stroke in all; blurred. Values in [0, 1].
 */
function annotate(
  size: number,
  targets: readonly Ellipse[],
  lm: Landmarks,
  rng: Rng,
  o: AnnotatorOptions,
): Float32Array {
  const map = new Float32Array(size * size);
  const parts = salientParts(lm);
  let strokes = 0;
  if (targets.length > 0) {
    for (const t of targets) {
      if (rng.chance(o.pMark)) {
        drawStroke(map, size, t, rng, o);
        strokes++;
      }
    }
    if (strokes === 0 || rng.chance(o.pExtra)) {
      drawStroke(
        map,
        size,
        strokes === 0 && rng.chance(0.5)
          ? targets[rng.int(targets.length)]
          : pickWeighted(rng, parts).e,
        rng,
        o,
      );
    }
  } else {
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) drawStroke(map, size, pickWeighted(rng, parts).e, rng, o);
  }
  const sigma = (rng.range(o.blurPx[0], o.blurPx[1]) * size) / 64;
  const blurred = gaussianBlur(map, size, sigma);
  for (let i = 0; i < blurred.length; i++) blurred[i] = Math.min(1, blurred[i]);
  return blurred;
}

/**
 * The averaged saliency map of one image (`size × size`, values in [0, 1]). `targets` are the
 * artifact regions of a fake (empty for a real face: annotators then mark parts that looked real).
 */
export function simulateSaliency(
  size: number,
  targets: readonly Ellipse[],
  lm: Landmarks,
  rng: Rng,
  o: AnnotatorOptions = DEFAULT_ANNOTATORS,
): Float32Array {
  const n = o.annotators[0] + rng.int(o.annotators[1] - o.annotators[0] + 1);
  const acc = new Float32Array(size * size);
  for (let k = 0; k < n; k++) {
    const m = annotate(size, targets, lm, rng.fork(k), o);
    for (let i = 0; i < acc.length; i++) acc[i] += m[i] / n;
  }
  return acc;
}
