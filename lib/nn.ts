/**
 * Minimal functional neural-network building blocks on tfjs-core, with PyTorch semantics and
 * torchvision parameter names.
 *
 * A model is a {@linkcode ParamStore} (name → variable, e.g. `layer1.0.conv1.weight`,
 * `bn1.running_mean`) plus a forward function built from the layer constructors below. Tensors are
 * NHWC; each parameter records its layout so that PyTorch `state_dict`s convert by name
 * (see {@linkcode toTorchLayout} / {@linkcode fromTorchLayout}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { c } from "./consts.ts";
import {
  batchNormRunningUpdate,
  batchNormTrain,
  batchNormTrainSupported,
} from "./kernels/batch_norm_train.ts";
import type { Rng } from "./rng.ts";

/**
 * How a parameter is laid out here, which fixes its conversion to and from PyTorch:
 * - `conv`: tfjs [kh, kw, in, out] ⇄ torch [out, in, kh, kw]
 * - `depthwise`: tfjs [kh, kw, in, 1] ⇄ torch [in, 1, kh, kw]
 * - `linear`: tfjs [in, out] ⇄ torch [out, in]
 * - `vector`: same in both (bias, batch-norm weight, running statistics, scalars)
 */
export type ParamLayout = "conv" | "depthwise" | "linear" | "vector";

/** One named tensor of a model. */
export interface ParamEntry {
  /** The tfjs variable holding the value (in the tfjs layout). */
  variable: tf.Variable;
  /** Layout, for conversion to torch. */
  layout: ParamLayout;
  /** Trainable parameters get gradients; buffers (running stats) do not. */
  trainable: boolean;
  /** Data type in a torch state_dict (`num_batches_tracked` is int64 there). */
  torchDtype: "float32" | "int64";
}

/** Weight initialisers (PyTorch's defaults and torchvision's choices). */
export type Init =
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "uniform"; bound: number }
  | { kind: "normal"; std: number }
  | { kind: "truncnormal"; std: number };

/** Named parameters and buffers of one model. Insertion order is the model's `state_dict` order. */
export class ParamStore {
  /** All entries by torch name. */
  readonly entries: Map<string, ParamEntry> = new Map();

  /** @param rng the stream used for initialisation (in creation order). */
  constructor(readonly rng: Rng) {}

  /** Creates and registers a variable. Throws if the name exists. */
  add(
    name: string,
    shape: number[],
    layout: ParamLayout,
    init: Init,
    options: { trainable?: boolean; torchDtype?: "float32" | "int64" } = {},
  ): tf.Variable {
    if (this.entries.has(name)) throw new Error(`ParamStore: duplicate parameter "${name}"`);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    switch (init.kind) {
      case "zeros":
        break;
      case "ones":
        values.fill(1);
        break;
      case "uniform":
        this.rng.fillUniform(values, -init.bound, init.bound);
        break;
      case "normal":
        this.rng.fillNormal(values, init.std);
        break;
      case "truncnormal":
        for (let i = 0; i < size; i++) {
          let v: number;
          do v = this.rng.normal(); while (Math.abs(v) > 2);
          values[i] = v * init.std;
        }
        break;
    }
    const trainable = options.trainable ?? true;
    // In a tidy: the initial tensor is freed, the variable keeps the storage (no leak on dispose).
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, "float32"), trainable));
    this.entries.set(name, {
      variable,
      layout,
      trainable,
      torchDtype: options.torchDtype ?? "float32",
    });
    return variable;
  }

  /** The variable named `name`; throws if absent. */
  get(name: string): tf.Variable {
    const e = this.entries.get(name);
    if (!e) throw new Error(`ParamStore: no parameter "${name}"`);
    return e.variable;
  }

  /** Trainable variables, by name, in creation order. */
  trainable(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [k, e] of this.entries) if (e.trainable) out.set(k, e.variable);
    return out;
  }

  /** Number of trainable scalars. */
  countTrainable(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.trainable) n += e.variable.size;
    return n;
  }

  /** Frees every variable. */
  dispose(): void {
    for (const e of this.entries.values()) e.variable.dispose();
    this.entries.clear();
  }
}

/** Per-call state of a forward pass: mode, pending buffer updates, and tapped activations. */
export class ForwardContext {
  /** Running-statistics updates to apply after the step (variable, new value). */
  readonly updates: Array<[tf.Variable, tf.Tensor]> = [];
  /** Activations recorded by name (CAM taps). */
  readonly taps: Map<string, tf.Tensor> = new Map();

  /** @param training batch statistics + running-stat updates when true. */
  constructor(readonly training: boolean) {}

  /** Records an activation under a name. */
  tap(name: string, t: tf.Tensor): void {
    this.taps.set(name, t);
  }

  /** Assigns the pending running-statistics updates (call outside any gradient tape). */
  applyUpdates(): void {
    for (const [v, value] of this.updates) {
      v.assign(value);
      value.dispose();
    }
    this.updates.length = 0;
  }
}

