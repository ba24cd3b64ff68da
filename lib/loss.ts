/**
 * The CYBORG loss: `α·CE + (1−α)·MSE(CAM, map)`.
 *
 * - CE: softmax cross-entropy, mean over the batch (PyTorch `nn.CrossEntropyLoss`).
 * - MSE: mean over B·h·w of (CAM − map)², where CAM is {@linkcode computeCam} of the tapped
 *   features for the predicted (or true) class. Samples without a map (`hasMap` 0, only when
 *   missing maps were explicitly allowed) are left out: the MSE averages over the samples that have
 *   one, and is 0 when none has.
 * - α = 1 skips the CAM term entirely (no CAM is computed).
 *
 * The same code path takes human saliency maps or segmentation masks as `maps`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type CamClass, camClassOneHot, computeCam } from "./cam.ts";
import { c } from "./consts.ts";

/** Inputs of {@linkcode cyborgLoss}. */
export interface CyborgLossInput {
  /** [B, K] logits. */
  logits: tf.Tensor2D;
  /** [B] integer labels. */
  labels: tf.Tensor1D;
  /** [B, h, w, C] CAM tap features. */
  features: tf.Tensor4D;
  /** [C, K] classifier weight. */
  classifierWeight: tf.Tensor2D;
  /** [B, h, w] target maps in [0, 1]; required when α < 1. */
  maps?: tf.Tensor3D;
  /** [B] 1 where the sample has a map (default: all have). */
  hasMap?: tf.Tensor1D;
  /** α in [0, 1]. */
  alpha: number;
  /** CAM class: predicted (paper) or true label. */
  camClass: CamClass;
}

/** Loss terms; `total` is what is differentiated. */
export interface CyborgLossOutput {
  /** α·CE + (1−α)·MSE. */
  total: tf.Scalar;
  /** Cross-entropy (mean over the batch). */
  ce: tf.Scalar;
  /** CAM MSE (0 when α = 1). */
  cam: tf.Scalar;
}

/** Mean softmax cross-entropy of integer labels (log-sum-exp stabilised). */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const oneHot = tf.oneHot(tf.cast(labels, "int32"), logits.shape[1]);
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logp), 1))) as tf.Scalar;
}

/** What is wrong with α (it must be in [0, 1]), or undefined when it is valid. */
export function alphaProblem(alpha: number): string | undefined {
  return Number.isFinite(alpha) && alpha >= 0 && alpha <= 1
    ? undefined
    : `alpha must be in [0, 1], got ${alpha}`;
}

/** Validates α with an error naming its source (default: the config key `alpha`). */
export function checkAlpha(alpha: number, source = "alpha"): void {
  const problem = alphaProblem(alpha);
  if (problem !== undefined) throw new Error(`${source}: ${problem}`);
}

/**
 * Computes the CYBORG loss terms.
 *
 * @example Eq. 1 on a batch of two images, a 3×3 CAM grid and 4 feature channels
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "./backend.ts";
 * import { cyborgLoss } from "./loss.ts";
 *
 * await initBackend("cpu");
 * const { total, ce, cam } = cyborgLoss({
 *   logits: tf.tensor2d([[2, -1], [0.5, 1]]),
 *   labels: tf.tensor1d([0, 1], "int32"),
 *   features: tf.randomUniform([2, 3, 3, 4], 0, 1, "float32", 1) as tf.Tensor4D,
 *   classifierWeight: tf.randomNormal([4, 2], 0, 1, "float32", 2) as tf.Tensor2D,
 *   maps: tf.zeros([2, 3, 3]) as tf.Tensor3D,
 *   alpha: 0.5,
 *   camClass: "pred",
 * });
 * const [t, c, m] = await Promise.all([total.data(), ce.data(), cam.data()]);
 * assert.ok(Math.abs(t[0] - (0.5 * c[0] + 0.5 * m[0])) < 1e-6);
 * ```
 */
export function cyborgLoss(input: CyborgLossInput): CyborgLossOutput {
  const { logits, labels, features, classifierWeight, maps, hasMap, alpha } = input;
  checkAlpha(alpha);
  const ce = crossEntropy(logits, labels);
  if (alpha === 1) {
    return { total: ce, ce, cam: tf.zeros([]) as tf.Scalar };
  }
  if (!maps) throw new Error("cyborgLoss: alpha < 1 needs maps");
  const [, h, w] = features.shape;
  if (maps.shape[1] !== h || maps.shape[2] !== w) {
    throw new Error(
      `map grid ${maps.shape[1]}x${maps.shape[2]} does not match the CAM grid ${h}x${w}`,
    );
  }
  const oneHot = camClassOneHot(logits, labels, input.camClass);
  const cam = computeCam(features, classifierWeight, oneHot);
  const sq = tf.square(tf.sub(cam, maps));
  let mse: tf.Scalar;
  if (hasMap) {
    const mask = tf.reshape(tf.cast(hasMap, "float32"), [-1, 1, 1]);
    const denom = tf.maximum(tf.mul(tf.sum(mask), c(h * w)), c(1));
    mse = tf.div(tf.sum(tf.mul(sq, mask)), denom) as tf.Scalar;
  } else {
    mse = tf.mean(sq) as tf.Scalar;
  }
  const total = tf.add(tf.mul(ce, c(alpha)), tf.mul(mse, c(1 - alpha))) as tf.Scalar;
  return { total, ce, cam: mse };
}
