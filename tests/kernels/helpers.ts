/**
 * Shared helpers of the kernel tests: convolution cases and a tolerance check that names the
 * worst element.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { Sgd } from "../../lib/optim.ts";
import { Rng } from "../../lib/rng.ts";
import { exportStateDict } from "../../lib/state_dict.ts";
import { StepAccumulators, trainStep } from "../../lib/train_step.ts";

/** One convolution geometry under test (NHWC, square stride). */
export interface ConvCase {
  /** Batch size. */
  batch: number;
  /** Input [height, width]. */
  size: [number, number];
  /** Input channels. */
  inC: number;
  /** Output channels. */
  outC: number;
  /** Filter [height, width]. */
  kernel: [number, number];
  /** Stride (both axes). */
  stride: number;
  /** tfjs padding: a number (symmetric), "same" or "valid". */
  pad: number | "same" | "valid";
}

/**
 * The convolution cases every conv kernel test runs (WebGPU and wasm): odd shapes, strides 1 and 2, explicit / same / valid padding, 1×1, 3×3, 7×7 and 2×3 filters.
 */
export const CONV_CASES: ConvCase[] = [
  { batch: 2, size: [9, 7], inC: 3, outC: 5, kernel: [3, 3], stride: 1, pad: 1 },
  { batch: 1, size: [11, 11], inC: 5, outC: 7, kernel: [3, 3], stride: 2, pad: 1 },
  { batch: 3, size: [8, 8], inC: 16, outC: 33, kernel: [1, 1], stride: 1, pad: 0 },
  { batch: 2, size: [9, 9], inC: 17, outC: 8, kernel: [1, 1], stride: 2, pad: 0 },
  { batch: 2, size: [13, 15], inC: 3, outC: 64, kernel: [7, 7], stride: 2, pad: 3 },
  { batch: 1, size: [10, 9], inC: 6, outC: 4, kernel: [7, 7], stride: 1, pad: 3 },
  { batch: 1, size: [6, 5], inC: 70, outC: 66, kernel: [3, 3], stride: 1, pad: "same" },
  { batch: 2, size: [9, 8], inC: 5, outC: 6, kernel: [3, 3], stride: 2, pad: "same" },
  { batch: 2, size: [7, 7], inC: 4, outC: 3, kernel: [2, 3], stride: 2, pad: "valid" },
  { batch: 3, size: [5, 6], inC: 2, outC: 3, kernel: [3, 3], stride: 1, pad: "valid" },
  // Even filters with "same": asymmetric padding (more at the bottom / right).
  { batch: 2, size: [6, 7], inC: 3, outC: 4, kernel: [2, 4], stride: 1, pad: "same" },
  { batch: 1, size: [9, 8], inC: 4, outC: 5, kernel: [4, 2], stride: 2, pad: "same" },
];

/** A short label for assertion messages. */
export function describeCase(c: ConvCase): string {
  return `b${c.batch} ${c.size.join("x")}x${c.inC} -> ${c.outC}, k${c.kernel.join("x")} ` +
    `s${c.stride} pad ${c.pad}`;
}

/** Uniform(-1, 1) values. */
export function randomArray(rng: Rng, n: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), -1, 1);
}

/**
 * Asserts |got − want| <= tol · max(1, |want|) element-wise (absolute for small values, relative
 * for large ones).
 */
export function assertClose(got: Float32Array, want: Float32Array, tol: number, label: string) {
  assert.equal(got.length, want.length, `${label}: length ${got.length} != ${want.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(err <= worstErr)) {
      worstErr = Number.isNaN(err) ? Infinity : err;
      worst = i;
    }
  }
  assert.ok(
    worstErr <= tol,
    `${label}: element ${worst} got ${got[worst]} want ${want[worst]} (rel err ${worstErr})`,
  );
}

/**
 * Two CYBORG training steps (α = 0.5, SGD with momentum) of a freshly built network on a fixed
 * random batch of 4, after `setup()` (a backend, a tuning, a kernel set); returns the weights.
 * `noise` moves every 7th input value by that much: the same steps on a perturbed input give the
 * noise floor the parity tolerances are set from.
 */
export async function twoCyborgSteps(
  net: string,
  size: number,
  rngLabel: string,
  setup: () => void | Promise<void>,
  noise = 0,
): Promise<Map<string, Float32Array>> {
  await setup();
  const B = 4;
  const entry = getBackbone(net);
  const model = entry.build({ seed: 3, inputSize: size, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  const rng = new Rng(rngLabel);
  const g = entry.spec.camGrid(size);
  const x = rng.fillNormal(new Float32Array(B * size * size * 3), 1);
  if (noise) { for (let i = 0; i < x.length; i += 7) x[i] += noise; }
  const batch = {
    x: tf.tensor4d(x, [B, size, size, 3]),
    y: tf.tensor1d([0, 1, 1, 0], "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(B * g * g), 0, 1), [B, g, g]),
    hasMap: tf.ones([B]) as tf.Tensor1D,
  };
  for (let i = 0; i < 2; i++) {
    trainStep(model, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
  }
  const state = await exportStateDict(model.store);
  const out = new Map([...state].map(([k, v]) => [k, v.data as Float32Array]));
  tf.dispose(Object.values(batch));
  acc.dispose();
  opt.dispose();
  model.store.dispose();
  return out;
}

/** The largest |a − b| / max(1, |a|) over every tensor of two weight maps. */
export function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    for (let i = 0; i < va.length; i++) {
      worst = Math.max(worst, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
    }
  }
  return worst;
}
