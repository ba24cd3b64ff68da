/**
 * The depthwise-convolution gradients for the tfjs wasm backend, which has neither
 * (`DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`; Xception needs
 * them). Plain JavaScript on the wasm heap, NHWC float32, any channel multiplier `q`, strides,
 * explicit / same / valid padding and dilations:
 *
 *     dW[kh, kw, c, q] = Σ_{b, oy, ox} x[b, oy·s + kh·d − p, ox·s + kw·d − p, c] · dy[b, oy, ox, c·Q + q]
 *     dx[b, iy, ix, c] = Σ_{oy, ox, kh, kw, q} dy[b, oy, ox, c·Q + q] · W[kh, kw, c, q]   (same taps)
 *
 * The loops run over output pixels and filter taps with the channel innermost (contiguous).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "./wasm_types.ts";

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: "valid" | "same" | number | backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

function geometry(
  xShape: number[],
  filterShape: number[],
  a: DepthwiseAttrs,
  kernel: string,
  tensors: TensorInfo[],
): backend_util.Conv2DInfo {
  if (tensors.some((t) => t.dtype !== "float32")) {
    throw new Error(`wasm ${kernel}: float32 inputs required`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    true,
    "channelsLast",
  );
}

/**
 * Calls `tap(xIndex, dyIndex, filterIndex)` for every (output pixel, filter tap) pair that reads
 * the input (not padding), with the channel-0 indices; channels follow contiguously.
 */
function forEachTap(
  info: backend_util.Conv2DInfo,
  tap: (xi: number, gi: number, wi: number) => void,
): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } =
    info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const { dilationHeight: DH, dilationWidth: DW, outChannels: N } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  let gi = 0;
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++, gi += N) {
        for (let kh = 0; kh < FH; kh++) {
          const iy = oy * SH + kh * DH - top;
          if (iy < 0 || iy >= H) continue;
          for (let kw = 0; kw < FW; kw++) {
            const ix = ox * SW + kw * DW - left;
            if (ix < 0 || ix >= W) continue;
            tap(((b * H + iy) * W + ix) * C, gi, (kh * FW + kw) * N);
          }
        }
      }
    }
  }
}

/** `DepthwiseConv2dNativeBackpropFilter` on wasm. */
export const depthwiseBackpropFilterWasmConfig: KernelConfig = {
  kernelName: "DepthwiseConv2dNativeBackpropFilter",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const wb = backend as unknown as WasmBackendLike;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as DepthwiseAttrs & { filterShape: number[] };
    const info = geometry(x.shape, a.filterShape, a, "DepthwiseConv2dNativeBackpropFilter", [
      x,
      dy,
    ]);
    const out = wb.makeOutput(a.filterShape, "float32");
    const [xv, gv, dw] = [x, dy, out].map((t) => heapF32(wb, t));
    dw.fill(0);
    const C = info.inChannels;
    const Q = info.outChannels / C;
    forEachTap(info, (xi, gi, wi) => {
      if (Q === 1) {
        for (let c = 0; c < C; c++) dw[wi + c] += xv[xi + c] * gv[gi + c];
      } else {
        for (let c = 0, n = 0; c < C; c++) {
          const v = xv[xi + c];
          for (let q = 0; q < Q; q++, n++) dw[wi + n] += v * gv[gi + n];
        }
      }
    });
    return out;
  },
};

/** `DepthwiseConv2dNativeBackpropInput` on wasm. */
export const depthwiseBackpropInputWasmConfig: KernelConfig = {
  kernelName: "DepthwiseConv2dNativeBackpropInput",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const wb = backend as unknown as WasmBackendLike;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as DepthwiseAttrs & { inputShape: number[] };
    const info = geometry(a.inputShape, filter.shape, a, "DepthwiseConv2dNativeBackpropInput", [
      dy,
      filter,
    ]);
    const out = wb.makeOutput(a.inputShape, "float32");
    const [gv, wv, dx] = [dy, filter, out].map((t) => heapF32(wb, t));
    dx.fill(0);
    const C = info.inChannels;
    const Q = info.outChannels / C;
    forEachTap(info, (xi, gi, wi) => {
      if (Q === 1) {
        for (let c = 0; c < C; c++) dx[xi + c] += gv[gi + c] * wv[wi + c];
      } else {
        for (let c = 0, n = 0; c < C; c++) {
          let s = 0;
          for (let q = 0; q < Q; q++, n++) s += gv[gi + n] * wv[wi + n];
          dx[xi + c] += s;
        }
      }
    });
    return out;
  },
};
