/**
 * `Conv2D` (forward convolution, NHWC) for the WebGPU backend as a tiled implicit GEMM:
 * `y[b, oy, ox, co] = Σ_{kh, kw, ci} x[b, oy·s + kh − p, ox·s + kw − p, ci] · w[kh, kw, ci, co]`,
 * i.e. `C[M = b·oy·ox, N = co] = im2col(x)[M, K = kh·kw·ci] · w[K, N]`.
 *
 * Serves outputs with at most `kitTuning().conv2dMaxM` rows M (batch × output pixels; see
 * `tuning.ts`), at any stride. On llvmpipe that is every size: measured on ResNet50 at 64 px,
 * batch 4, it is 3–10× faster than tfjs's stock `Conv2DMMProgram` on the small outputs of the deep
 * layers, where the stock tile leaves most invocations idle, 5–6× on the stride-2 layers of the
 * last stage (139 → 25 ms for the 3×3 512→512, 129 → 21 ms for the 1×1 1024→2048 projection), and
 * 1.0–1.5× on large outputs (the 7×7 stem at 224 px, batch 16: 869 vs 1319 ms). On real GPUs
 * only small outputs until measured. Dilations, NCHW and non-float32 inputs use the stock kernel.
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
struct RowA { b : i32, iy0 : i32, ix0 : i32 }
fn rowA(m : i32) -> RowA {
  let t = m / uniforms.outW;
  let ox = m - t * uniforms.outW;
  let b = t / uniforms.outH;
  let oy = t - b * uniforms.outH;
  return RowA(b, oy * uniforms.strideH - uniforms.padT, ox * uniforms.strideW - uniforms.padL);
}
fn loadA(r : RowA, k : i32) -> f32 {
  let t = fdiv(k, uniforms.inC);
  let ci = k - t * uniforms.inC;
  let kh = fdiv(t, uniforms.fW);
  let kw = t - kh * uniforms.fW;
  let iy = r.iy0 + kh;
  let ix = r.ix0 + kw;
  if (iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
  return x[((r.b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC + ci];
}
struct ColB { n : i32 }
fn colB(n : i32) -> ColB { return ColB(n); }
fn loadB(c : ColB, k : i32) -> f32 {
  return w[k * uniforms.N + c.n];
}
`;

/** Conv geometry of a `Conv2D` call, or a reason the kit kernel does not apply. */
export function conv2dInfo(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: tf.Conv2DAttrs,
): backend_util.Conv2DInfo | string {
  const d = attrs.dilations ?? 1;
  if (!(d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1))) return "dilations";
  const info = nhwcFloat32ConvInfo(x.shape, filter.shape, attrs, [x, filter]);
  if (typeof info === "string") return info;
  if (info.filterHeight * info.filterWidth * info.inChannels >= MAX_FDIV_INDEX) {
    return "K too large";
  }
  if (info.batchSize * info.outHeight * info.outWidth > kitTuning().conv2dMaxM) {
    return "large output (stock is faster)";
  }
  return info;
}

/** Builds the GEMM program and its uniforms for one forward convolution. */
export function conv2dProgram(info: backend_util.Conv2DInfo): ConvGemm {
  return convGemm(info, {
    variableNames: ["x", "w"],
    outputShape: info.outShape,
    loaders: LOADERS,
    aContiguous: kitTuning().coalesce ? "k" : "m", // im2col rows: channels along K
    key: "conv2d",
    m: info.batchSize * info.outHeight * info.outWidth,
    n: info.outChannels,
    k: info.filterHeight * info.filterWidth * info.inChannels,
  });
}

/** Makes the kit's `Conv2D` kernel function around tfjs's stock one (the fallback). */
export function makeConv2D(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DAttrs;
    const info = conv2dInfo(x, filter, attrs);
    if (typeof info === "string") return stock(args);
    const backend = args.backend as unknown as WebGpuBackendLike;
    return runGemm(backend, conv2dProgram(info), [x, filter]);
  };
}
