/**
 * `Conv2DBackpropFilter` (the weight gradient of a convolution) for the WebGPU backend as a tiled
 * implicit GEMM: `dW[kh, kw, ci, co] = Σ_{b, oy, ox} x[b, oy·s + kh − p, ox·s + kw − p, ci] ·
 * dy[b, oy, ox, co]`, i.e. `C[M = kh·kw·ci, N = co] = im2col(x)ᵀ[M, K = b·oy·ox] · dy[K, N]`.
 *
 * tfjs's stock kernel runs one invocation per filter element, each looping over batch × H × W;
 * on llvmpipe it is the single most expensive kernel of a training step. Layouts other than NHWC
 * float32 fall back to the stock kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { nhwcFloat32ConvInfo } from "./conv_info.ts";
import { type ConvGemm, convGemm, MAX_FDIV_INDEX, runGemm } from "./implicit_gemm.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";

const LOADERS = `
struct RowA { ci : i32, dy0 : i32, dx0 : i32 }
fn rowA(m : i32) -> RowA {
  let t = m / uniforms.inC;
  let kw = t % uniforms.fW;
  let kh = t / uniforms.fW;
  return RowA(m % uniforms.inC, kh - uniforms.padT, kw - uniforms.padL);
}
fn loadA(r : RowA, k : i32) -> f32 {
  let t = fdiv(k, uniforms.outW);
  let ox = k - t * uniforms.outW;
  let b = fdiv(t, uniforms.outH);
  let oy = t - b * uniforms.outH;
  let iy = oy * uniforms.strideH + r.dy0;
  let ix = ox * uniforms.strideW + r.dx0;
  if (iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
  return x[((b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC + r.ci];
}
struct ColB { n : i32 }
fn colB(n : i32) -> ColB { return ColB(n); }
fn loadB(c : ColB, k : i32) -> f32 {
  return dy[k * uniforms.N + c.n];
}
`;

/** Conv geometry of a `Conv2DBackpropFilter` call, or a reason the kit kernel does not apply. */
export function backpropFilterInfo(
  x: TensorInfo,
  dy: TensorInfo,
  attrs: tf.Conv2DBackpropFilterAttrs,
): backend_util.Conv2DInfo | string {
  const info = nhwcFloat32ConvInfo(x.shape, attrs.filterShape, attrs, [x, dy]);
  if (typeof info === "string") return info;
  if (info.batchSize * info.outHeight * info.outWidth >= MAX_FDIV_INDEX) return "K too large";
  return info;
}

/** Builds the GEMM program and its uniforms for one weight-gradient call. */
export function backpropFilterProgram(info: backend_util.Conv2DInfo): ConvGemm {
  return convGemm(info, {
    variableNames: ["x", "dy"],
    outputShape: info.filterShape,
    loaders: LOADERS,
    key: "convDerFilter",
    m: info.filterHeight * info.filterWidth * info.inChannels,
    n: info.outChannels,
    k: info.batchSize * info.outHeight * info.outWidth,
  });
}

/**
 * Makes the kit's kernel function; `stock` (tfjs's own kernel) handles what the kit's does not.
 */
export function makeConv2DBackpropFilter(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const info = backpropFilterInfo(x, dy, attrs);
    if (typeof info === "string") return stock(args);
    const backend = args.backend as unknown as WebGpuBackendLike;
    return runGemm(backend, backpropFilterProgram(info), [x, dy]);
  };
}
