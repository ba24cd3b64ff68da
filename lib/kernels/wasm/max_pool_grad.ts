/**
 * `MaxPoolGrad` for the tfjs wasm backend, replacing the stock kernel (about 20× slower than the
 * forward pool here): each output gradient is added to the input pixel that won its window — the
 * first maximum in row-major window order, padding never winning (a window of only −∞ passes
 * nothing) — as tfjs's cpu backend does.
 * NHWC float32; anything else goes to the stock kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "./wasm_types.ts";

/** A `MaxPoolGrad` call the kit's kernels serve: its window, backend, tensors and output. */
export interface MaxPoolGradCall {
  info: tf.backend_util.Conv2DInfo;
  wb: WasmBackendLike;
  input: TensorInfo;
  dy: TensorInfo;
  out: TensorInfo;
}

/**
 * The window and a fresh output of a float32 NHWC `MaxPoolGrad` call on the wasm backend; `null`
 * for anything else (the stock kernel's).
 */
export function maxPoolGradCall(args: Parameters<KernelFunc>[0]): MaxPoolGradCall | null {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  if (dy.dtype !== "float32" || input.dtype !== "float32" || input.shape.length !== 4) {
    return null;
  }
  const a = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const wb = args.backend as unknown as WasmBackendLike;
  return { info, wb, input, dy, out: wb.makeOutput(input.shape, "float32") };
}

/** Makes the kit's kernel function around the stock wasm one. */
export function makeMaxPoolGradWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const call = maxPoolGradCall(args);
    if (!call) return stock(args);
    const { info, wb, input, dy, out } = call;
    const dx = heapF32(wb, out);
    const xv = heapF32(wb, input);
    const gv = heapF32(wb, dy);
    dx.fill(0);
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C } = info;
    const { outHeight: OH, outWidth: OW, strideHeight: SH, strideWidth: SW } = info;
    const { effectiveFilterHeight: FH, effectiveFilterWidth: FW } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    // Channels innermost (contiguous): the best value and index per channel of one window.
    const best = new Float32Array(C);
    const at = new Int32Array(C);
    let g = 0;
    for (let b = 0; b < B; b++) {
      const xb = b * H * W * C;
      for (let oy = 0; oy < OH; oy++) {
        const y0 = oy * SH - top;
        const yStart = Math.max(0, y0);
        const yEnd = Math.min(H, y0 + FH);
        for (let ox = 0; ox < OW; ox++, g += C) {
          const x0 = ox * SW - left;
          const xStart = Math.max(0, x0);
          const xEnd = Math.min(W, x0 + FW);
          best.fill(-Infinity);
          at.fill(-1);
          for (let iy = yStart; iy < yEnd; iy++) {
            for (let ix = xStart; ix < xEnd; ix++) {
              const i0 = xb + (iy * W + ix) * C;
              for (let c = 0; c < C; c++) {
                const v = xv[i0 + c];
                if (v > best[c]) {
                  best[c] = v;
                  at[c] = i0 + c;
                }
              }
            }
          }
          for (let c = 0; c < C; c++) if (at[c] >= 0) dx[at[c]] += gv[g + c];
        }
      }
    }
    return out;
  };
}
