/**
 * Training-mode batch normalisation (NHWC, statistics over batch × height × width) with a fused
 * backward pass.
 *
 * Written with stock ops, `tf.moments` + `tf.batchNorm4d` and their gradients cost about 35
 * dispatches per layer on WebGPU (transposes for the channel reductions, a dozen elementwise ops in
 * tfjs's batch-norm gradient, tiles for the mean's gradient). Here the forward pass is one
 * statistics kernel plus tfjs's batch-norm kernel, and the backward pass is one reduction kernel,
 * one elementwise kernel for dx and one for dγ/dβ:
 *
 *     dx = γ·σ⁻¹·(dy − Σdy/N − (x − μ)·σ⁻²·Σdy(x − μ)/N),  dγ = σ⁻¹·Σdy(x − μ),  dβ = Σdy
 *
 * with the biased batch variance σ² (PyTorch's normalisation). The kernels are registered for the
 * `webgpu` and `cpu` backends ({@linkcode registerBatchNormKernels}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { stockKernelsRequested } from "./stock_switch.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";

/** Kernel names (kit-private; not tfjs kernels). */
export const BN_STATS = "KitBatchNormStats";
/** See {@linkcode BN_STATS}. */
export const BN_BACK_REDUCE = "KitBatchNormBackReduce";
/** See {@linkcode BN_STATS}. */
export const BN_BACK_DX = "KitBatchNormBackDx";
/** See {@linkcode BN_STATS}. */
export const BN_PARAM_GRADS = "KitBatchNormParamGrads";

/** Channels per workgroup and row lanes per channel of the reduction kernels. */
const RED_C = 16;
const RED_LANES = 4;

function channelsOf(x: TensorInfo): { c: number; rows: number } {
  const c = x.shape[x.shape.length - 1];
  return { c, rows: x.shape.reduce((a, b) => a * b, 1) / c };
}

/**
 * A per-channel two-statistic reduction over rows: `out[0, c] = Σ_r f0(r, c)`, `out[1, c] =
 * Σ_r f1(r, c)`. `body` computes `v0`/`v1` for element `i = r·C + c`; it may use `mean` (after a
 * first pass computing `out[0]` when `twoPass`).
 */
class ChannelReduceProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [RED_C * RED_LANES, 1, 1];
  uniforms = "C : i32, R : i32, invN : f32,";
  readonly #code: string;

  constructor(variableNames: string[], c: number, key: string, code: string) {
    this.variableNames = variableNames;
    this.outputShape = [2, c];
    this.shaderKey = `kitBnReduce_${key}`;
    this.dispatch = [Math.ceil(c / RED_C), 1, 1];
    this.#code = code;
  }

  getUserCode(): string {
    return `
var<workgroup> part0 : array<f32, ${RED_C * RED_LANES}>;
var<workgroup> part1 : array<f32, ${RED_C * RED_LANES}>;
fn main(index : i32) {
  let li = i32(localId.x);
  let cl = li % ${RED_C};
  let lane = li / ${RED_C};
  let c = i32(workgroupId.x) * ${RED_C} + cl;
  let ok = c < uniforms.C;
  let cc = min(c, uniforms.C - 1);
  ${this.#code}
  if (lane == 0 && ok) {
    var s0 = 0.0;
    var s1 = 0.0;
    for (var l = 0; l < ${RED_LANES}; l++) {
      s0 += part0[l * ${RED_C} + cl];
      s1 += part1[l * ${RED_C} + cl];
    }
    result[c] = s0 * OUT_SCALE0;
    result[uniforms.C + c] = s1 * OUT_SCALE1;
  }
}
`;
  }
}

/** Statistics: out[0] = mean, out[1] = biased variance (two passes over x, like tf.moments). */
const STATS_CODE = `
  var s = 0.0;
  for (var r = lane; r < uniforms.R; r += ${RED_LANES}) { s += x[r * uniforms.C + cc]; }
  part0[li] = s;
  workgroupBarrier();
  var total = 0.0;
  for (var l = 0; l < ${RED_LANES}; l++) { total += part0[l * ${RED_C} + cl]; }
  let mean = total * uniforms.invN;
  var q = 0.0;
  for (var r = lane; r < uniforms.R; r += ${RED_LANES}) {
    let d = x[r * uniforms.C + cc] - mean;
    q += d * d;
  }
  workgroupBarrier();
  part1[li] = q;
  workgroupBarrier();
  let OUT_SCALE0 = uniforms.invN;
  let OUT_SCALE1 = uniforms.invN;
`;

