/**
 * `Conv2DBackpropFilter` (a convolution's weight gradient) for the tfjs wasm backend, which has
 * none: `dW[kh, kw, ci, co] = Σ_{b, oy, ox} x[b, oy·s + kh − p, ox·s + kw − p, ci] · dy[b, oy, ox, co]`,
 * computed as `dW[M = kh·kw·ci, N = co] = colᵀ[M, K = b·oy·ox] · dy[K, N]`.
 *
 * `colᵀ` (the transposed im2col matrix) is written in JavaScript straight onto the wasm heap, then
 * the stock wasm `BatchMatMul` (XNNPACK) multiplies it by `dy` with neither operand transposed.
 * Long `K` is split into chunks of whole images so the scratch matrix stays within
 * {@linkcode columnBudget}; the chunks' products are summed. NHWC float32 only; dilations other
 * than 1 are rejected with an error.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { nhwcFloat32ConvInfo } from "../conv_info.ts";
import { heapF32, runWasmKernel, type WasmBackendLike } from "./wasm_types.ts";

let colBudget = 8 * 1024 * 1024;

/**
 * Largest scratch im2col matrix of the wasm convolution-gradient kernels, in floats (default 8 Mi
 * = 32 MiB); chunks of whole images are sized to fit, at least one image per chunk.
 */
export function columnBudget(): number {
  return colBudget;
}

/** Sets {@linkcode columnBudget} (an integer >= 1); returns the previous value. */
export function setColumnBudget(floats: number): number {
  if (!Number.isInteger(floats) || floats < 1) {
    throw new Error(`setColumnBudget: expected an integer >= 1, got ${floats}`);
  }
  const prev = colBudget;
  colBudget = floats;
  return prev;
}

/** Images per chunk for `m` columns of `perImage` rows each, within {@linkcode columnBudget}. */
export function imagesPerChunk(batch: number, m: number, perImage: number): number {
  return Math.max(1, Math.min(batch, Math.floor(colBudget / Math.max(1, m * perImage))));
}

/** Conv geometry of a call, validated (NHWC, float32, dilation 1), or an error. */
export function backpropFilterGeometry(
  x: TensorInfo,
  dy: TensorInfo,
  attrs: tf.Conv2DBackpropFilterAttrs & { dilations?: number | [number, number] },
): backend_util.Conv2DInfo {
  if (attrs.dataFormat === "NCHW") {
    throw new Error("wasm Conv2DBackpropFilter: dataFormat NCHW is not supported (use NHWC)");
  }
  const d = attrs.dilations ?? 1;
  if ((typeof d === "number" ? d : Math.max(...d)) !== 1) {
    throw new Error(
      `wasm Conv2DBackpropFilter: dilations ${JSON.stringify(d)} are not supported (only 1)`,
    );
  }
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new Error(
      `wasm Conv2DBackpropFilter: float32 inputs required, got x ${x.dtype}, dy ${dy.dtype}`,
    );
  }
  // NCHW and dtypes were refused above with this kernel's own messages, so this is geometry.
  const info = nhwcFloat32ConvInfo(x.shape, attrs.filterShape, attrs, [x, dy]);
  if (typeof info === "string") throw new Error(`wasm Conv2DBackpropFilter: ${info}`);
  const want = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (dy.shape.join() !== want.join()) {
    throw new Error(
      `wasm Conv2DBackpropFilter: dy shape [${dy.shape}] does not match the conv output [${want}]`,
    );
  }
  return info;
}

/**
 * Writes `colᵀ` for images `b0 … b0 + nb − 1` into `col` (row `m = (kh·fW + kw)·C + c`, column
 * `k = (b·oH + oy)·oW + ox`, zero where the window reads padding). The channel loop sits inside
 * the (image, output row) loops so one input row stays in cache while its channels are spread to
 * their rows.
 */
export function im2colTransposed(
  xv: Float32Array,
  col: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = nb * OH * OW;
  const step = SW * C;
  for (let kh = 0; kh < FH; kh++) {
    for (let kw = 0; kw < FW; kw++) {
      const m0 = (kh * FW + kw) * C;
      // Output columns [lo, hi) read inside the image; the rest read padding.
      const dx0 = kw - left;
      let lo = 0;
      while (lo < OW && lo * SW + dx0 < 0) lo++;
      let hi = OW;
      while (hi > lo && (hi - 1) * SW + dx0 >= W) hi--;
      for (let b = b0; b < b0 + nb; b++) {
        for (let oy = 0; oy < OH; oy++) {
          const k0 = ((b - b0) * OH + oy) * OW;
          const iy = oy * SH + kh - top;
          if (iy < 0 || iy >= H) {
            for (let c = 0; c < C; c++) {
              const o = (m0 + c) * K + k0;
              col.fill(0, o, o + OW);
            }
            continue;
          }
          const row = (b * H + iy) * W * C + (lo * SW + dx0) * C;
          for (let c = 0; c < C; c++) {
            const o = (m0 + c) * K + k0;
            for (let ox = 0; ox < lo; ox++) col[o + ox] = 0;
            for (let ox = lo, i = row + c; ox < hi; ox++, i += step) col[o + ox] = xv[i];
            for (let ox = hi; ox < OW; ox++) col[o + ox] = 0;
          }
        }
      }
    }
  }
}

/** The kernel function (registered for backend `wasm` by `lib/kernels/wasm/register.ts`). */
export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const wb = backend as unknown as WasmBackendLike;
  const info = backpropFilterGeometry(
    x,
    dy,
    attrs as unknown as tf.Conv2DBackpropFilterAttrs,
  );
  const { batchSize: B, outHeight: OH, outWidth: OW, outChannels: N } = info;
  const M = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = OH * OW;
  const chunk = imagesPerChunk(B, M, perImage);
  const out = wb.makeOutput(info.filterShape, "float32");
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const nb = Math.min(chunk, B - b0);
    const K = nb * perImage;
    const col = wb.makeOutput([M, K], "float32");
    // Whole batch: multiply by dy itself; otherwise by a copy of this chunk's rows.
    const dyPart = nb === B ? dy : wb.makeOutput([K, N], "float32");
    im2colTransposed(heapF32(wb, x), heapF32(wb, col), info, b0, nb);
    if (dyPart !== dy) {
      heapF32(wb, dyPart).set(
        heapF32(wb, dy).subarray(b0 * perImage * N, (b0 + nb) * perImage * N),
      );
    }
    const prod = runWasmKernel(wb, "BatchMatMul", { a: col, b: { ...dyPart, shape: [K, N] } }, {
      transposeA: false,
      transposeB: false,
    });
    const pv = heapF32(wb, prod);
    if (b0 === 0) heapF32(wb, out).set(pv);
    else {
      const acc = heapF32(wb, out);
      for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
    }
    wb.disposeData(prod.dataId);
    wb.disposeData(col.dataId);
    if (dyPart !== dy) wb.disposeData(dyPart.dataId);
  }
  return out;
};

/** Kernel config for `tf.registerKernel`. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc: conv2DBackpropFilterWasm,
};
