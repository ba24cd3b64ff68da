/**
 * Pillow's bilinear resampling (the "antialiased" filter behind `Image.resize(size,
 * Image.BILINEAR)` and hence torchvision's `Resize([s, s])` on PIL images), ported from Pillow's
 * `libImaging/Resample.c` (Pillow 9.4, the version our fixtures come from; the algorithm has been
 * unchanged since Pillow 4.2).
 *
 * The algorithm, reproduced step for step so results are bit-identical to Pillow on uint8 data:
 *
 * 1. Per axis, a triangle filter of support `1 · max(1, in/out)` (so downscaling averages over the
 *    whole footprint: that is the antialiasing), centred at `(i + 0.5) · in/out`; the taps
 *    `[xmin, xmin + n)` are rounded as Pillow does (`(int)(center ± support + 0.5)`), the weights
 *    are computed in float64 and normalised to sum 1.
 * 2. The weights become fixed point with 22 fractional bits (`PRECISION_BITS = 32 - 8 - 2`),
 *    rounding half away from zero.
 * 3. Two separable passes, horizontal first (only over the source rows the vertical pass reads),
 *    then vertical. Each output sample is `clip8((1 << 21) + Σ pixel · weight)`, i.e. rounded to
 *    nearest and clamped to 0..255, so the intermediate image is uint8 exactly as in Pillow.
 * 4. An axis whose size does not change is not resampled (Pillow skips that pass).
 *
 * Since everything after step 1 is integer arithmetic (exact in float64 here) and step 1 uses the
 * same float64 operations in the same order, the output equals Pillow's byte for byte; the
 * fixture test (tests/data/resize_test.ts) asserts exact equality.
 *
 * @module
 */

/** Fixed-point precision of Pillow's 8-bit resampling coefficients. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
/** `clip8` saturates at 255 when the accumulator reaches `256 << PRECISION_BITS`. */
const SATURATE = ONE * 256;

/** Integer filter taps for one axis: per output index, first source index, count, weights. */
export interface AxisCoefficients {
  /** Taps per output sample (the stride of `weights`). */
  ksize: number;
  /** [out] first source index of each output sample. */
  start: Int32Array;
  /** [out] number of taps actually used by each output sample. */
  count: Int32Array;
  /** [out · ksize] fixed-point weights (22 fractional bits). */
  weights: Int32Array;
}

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter, resampling
 * `inSize` source samples to `outSize` (whole-image box).
 */
export function bilinearCoefficients(inSize: number, outSize: number): AxisCoefficients {
  if (!Number.isInteger(inSize) || inSize < 1 || !Number.isInteger(outSize) || outSize < 1) {
    throw new Error(`resize: sizes must be positive integers (got ${inSize} -> ${outSize})`);
  }
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

function clip8(v: number): number {
  if (v >= SATURATE) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS; // v < 2^30 here, so the int32 shift is exact
}

/**
 * Resizes an interleaved uint8 image (`channels` samples per pixel, row-major, no padding) to
 * `outWidth × outHeight` exactly as Pillow's `Image.resize((outWidth, outHeight), BILINEAR)` does
 * (see the module doc). Returns a new array; the input is untouched. Same size returns a copy.
 */
export function resizeBilinearPil(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(`resize: channels must be a positive integer (got ${channels})`);
  }
  for (
    const [name, v] of [["width", width], ["height", height], ["outWidth", outWidth], [
      "outHeight",
      outHeight,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`resize: ${name} must be a positive integer (got ${v})`);
    }
  }
  if (src.length !== width * height * channels) {
    throw new Error(
      `resize: pixel buffer has ${src.length} bytes, expected ${width}×${height}×${channels} = ` +
        `${width * height * channels}`,
    );
  }
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  if (!needH && !needV) return src.slice();

  let img = src;
  let rows = height;
  let vert: AxisCoefficients | undefined;
  let rowOffset = 0;
  if (needV) {
    vert = bilinearCoefficients(height, outHeight);
    // The horizontal pass only needs the source rows the vertical pass reads.
    rowOffset = vert.start[0];
    const last = vert.start[outHeight - 1] + vert.count[outHeight - 1];
    rows = last - rowOffset;
  }
  if (needH) {
    const hc = bilinearCoefficients(width, outWidth);
    const out = new Uint8Array(outWidth * rows * channels);
    const { ksize, start, count, weights } = hc;
    for (let y = 0; y < rows; y++) {
      const rowIn = (y + rowOffset) * width * channels;
      const rowOut = y * outWidth * channels;
      for (let xx = 0; xx < outWidth; xx++) {
        const n = count[xx];
        const kOff = xx * ksize;
        let p = rowIn + start[xx] * channels;
        const o = rowOut + xx * channels;
        if (channels === 3) {
          // The common case, unrolled over channels (same sums, fewer loop overheads).
          let s0 = HALF, s1 = HALF, s2 = HALF;
          for (let x = 0; x < n; x++, p += 3) {
            const k = weights[kOff + x];
            s0 += img[p] * k;
            s1 += img[p + 1] * k;
            s2 += img[p + 2] * k;
          }
          out[o] = clip8(s0);
          out[o + 1] = clip8(s1);
          out[o + 2] = clip8(s2);
        } else {
          for (let c = 0; c < channels; c++) {
            let ss = HALF;
            for (let x = 0, q = p + c; x < n; x++, q += channels) ss += img[q] * weights[kOff + x];
            out[o + c] = clip8(ss);
          }
        }
      }
    }
    img = out;
  }
  if (!needV) return img;

  const w = outWidth;
  const out = new Uint8Array(w * outHeight * channels);
  const { ksize, start, count, weights } = vert!;
  // When the horizontal pass ran, `img` starts at source row `vert.start[0]`.
  const base = needH ? rowOffset : 0;
  const stride = w * channels;
  // Row-wise accumulation (same per-sample sums as Pillow's loop, in cache-friendly order).
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = start[yy] - base;
    const n = count[yy];
    const kOff = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const k = weights[kOff + y];
      const row = (ymin + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] += img[row + i] * k;
    }
    const rowOut = yy * stride;
    for (let i = 0; i < stride; i++) out[rowOut + i] = clip8(acc[i]);
  }
  return out;
}
