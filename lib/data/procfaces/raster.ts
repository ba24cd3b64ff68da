/**
 * Raster primitives for the procedural-faces generator: RGB float images, soft-edged ellipses,
 * separable Gaussian blur and 8-bit quantisation. Everything is plain typed arrays (row-major,
 * `size × size`, RGB interleaved) so rendering stays fast in pure TypeScript.
 *
 * Coordinates are normalised: `u` (x) and `v` (y) run over [0, 1], pixel `(x, y)` has its centre
 * at `((x + 0.5) / size, (y + 0.5) / size)`.
 *
 * @module
 */

/** An RGB colour, each channel in [0, 1]. */
export type Rgb = [number, number, number];

/** An ellipse in normalised image coordinates, rotated by `angle` radians (clockwise on screen). */
export interface Ellipse {
  /** Centre x in [0, 1]. */
  cx: number;
  /** Centre y in [0, 1]. */
  cy: number;
  /** Semi-axis along the rotated x direction (normalised units). */
  rx: number;
  /** Semi-axis along the rotated y direction (normalised units). */
  ry: number;
  /** Rotation in radians. */
  angle: number;
}

/** A square RGB image with float channels in [0, 1] (values may leave the range until quantised). */
export interface RgbImage {
  /** Side in pixels. */
  size: number;
  /** `size * size * 3` interleaved RGB. */
  data: Float32Array;
}

/** A fresh black image. */
export function newImage(size: number): RgbImage {
  return { size, data: new Float32Array(size * size * 3) };
}

/**
 * Approximate signed distance (normalised units, negative inside) from point `(u, v)` to the
 * ellipse boundary: first order (`f / |∇f|`), accurate near the boundary, where it matters.
 */
export function ellipseDistance(e: Ellipse, u: number, v: number): number {
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  const dx = u - e.cx, dy = v - e.cy;
  const x = c * dx + s * dy, y = -s * dx + c * dy;
  const ax = x / (e.rx * e.rx), ay = y / (e.ry * e.ry);
  const f = x * ax + y * ay - 1;
  // First-order distance f / |grad f|: accurate near the boundary, isotropic feathering.
  return f / Math.max(2 * Math.hypot(ax, ay), 1e-9);
}

/** Coverage in [0, 1] of a pixel of side `px` (normalised) by a shape at signed distance `d`. */
export function coverage(d: number, px: number): number {
  const c = 0.5 - d / px;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/**
 * Rasterises an ellipse into a `size × size` weight map (max-combined into `out` when given).
 * `feather` widens the soft edge, in pixels (0 = anti-aliased hard edge).
 */
export function ellipseMask(
  size: number,
  e: Ellipse,
  feather = 0,
  out: Float32Array = new Float32Array(size * size),
): Float32Array {
  const px = (1 + 2 * feather) / size;
  const reach = Math.max(e.rx, e.ry) + px;
  const x0 = Math.max(0, Math.floor((e.cx - reach) * size));
  const x1 = Math.min(size - 1, Math.ceil((e.cx + reach) * size));
  const y0 = Math.max(0, Math.floor((e.cy - reach) * size));
  const y1 = Math.min(size - 1, Math.ceil((e.cy + reach) * size));
  for (let y = y0; y <= y1; y++) {
    const v = (y + 0.5) / size;
    for (let x = x0; x <= x1; x++) {
      const w = coverage(ellipseDistance(e, (x + 0.5) / size, v), px);
      const i = y * size + x;
      if (w > out[i]) out[i] = w;
    }
  }
  return out;
}

/** Separable Gaussian blur of a single-channel `size × size` map (edges clamped); returns a copy. */
export function gaussianBlur(map: Float32Array, size: number, sigma: number): Float32Array {
  if (sigma <= 0) return map.slice();
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
    sum += k[i + radius];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float32Array(size * size);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let j = -radius; j <= radius; j++) {
        const xx = x + j < 0 ? 0 : x + j >= size ? size - 1 : x + j;
        acc += k[j + radius] * map[row + xx];
      }
      tmp[row + x] = acc;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let j = -radius; j <= radius; j++) {
        const yy = y + j < 0 ? 0 : y + j >= size ? size - 1 : y + j;
        acc += k[j + radius] * tmp[yy * size + x];
      }
      out[y * size + x] = acc;
    }
  }
  return out;
}

/** Quantises float values (scaled by `scale`) to bytes with rounding and clamping. */
export function toU8(values: Float32Array, scale = 255): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] * scale);
    out[i] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
  return out;
}

/** Linear interpolation between two colours. */
export function mixRgb(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** Piecewise-linear colour from a palette at `t` in [0, 1]. */
export function paletteAt(palette: readonly Rgb[], t: number): Rgb {
  const x = Math.min(Math.max(t, 0), 1) * (palette.length - 1);
  const i = Math.min(Math.floor(x), palette.length - 2);
  return mixRgb(palette[i], palette[i + 1], x - i);
}

/** An RGB colour from hue (turns), saturation and value, each in [0, 1]. */
export function hsv(h: number, s: number, v: number): Rgb {
  const hh = ((h % 1) + 1) % 1 * 6;
  const i = Math.floor(hh), f = hh - i;
  const p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (i) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}