/** Backward reduction: out[0] = Σdy, out[1] = Σdy·(x − μ). */
const BACK_REDUCE_CODE = `
  let mean = stats[cc];
  var s0 = 0.0;
  var s1 = 0.0;
  for (var r = lane; r < uniforms.R; r += ${RED_LANES}) {
    let i = r * uniforms.C + cc;
    let g = dy[i];
    s0 += g;
    s1 += g * (x[i] - mean);
  }
  part0[li] = s0;
  part1[li] = s1;
  workgroupBarrier();
  let OUT_SCALE0 = 1.0;
  let OUT_SCALE1 = 1.0;
`;

/** Elementwise dx from x, dy, stats [2, C], red [2, C], gamma [C]. */
class BackDxProgram {
  variableNames = ["x", "dy", "stats", "red", "gamma"];
  outputShape: number[];
  shaderKey = "kitBnBackDx";
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = "C : i32, R : i32, invN : f32, eps : f32,";
  size = true;

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    const n = shape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(n / 64), 1, 1];
  }

  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.C;
    let mean = stats[c];
    let inv = inverseSqrt(stats[uniforms.C + c] + uniforms.eps);
    let sdy = red[c] * uniforms.invN;
    let sdyx = red[uniforms.C + c] * uniforms.invN;
    let xm = x[index] - mean;
    result[index] = gamma[c] * inv * (dy[index] - sdy - xm * inv * inv * sdyx);
  }
}
`;
  }
}

/** dγ, dβ as [2, C] from stats and red. */
class ParamGradsProgram {
  variableNames = ["stats", "red"];
  outputShape: number[];
  shaderKey = "kitBnParamGrads";
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = "C : i32, eps : f32,";
  size = true;

  constructor(c: number) {
    this.outputShape = [2, c];
    this.dispatch = [Math.ceil((2 * c) / 64), 1, 1];
  }

  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.C;
    if (index < uniforms.C) {
      result[index] = red[uniforms.C + c] * inverseSqrt(stats[uniforms.C + c] + uniforms.eps);
    } else {
      result[index] = red[c];
    }
  }
}
`;
  }
}

type U = { type: "int32" | "float32"; data: number[] };
const i32 = (v: number): U => ({ type: "int32", data: [v] });
const f32 = (v: number): U => ({ type: "float32", data: [v] });

/** The kit's batch-norm kernels for the webgpu backend. */
export const WEBGPU_BN_KERNELS: KernelConfig[] = [
  {
    kernelName: BN_STATS,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: TensorInfo };
      const { c, rows } = channelsOf(x);
      const p = new ChannelReduceProgram(["x"], c, "stats", STATS_CODE);
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(p, [x], "float32", [
        i32(c),
        i32(rows),
        f32(1 / rows),
      ]);
    },
  },
  {
    kernelName: BN_BACK_REDUCE,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { x, dy, stats } = inputs as { x: TensorInfo; dy: TensorInfo; stats: TensorInfo };
      const { c, rows } = channelsOf(x);
      const p = new ChannelReduceProgram(["x", "dy", "stats"], c, "back", BACK_REDUCE_CODE);
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [x, dy, stats],
        "float32",
        [i32(c), i32(rows), f32(1 / rows)],
      );
    },
  },
  {
    kernelName: BN_BACK_DX,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy, stats, red, gamma } = inputs as Record<string, TensorInfo>;
      const { c, rows } = channelsOf(x);
      const p = new BackDxProgram(x.shape);
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [x, dy, stats, red, gamma],
        "float32",
        [i32(c), i32(rows), f32(1 / rows), f32((attrs as { eps: number }).eps)],
      );
    },
  },
  {
    kernelName: BN_PARAM_GRADS,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { stats, red } = inputs as Record<string, TensorInfo>;
      const c = stats.shape[1];
      const p = new ParamGradsProgram(c);
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [stats, red],
        "float32",
        [i32(c), f32((attrs as { eps: number }).eps)],
      );
    },
  },
];

interface CpuBackendLike {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo;
}

function cpuValues(backend: unknown, t: TensorInfo): Float32Array {
  return (backend as CpuBackendLike).data.get(t.dataId).values;
}

