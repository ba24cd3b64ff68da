/**
 * `Conv2DBackpropInput` (the input gradient of a convolution, NHWC) for the WebGPU backend as a
 * tiled implicit GEMM, at stride 1:
 * `dx[b, y, x, ci] = Σ_{kh, kw, co} dy[b, y + p − kh, x + p − kw, co] · w[kh, kw, ci, co]`,
 * i.e. `C[M = b·h·w, N = ci] = A[M, K = kh·kw·co] · B[K, N]` with A a shifted view of `dy` and
 * `B[(kh, kw, co), ci] = w[kh, kw, ci, co]`.
 *
 * Served from `kitTuning().dxMinM` rows M up (`tuning.ts`: 64 on llvmpipe, where it is 10–25 %
 * faster than tfjs's kernel there and slower below; off on real GPUs until measured). Strides
 * above 1 go to tfjs's stock kernel: most of the taps of a strided input gradient fall between
 * output pixels, so a GEMM over all of them would mostly multiply zeros. NCHW and non-float32
 * inputs go there too.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { nhwcFloat32ConvInfo } from "./conv_info.ts";
import { type ConvGemm, convGemm, MAX_FDIV_INDEX, runGemm } from "./implicit_gemm.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";
import { kitTuning } from "./tuning.ts";

const LOADERS = `
struct RowA { b : i32, y0 : i32, x0 : i32 }
fn rowA(m : i32) -> RowA {
  let t = m / uniforms.inW;
  let x = m - t * uniforms.inW;
  let b = t / uniforms.inH;
  let y = t - b * uniforms.inH;
  return RowA(b, y + uniforms.padT, x + uniforms.padL);
}
fn loadA(r : RowA, k : i32) -> f32 {
  let t = fdiv(k, uniforms.outC);
  let co = k - t * uniforms.outC;
  let kh = fdiv(t, uniforms.fW);
  let kw = t - kh * uniforms.fW;
  let oy = r.y0 - kh;
  let ox = r.x0 - kw;
  if (oy < 0 || oy >= uniforms.outH || ox < 0 || ox >= uniforms.outW) { return 0.0; }
  return dy[((r.b * uniforms.outH + oy) * uniforms.outW + ox) * uniforms.outC + co];
}
struct ColB { n : i32 }
fn colB(n : i32) -> ColB { return ColB(n); }
fn loadB(c : ColB, k : i32) -> f32 {
  let t = fdiv(k, uniforms.outC);
  let co = k - t * uniforms.outC;
  return w[(t * uniforms.inC + c.n) * uniforms.outC + co];
}
`;

/** Conv geometry of a `Conv2DBackpropInput` call, or a reason the kit kernel does not apply. */
export function backpropInputInfo(
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: tf.Conv2DBackpropInputAttrs,
): backend_util.Conv2DInfo | string {
  const info = nhwcFloat32ConvInfo(attrs.inputShape, filter.shape, attrs, [dy, filter]);
  if (typeof info === "string") return info;
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return "stride > 1 (mostly zero taps)";
  if (info.batchSize * info.inHeight * info.inWidth < kitTuning().dxMinM) {
    return "few rows (stock is faster)";
  }
  if (info.filterHeight * info.filterWidth * info.outChannels >= MAX_FDIV_INDEX) {
    return "K too large";
  }
  return info;
}

/** Builds the GEMM program and its uniforms for one input-gradient call. */
export function backpropInputProgram(info: backend_util.Conv2DInfo): ConvGemm {
  return convGemm(info, {
    variableNames: ["dy", "w"],
    outputShape: info.inShape,
    loaders: LOADERS,
    aContiguous: kitTuning().coalesce ? "k" : "m", // im2col rows: channels along K
    bContiguous: kitTuning().coalesce ? "k" : "n", // w[kh, kw, ci, co]: co along K
    key: "convDerInput",
    m: info.batchSize * info.inHeight * info.inWidth,
    n: info.inChannels,
    k: info.filterHeight * info.filterWidth * info.outChannels,
  });
}

/** Makes the kit's kernel function around tfjs's stock one (the fallback). */
export function makeConv2DBackpropInput(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const info = backpropInputInfo(dy, filter, attrs);
    if (typeof info === "string") return stock(args);
    const backend = args.backend as unknown as WebGpuBackendLike;
    return runGemm(backend, backpropInputProgram(info), [dy, filter]);
  };
}
