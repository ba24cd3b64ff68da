/**
 * Heatmaps drawn over images: a map (CAM, human saliency, segmentation mask) at any grid is
 * upsampled bilinearly to the image, coloured with the jet colour map and alpha-blended, so the
 * notebooks can show "image | human map | CAM" side by side as PNGs.
 *
 * @module
 */
import type { Map2D } from "./figures.ts";
import type { RawImage } from "./images.ts";

/** Jet colour of `v` in [0, 1] (clamped): dark blue → cyan → yellow → dark red, as 0..255 RGB. */
export function jetColor(v: number): [number, number, number] {
  const t = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  const ch = (x: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - x))));
  return [ch(3), ch(2), ch(1)];
}

/**
 * `map` resampled to `size × size` with align-corners=false bilinear interpolation (the
 * half-pixel convention of `tf.image.resizeBilinear` and PIL for upsampling).
 */
export function upsampleMap(map: Map2D, size: number): Float32Array {
  if (map.data.length !== map.height * map.width) {
    throw new Error(`upsampleMap: ${map.data.length} values for a ${map.height}×${map.width} map`);
  }
  if (!Number.isInteger(size) || size < 1) throw new Error(`upsampleMap: bad size ${size}`);
  const out = new Float32Array(size * size);
  const coord = (i: number, n: number) => {
    const c = Math.min(Math.max((i + 0.5) * (n / size) - 0.5, 0), n - 1);
    const lo = Math.floor(c);
    return [lo, Math.min(lo + 1, n - 1), c - lo] as const;
  };
  for (let y = 0; y < size; y++) {
    const [y0, y1, fy] = coord(y, map.height);
    for (let x = 0; x < size; x++) {
      const [x0, x1, fx] = coord(x, map.width);
      const v = (r: number, c: number) => map.data[r * map.width + c];
      out[y * size + x] = (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) +
        fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
    }
  }
  return out;
}

/** Options of {@linkcode overlayMap}. */
export interface OverlayOptions {
  /** Opacity of the colour map over the image (default 0.5). */
  alpha?: number;
  /** Value range mapped to the colour map (default [0, 1]). */
  range?: [number, number];
  /** Output side when there is no image (default: the map's width). */
  size?: number;
}

/**
 * A square RGB image (Uint8, `size × size × 3`) with `map` drawn over it in jet colours; the map
 * may have any grid (it is upsampled). A null image draws the map alone.
 */
export function overlayMap(
  image: { data: Uint8Array; size: number } | null,
  map: Map2D,
  opts: OverlayOptions = {},
): RawImage & { data: Uint8Array } {
  const size = image ? image.size : opts.size ?? map.width;
  if (image && image.data.length !== size * size * 3) {
    throw new Error(`overlayMap: image has ${image.data.length} bytes, not ${size}×${size}×3`);
  }
  const alpha = image ? opts.alpha ?? 0.5 : 1;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlayMap: alpha ${alpha} not in [0, 1]`);
  const [lo, hi] = opts.range ?? [0, 1];
  if (!(hi > lo)) throw new Error(`overlayMap: range [${lo}, ${hi}] is empty`);
  const up = upsampleMap(map, size);
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const c = jetColor((up[i] - lo) / (hi - lo));
    for (let k = 0; k < 3; k++) {
      const base = image ? image.data[i * 3 + k] : 0;
      out[i * 3 + k] = Math.round((1 - alpha) * base + alpha * c[k]);
    }
  }
  return { data: out, width: size, height: size, channels: 3 };
}