/** A layer: NHWC tensor in, tensor out. */
export type Layer = (x: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor4D;

/** Options of {@linkcode conv2d}. */
export interface Conv2dOptions {
  /** Kernel size (square, or [kh, kw]). */
  kernel: number | [number, number];
  /** Stride (default 1). */
  stride?: number;
  /** Symmetric zero padding as PyTorch's `padding` (number or [ph, pw]); default 0. */
  padding?: number | [number, number];
  /** Add a bias (default false, as in the torchvision backbones). */
  bias?: boolean;
  /** Depthwise convolution (`groups == in_channels`, channel multiplier 1). */
  depthwise?: boolean;
  /** Weight init; default PyTorch's kaiming_uniform(a=√5): U(±1/√fan_in). */
  init?: Init;
}

/** Kaiming normal with mode fan_out and ReLU gain, as torchvision's ResNet uses. */
export function kaimingNormalFanOut(outChannels: number, kh: number, kw: number): Init {
  return { kind: "normal", std: Math.sqrt(2 / (outChannels * kh * kw)) };
}

/** `torch.nn.Conv2d` (groups 1, or depthwise) as `<name>.weight` [+ `<name>.bias`]. */
export function conv2d(
  store: ParamStore,
  name: string,
  inChannels: number,
  outChannels: number,
  opts: Conv2dOptions,
): Layer {
  const [kh, kw] = typeof opts.kernel === "number" ? [opts.kernel, opts.kernel] : opts.kernel;
  const [ph, pw] = typeof opts.padding === "number"
    ? [opts.padding, opts.padding]
    : (opts.padding ?? [0, 0]);
  const stride = opts.stride ?? 1;
  const depthwise = opts.depthwise ?? false;
  if (depthwise && inChannels !== outChannels) {
    throw new Error(`${name}: depthwise conv needs in == out channels`);
  }
  const fanIn = (depthwise ? 1 : inChannels) * kh * kw;
  const init = opts.init ?? { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
  const w = depthwise
    ? store.add(`${name}.weight`, [kh, kw, inChannels, 1], "depthwise", init)
    : store.add(`${name}.weight`, [kh, kw, inChannels, outChannels], "conv", init);
  const b = opts.bias
    ? store.add(`${name}.bias`, [outChannels], "vector", {
      kind: "uniform",
      bound: 1 / Math.sqrt(fanIn),
    })
    : undefined;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [ph, ph],
    [pw, pw],
    [0, 0],
  ];
  const padding = ph === 0 && pw === 0 ? "valid" : pad;
  return (x) => {
    const y = depthwise
      ? tf.depthwiseConv2d(x, w as tf.Tensor4D, stride, padding)
      : tf.conv2d(x, w as tf.Tensor4D, stride, padding);
    return b ? tf.add<tf.Tensor4D>(y, b) : y;
  };
}

/** Options of {@linkcode batchNorm2d}. */
export interface BatchNormOptions {
  /** Added to the variance (PyTorch default 1e-5; torchvision Inception uses 1e-3). */
  eps?: number;
  /** Running-statistics momentum, PyTorch convention (default 0.1). */
  momentum?: number;
}

/**
 * `torch.nn.BatchNorm2d`: `<name>.weight`, `.bias`, `.running_mean`, `.running_var`,
 * `.num_batches_tracked`. Training mode normalises with the biased batch variance and updates the
 * running variance with the unbiased one, as PyTorch does.
 */
export function batchNorm2d(
  store: ParamStore,
  name: string,
  channels: number,
  opts: BatchNormOptions = {},
): Layer {
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const gamma = store.add(`${name}.weight`, [channels], "vector", { kind: "ones" });
  const beta = store.add(`${name}.bias`, [channels], "vector", { kind: "zeros" });
  const runningMean = store.add(`${name}.running_mean`, [channels], "vector", { kind: "zeros" }, {
    trainable: false,
  });
  const runningVar = store.add(`${name}.running_var`, [channels], "vector", { kind: "ones" }, {
    trainable: false,
  });
  const tracked = store.add(`${name}.num_batches_tracked`, [], "vector", { kind: "zeros" }, {
    trainable: false,
    torchDtype: "int64",
  });
  return (x, ctx) => {
    if (!ctx.training) {
      return tf.batchNorm4d(
        x,
        runningMean as tf.Tensor1D,
        runningVar as tf.Tensor1D,
        beta as tf.Tensor1D,
        gamma as tf.Tensor1D,
        eps,
      );
    }
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    if (batchNormTrainSupported()) {
      // Fused statistics, backward pass and running updates (lib/kernels/batch_norm_train.ts).
      const { y, stats } = batchNormTrain(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, eps);
      const unbiased = (momentum * n) / Math.max(n - 1, 1);
      ctx.updates.push(
        [
          runningMean,
          tf.keep(batchNormRunningUpdate(runningMean, stats, 0, 1 - momentum, momentum)),
        ],
        [runningVar, tf.keep(batchNormRunningUpdate(runningVar, stats, 1, 1 - momentum, unbiased))],
        [tracked, tf.keep(tf.tidy(() => tf.add(tracked, c(1))))],
      );
      return y;
    }
    const { y, mean, variance } = stockBatchNormTrain(
      x,
      gamma as tf.Tensor1D,
      beta as tf.Tensor1D,
      eps,
    );
    ctx.updates.push(
      [
        runningMean,
        tf.keep(
          tf.tidy(() => tf.add(tf.mul(runningMean, c(1 - momentum)), tf.mul(mean, c(momentum)))),
        ),
      ],
      [
        runningVar,
        tf.keep(tf.tidy(() =>
          tf.add(
            tf.mul(runningVar, c(1 - momentum)),
            tf.mul(variance, c((momentum * n) / Math.max(n - 1, 1))),
          )
        )),
      ],
      [tracked, tf.keep(tf.tidy(() => tf.add(tracked, c(1))))],
    );
    return y;
  };
}

/** Training-mode batch norm from stock tfjs ops (`tf.moments` + `tf.batchNorm4d`). */
function stockBatchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const y = tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, eps);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** `torch.nn.Linear` as `<name>.weight` (stored [in, out]) and `<name>.bias`; 2-D input. */
export function linear(
  store: ParamStore,
  name: string,
  inFeatures: number,
  outFeatures: number,
  opts: { bias?: boolean; init?: Init } = {},
): (x: tf.Tensor2D) => tf.Tensor2D {
  const bound = 1 / Math.sqrt(inFeatures);
  const w = store.add(
    `${name}.weight`,
    [inFeatures, outFeatures],
    "linear",
    opts.init ?? { kind: "uniform", bound },
  );
  const b = (opts.bias ?? true)
    ? store.add(`${name}.bias`, [outFeatures], "vector", { kind: "uniform", bound })
    : undefined;
  return (x) => {
    const y: tf.Tensor2D = tf.matMul(x, w as tf.Tensor2D);
    return b ? tf.add<tf.Tensor2D>(y, b) : y;
  };
}

