/**
 * Training-mode batch normalisation (NHWC, statistics over batch × height × width) with a fused
 * backward pass.
 *
 * Written with stock ops, `tf.moments` + `tf.batchNorm4d` and their gradients cost about 35
 * dispatches per layer on WebGPU (transposes for the channel reductions, a dozen elementwise ops in
 * tfjs's batch-norm gradient, tiles for the mean's gradient). Here the forward pass is one
 * statistics kernel and one normalising kernel, the backward pass one reduction kernel, one
 * elementwise kernel for dx, one for dγ and a slice for dβ, and each running statistic is updated
 * by one kernel straight from the statistics ({@linkcode batchNormRunningUpdate}):
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
import { ElementwiseProgram } from "./elementwise.ts";
import { stockKernelsRequested } from "./stock_switch.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";

/** Kernel names (kit-private; not tfjs kernels). */
export const BN_STATS = "KitBatchNormStats";
/** See {@linkcode BN_STATS}. */
export const BN_BACK_REDUCE = "KitBatchNormBackReduce";
/** See {@linkcode BN_STATS}. */
export const BN_BACK_DX = "KitBatchNormBackDx";
/** See {@linkcode BN_STATS}. */
export const BN_DGAMMA = "KitBatchNormDGamma";
/** See {@linkcode BN_STATS}. */
export const BN_APPLY = "KitBatchNormApply";
/** See {@linkcode BN_STATS}. */
export const BN_RUNNING = "KitBatchNormRunning";
/**
 * Optional fused kernels, `[y, stats] = f(x, gamma, beta)` and `[dx, red] = f(x, dy, stats, gamma)`
 * (`red` as {@linkcode BN_BACK_REDUCE}'s): where a backend registers them (wasm with oneDNN,
 * lib/kernels/native/), {@linkcode batchNormTrain} runs one kernel per pass instead of two.
 */
export const BN_FORWARD = "KitBatchNormForward";
/** See {@linkcode BN_FORWARD}. */
export const BN_BACKWARD = "KitBatchNormBackward";

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

interface RunningAttrs {
  row: number;
  keep: number;
  take: number;
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
    kernelName: BN_DGAMMA,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { stats, red } = inputs as Record<string, TensorInfo>;
      const c = stats.shape[1];
      const p = new ElementwiseProgram(
        "bnDGamma",
        ["stats", "red"],
        [c],
        "C : i32, eps : f32,",
        "let value = red[uniforms.C + index] * inverseSqrt(stats[uniforms.C + index] + uniforms.eps);",
      );
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [stats, red],
        "float32",
        [i32(c), f32((attrs as { eps: number }).eps)],
      );
    },
  },
  {
    kernelName: BN_APPLY,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, stats, gamma, beta } = inputs as Record<string, TensorInfo>;
      const { c } = channelsOf(x);
      const p = new ElementwiseProgram(
        "bnApply",
        ["x", "stats", "gamma", "beta"],
        x.shape,
        "C : i32, eps : f32,",
        "let c = index % uniforms.C;\n" +
          "    let value = (x[index] - stats[c]) * inverseSqrt(stats[uniforms.C + c] + uniforms.eps)" +
          " * gamma[c] + beta[c];",
      );
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [x, stats, gamma, beta],
        "float32",
        [i32(c), f32((attrs as { eps: number }).eps)],
      );
    },
  },
  {
    kernelName: BN_RUNNING,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { running, stats } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as RunningAttrs;
      const c = running.shape[0];
      const p = new ElementwiseProgram(
        "bnRunning",
        ["running", "stats"],
        [c],
        "row : i32, keep : f32, take : f32,",
        "let value = running[index] * uniforms.keep + " +
          "stats[uniforms.row * uniforms.size + index] * uniforms.take;",
      );
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
        p,
        [running, stats],
        "float32",
        [i32(a.row), f32(a.keep), f32(a.take)],
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
    kernelName: BN_DGAMMA,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { stats, red } = inputs as Record<string, TensorInfo>;
      const c = stats.shape[1];
      const eps = (attrs as { eps: number }).eps;
      const [sv, rv] = [stats, red].map((t) => cpuValues(backend, t));
      const out = new Float32Array(c);
      for (let ch = 0; ch < c; ch++) out[ch] = rv[c + ch] / Math.sqrt(sv[c + ch] + eps);
      return (backend as unknown as CpuBackendLike).makeTensorInfo([c], "float32", out);
    },
  },
  {
    kernelName: BN_APPLY,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, stats, gamma, beta } = inputs as Record<string, TensorInfo>;
      const { c } = channelsOf(x);
      const eps = (attrs as { eps: number }).eps;
      const [xv, sv, gv, bv] = [x, stats, gamma, beta].map((t) => cpuValues(backend, t));
      const out = new Float32Array(xv.length);
      for (let i = 0; i < xv.length; i++) {
        const ch = i % c;
        out[i] = (xv[i] - sv[ch]) / Math.sqrt(sv[c + ch] + eps) * gv[ch] + bv[ch];
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo(x.shape, "float32", out);
    },
  },
  {
    kernelName: BN_RUNNING,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { running, stats } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as RunningAttrs;
      const c = running.shape[0];
      const [rv, sv] = [running, stats].map((t) => cpuValues(backend, t));
      const out = new Float32Array(c);
      for (let i = 0; i < c; i++) {
        out[i] = Math.fround(rv[i] * a.keep) + Math.fround(sv[a.row * c + i] * a.take);
      }
      return (backend as unknown as CpuBackendLike).makeTensorInfo([c], "float32", out);
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
  return (b === "webgpu" || b === "cpu" || b === "wasm") && !stockKernelsRequested();
}