/** The same kernels for the cpu backend (plain loops; float64 accumulation). */
export const CPU_BN_KERNELS: KernelConfig[] = [
  {
    kernelName: BN_STATS,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: TensorInfo };
      const { c, rows } = channelsOf(x);
      const xv = cpuValues(backend, x);
      const out = new Float32Array(2 * c);
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += xv[r * c + ch];
        const mean = s / rows;
        let q = 0;
        for (let r = 0; r < rows; r++) q += (xv[r * c + ch] - mean) ** 2;
        out[ch] = mean;
        out[c + ch] = q / rows;
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo([2, c], "float32", out);
    },
  },
  {
    kernelName: BN_BACK_REDUCE,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend }) => {
      const { x, dy, stats } = inputs as { x: TensorInfo; dy: TensorInfo; stats: TensorInfo };
      const { c, rows } = channelsOf(x);
      const [xv, gv, sv] = [x, dy, stats].map((t) => cpuValues(backend, t));
      const out = new Float32Array(2 * c);
      for (let ch = 0; ch < c; ch++) {
        let s0 = 0;
        let s1 = 0;
        for (let r = 0; r < rows; r++) {
          const i = r * c + ch;
          s0 += gv[i];
          s1 += gv[i] * (xv[i] - sv[ch]);
        }
        out[ch] = s0;
        out[c + ch] = s1;
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo([2, c], "float32", out);
    },
  },
  {
    kernelName: BN_BACK_DX,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy, stats, red, gamma } = inputs as Record<string, TensorInfo>;
      const { c, rows } = channelsOf(x);
      const eps = (attrs as { eps: number }).eps;
      const [xv, gv, sv, rv, wv] = [x, dy, stats, red, gamma].map((t) => cpuValues(backend, t));
      const out = new Float32Array(xv.length);
      for (let i = 0; i < xv.length; i++) {
        const ch = i % c;
        const inv = 1 / Math.sqrt(sv[c + ch] + eps);
        out[i] = wv[ch] * inv *
          (gv[i] - rv[ch] / rows - (xv[i] - sv[ch]) * inv * inv * rv[c + ch] / rows);
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo(x.shape, "float32", out);
    },
  },
  {
    kernelName: BN_PARAM_GRADS,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { stats, red } = inputs as Record<string, TensorInfo>;
      const c = stats.shape[1];
      const eps = (attrs as { eps: number }).eps;
      const [sv, rv] = [stats, red].map((t) => cpuValues(backend, t));
      const out = new Float32Array(2 * c);
      for (let ch = 0; ch < c; ch++) {
        out[ch] = rv[c + ch] / Math.sqrt(sv[c + ch] + eps);
        out[c + ch] = rv[ch];
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo([2, c], "float32", out);
    },
  },
];

/** Registers the batch-norm kernels on webgpu and cpu (idempotent). */
export function registerBatchNormKernels(): void {
  for (const k of [...WEBGPU_BN_KERNELS, ...CPU_BN_KERNELS]) {
    if (!tf.getKernel(k.kernelName, k.backendName)) tf.registerKernel(k);
  }
}

/**
 * True when {@linkcode batchNormTrain} serves the current backend (webgpu or cpu) and
 * `CYBORG_STOCK_KERNELS=1` does not ask for tfjs's own ops.
 */
export function batchNormTrainSupported(): boolean {
  const b = tf.getBackend();
  return (b === "webgpu" || b === "cpu") && !stockKernelsRequested();
}

/** Output of {@linkcode batchNormTrain}. */
export interface BatchNormTrainOutput {
  /** Normalised, scaled and shifted x. */
  y: tf.Tensor4D;
  /** Batch mean per channel. */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel. */
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch norm with the fused backward pass. Differentiable with respect to `x`,
 * `gamma` and `beta` (not through `mean` / `variance`, which are for the running statistics).
 * Works on the webgpu and cpu backends.
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): BatchNormTrainOutput {
  registerBatchNormKernels();
  const c = x.shape[3];
  let stats: tf.Tensor2D | undefined;
  const f = tf.customGrad((xi, gi, bi, save) => {
    const [xx, g, b] = [xi, gi, bi] as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const s = tf.engine().runKernel(BN_STATS, { x: xx }) as tf.Tensor2D;
    const mean = tf.reshape(tf.slice(s, [0, 0], [1, c]), [c]) as tf.Tensor1D;
    const variance = tf.reshape(tf.slice(s, [1, 0], [1, c]), [c]) as tf.Tensor1D;
    const y = tf.batchNorm4d(xx, mean, variance, b, g, eps);
    stats = tf.keep(s);
    (save as tf.GradSaveFunc)([xx, s, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, ss, sg] = saved;
        const d = Array.isArray(dy) ? dy[0] : dy;
        const red = tf.engine().runKernel(BN_BACK_REDUCE, { x: sx, dy: d, stats: ss }) as tf.Tensor;
        const dx = tf.engine().runKernel(
          BN_BACK_DX,
          { x: sx, dy: d, stats: ss, red, gamma: sg },
          { eps },
        ) as tf.Tensor;
        const pg = tf.engine().runKernel(BN_PARAM_GRADS, { stats: ss, red }, { eps }) as tf.Tensor;
        const dGamma = tf.reshape(tf.slice(pg, [0, 0], [1, c]), [c]);
        const dBeta = tf.reshape(tf.slice(pg, [1, 0], [1, c]), [c]);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = f(x, gamma, beta) as tf.Tensor4D;
  const s = stats!;
  const mean = tf.reshape(tf.slice(s, [0, 0], [1, c]), [c]) as tf.Tensor1D;
  const variance = tf.reshape(tf.slice(s, [1, 0], [1, c]), [c]) as tf.Tensor1D;
  s.dispose();
  return { y, mean, variance };
}