/** Global average pooling NHWC → [B, C]. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}

/**
 * Max pooling with PyTorch's symmetric padding (padded cells never win: pads with -Infinity
 * equivalent by padding with a very negative value).
 */
export function maxPool2d(
  x: tf.Tensor4D,
  kernel: number,
  stride: number,
  padding = 0,
  ceilMode = false,
): tf.Tensor4D {
  let input = x;
  if (padding > 0 || ceilMode) {
    const extra = (size: number) => {
      if (!ceilMode) return 0;
      const out = Math.ceil((size + 2 * padding - kernel) / stride) + 1;
      // PyTorch drops a last window that would start inside the right padding.
      const outFixed = (out - 1) * stride >= size + padding ? out - 1 : out;
      return Math.max(0, (outFixed - 1) * stride + kernel - (size + 2 * padding));
    };
    input = tf.pad(x, [[0, 0], [padding, padding + extra(x.shape[1])], [
      padding,
      padding + extra(x.shape[2]),
    ], [0, 0]], -3.4e38);
  }
  return tf.maxPool(input, kernel, stride, "valid");
}

/**
 * Average pooling with PyTorch's symmetric padding and `count_include_pad=True` (the default):
 * padded zeros count in the divisor.
 */
export function avgPool2d(
  x: tf.Tensor4D,
  kernel: number,
  stride: number,
  padding = 0,
): tf.Tensor4D {
  const input = padding > 0
    ? tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    : x;
  return tf.avgPool(input, kernel, stride, "valid");
}

/** Converts a tfjs-layout value to the torch layout (for export). */
export function toTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  switch (layout) {
    case "conv":
      return tf.transpose(t, [3, 2, 0, 1]);
    case "depthwise":
      return tf.transpose(t, [2, 3, 0, 1]);
    case "linear":
      return tf.transpose(t, [1, 0]);
    case "vector":
      return tf.clone(t);
  }
}

/** Converts a torch-layout value to the tfjs layout (for import). */
export function fromTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  switch (layout) {
    case "conv":
      return tf.transpose(t, [2, 3, 1, 0]);
    case "depthwise":
      return tf.transpose(t, [2, 3, 0, 1]);
    case "linear":
      return tf.transpose(t, [1, 0]);
    case "vector":
      return tf.clone(t);
  }
}

/** The torch shape of a parameter given its tfjs shape and layout. */
export function torchShape(shape: readonly number[], layout: ParamLayout): number[] {
  switch (layout) {
    case "conv":
      return [shape[3], shape[2], shape[0], shape[1]];
    case "depthwise":
      return [shape[2], shape[3], shape[0], shape[1]];
    case "linear":
      return [shape[1], shape[0]];
    case "vector":
      return [...shape];
  }
}