/** Output of {@linkcode batchNormTrain}. */
export interface BatchNormTrainOutput {
  /** Normalised, scaled and shifted x. */
  y: tf.Tensor4D;
  /** [2, C]: batch mean (row 0) and biased batch variance (row 1) per channel. */
  stats: tf.Tensor2D;
}

/**
 * Training-mode batch norm with the fused backward pass. Differentiable with respect to `x`,
 * `gamma` and `beta` (not through `stats`, which is for the running statistics). Works on the
 * webgpu and cpu backends.
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
  const fused = tf.getKernel(BN_FORWARD, tf.getBackend()) !== undefined &&
    tf.getKernel(BN_BACKWARD, tf.getBackend()) !== undefined;
  const f = tf.customGrad((xi, gi, bi, save) => {
    let s: tf.Tensor2D;
    let y: tf.Tensor4D;
    if (fused) {
      [y, s] = tf.engine().runKernel(
        BN_FORWARD,
        { x: xi as tf.Tensor, gamma: gi as tf.Tensor, beta: bi as tf.Tensor },
        { eps },
      ) as [tf.Tensor4D, tf.Tensor2D];
    } else {
      s = tf.engine().runKernel(BN_STATS, { x: xi as tf.Tensor }) as tf.Tensor2D;
      y = tf.engine().runKernel(
        BN_APPLY,
        { x: xi as tf.Tensor, stats: s, gamma: gi as tf.Tensor, beta: bi as tf.Tensor },
        { eps },
      ) as tf.Tensor4D;
    }
    stats = tf.keep(s);
    (save as tf.GradSaveFunc)([xi as tf.Tensor, s, gi as tf.Tensor]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, ss, sg] = saved;
        const d = Array.isArray(dy) ? dy[0] : dy;
        let red: tf.Tensor;
        let dx: tf.Tensor;
        if (fused) {
          [dx, red] = tf.engine().runKernel(
            BN_BACKWARD,
            { x: sx, dy: d, stats: ss, gamma: sg },
            { eps },
          ) as tf.Tensor[];
        } else {
          red = tf.engine().runKernel(BN_BACK_REDUCE, { x: sx, dy: d, stats: ss }) as tf.Tensor;
          dx = tf.engine().runKernel(
            BN_BACK_DX,
            { x: sx, dy: d, stats: ss, red, gamma: sg },
            { eps },
          ) as tf.Tensor;
        }
        const dGamma = tf.engine().runKernel(BN_DGAMMA, { stats: ss, red }, { eps }) as tf.Tensor;
        const dBeta = tf.reshape(tf.slice(red, [0, 0], [1, c]), [c]);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = f(x, gamma, beta) as tf.Tensor4D;
  // `stats` was kept to leave customGrad's scope; a clone belongs to the caller's scope instead.
  const out = tf.clone(stats!);
  stats!.dispose();
  return { y, stats: out };
}

/**
 * `running·keep + stats[row]·take` in one kernel: PyTorch's running-statistics update is
 * `keep = 1 − momentum`, `take = momentum` for the mean (row 0) and `take = momentum·n/(n − 1)` for
 * the variance (row 1, unbiased).
 */
export function batchNormRunningUpdate(
  running: tf.Tensor,
  stats: tf.Tensor2D,
  row: 0 | 1,
  keep: number,
  take: number,
): tf.Tensor {
  registerBatchNormKernels();
  return tf.engine().runKernel(BN_RUNNING, { running, stats }, {
    row,
    keep,
    take,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
