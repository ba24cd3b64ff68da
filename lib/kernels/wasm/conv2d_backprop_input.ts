/**
 * `Conv2DBackpropInput` (a convolution's input gradient) for the tfjs wasm backend, replacing the
 * stock kernel (a scalar C++ loop, 1–2 GFLOP/s here) by XNNPACK work:
 *
 * - stride 1: a forward convolution of `dy` with the spatially flipped, in/out-swapped filter and
 *   padding `f − 1 − p` on each side, run by the stock wasm `Conv2D` (XNNPACK);
 * - stride > 1: `dcol[K = b·oy·ox, M = kh·kw·ci] = dy[K, N] · Wᵀ[N, M]` by the stock wasm
 *   `BatchMatMul` (XNNPACK), then col2im in JavaScript (each column entry added to the input pixel
 *   it came from), in chunks of whole images.
 *
 * NHWC float32 only; other layouts go to the stock kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { nhwcFloat32ConvInfo } from "../conv_info.ts";
import { imagesPerChunk } from "./conv2d_backprop_filter.ts";
import { heapF32, runWasmKernel, type WasmBackendLike } from "./wasm_types.ts";

/** Conv geometry of a call, or why the kit kernel does not apply. */
export function backpropInputGeometry(
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: tf.Conv2DBackpropInputAttrs,
): backend_util.Conv2DInfo | string {
  return nhwcFloat32ConvInfo(attrs.inputShape, filter.shape, attrs, [dy, filter]);
}

/** `W'[kh, kw, co, ci] = W[FH − 1 − kh, FW − 1 − kw, ci, co]`. */
function flipFilter(w: Float32Array, out: Float32Array, info: backend_util.Conv2DInfo): void {
  const { filterHeight: FH, filterWidth: FW, inChannels: C, outChannels: N } = info;
  for (let kh = 0; kh < FH; kh++) {
    for (let kw = 0; kw < FW; kw++) {
      const src = ((FH - 1 - kh) * FW + (FW - 1 - kw)) * C * N;
      const dst = (kh * FW + kw) * N * C;
      for (let ci = 0; ci < C; ci++) {
        for (let co = 0; co < N; co++) out[dst + co * C + ci] = w[src + ci * N + co];
      }
    }
  }
}

function strideOne(
  wb: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
) {
  const { filterHeight: FH, filterWidth: FW, inChannels: C, outChannels: N } = info;
  const { top, bottom, left, right } = info.padInfo;
  const flipped = wb.makeOutput([FH, FW, N, C], "float32");
  flipFilter(heapF32(wb, filter), heapF32(wb, flipped), info);
  const pad = [[0, 0], [FH - 1 - top, FH - 1 - bottom], [FW - 1 - left, FW - 1 - right], [0, 0]];
  const out = runWasmKernel(wb, "Conv2D", { x: dy, filter: flipped }, {
    strides: [1, 1],
    pad,
    dilations: [1, 1],
    dataFormat: "NHWC",
    dimRoundingMode: undefined,
  } as unknown as tf.NamedAttrMap);
  wb.disposeData(flipped.dataId);
  return out;
}

/**
 * Adds `dcol` rows of images `b0 … b0 + nb − 1` into `dx` (the adjoint of im2col): row
 * `(b − b0)·oH·oW + oy·oW + ox`, column `(kh·fW + kw)·C + c` goes to the input pixel it was read
 * from. Each (row, kh) adds one run of `kw·C` contiguous values.
 */
export function col2imAdd(
  dcol: Float32Array,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = FH * FW * C;
  const run = FW * C;
  for (let b = 0; b < nb; b++) {
    const img = (b0 + b) * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const base = ((b * OH + oy) * OW + ox) * K;
        const ix0 = ox * SW - left;
        const lo = Math.min(FW, Math.max(0, -ix0));
        const hi = Math.max(lo, Math.min(FW, W - ix0));
        if (hi === lo) continue;
        const len = (hi - lo) * C;
        for (let kh = 0; kh < FH; kh++) {
          const iy = oy * SH + kh - top;
          if (iy < 0 || iy >= H) continue;
          const s = base + kh * run + lo * C;
          const d = img + (iy * W + ix0 + lo) * C;
          for (let j = 0; j < len; j++) dx[d + j] += dcol[s + j];
        }
      }
    }
  }
}

function strided(
  wb: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
) {
  const { batchSize: B, outHeight: OH, outWidth: OW, outChannels: N } = info;
  const M = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = OH * OW;
  const chunk = imagesPerChunk(B, M, perImage);
  const wt = wb.makeOutput([N, M], "float32");
  const dx = wb.makeOutput(info.inShape, "float32");
  {
    const w = heapF32(wb, filter);
    const t = heapF32(wb, wt);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) t[n * M + m] = w[m * N + n];
    heapF32(wb, dx).fill(0);
  }
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const nb = Math.min(chunk, B - b0);
    const K = nb * perImage;
    const dyPart = nb === B ? dy : wb.makeOutput([K, N], "float32");
    if (dyPart !== dy) {
      heapF32(wb, dyPart).set(
        heapF32(wb, dy).subarray(b0 * perImage * N, (b0 + nb) * perImage * N),
      );
    }
    const dcol = runWasmKernel(wb, "BatchMatMul", { a: { ...dyPart, shape: [K, N] }, b: wt }, {
      transposeA: false,
      transposeB: false,
    });
    col2imAdd(heapF32(wb, dcol), heapF32(wb, dx), info, b0, nb);
    wb.disposeData(dcol.dataId);
    if (dyPart !== dy) wb.disposeData(dyPart.dataId);
  }
  wb.disposeData(wt.dataId);
  return dx;
}

/** The kit's kernel function around the stock wasm one (kept for what the kit does not do). */
export function makeConv2DBackpropInputWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const info = backpropInputGeometry(
      dy,
      filter,
      args.attrs as unknown as tf.Conv2DBackpropInputAttrs,
    );
    if (typeof info === "string") return stock(args);
    const wb = args.backend as unknown as WasmBackendLike;
    const { top, bottom, left, right } = info.padInfo;
    const stride1 = info.strideHeight === 1 && info.strideWidth === 1;
    // Stride 1 needs non-negative transposed padding (padding below the filter size).
    if (
      stride1 && top < info.filterHeight && bottom < info.filterHeight &&
      left < info.filterWidth && right < info.filterWidth
    ) {
      return strideOne(wb, dy, filter, info);
    }
    return strided(wb, dy, filter, info);
  };
}
