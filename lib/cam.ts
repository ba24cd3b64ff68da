/**
 * Class Activation Maps exactly as the CYBORG code computes them: the CAM tap's features
 * [B, h, w, C] dotted with the classifier row of one class per image → [B, h, w], with no bias, no
 * ReLU and no upsampling, then min-max normalised per image.
 *
 * The paper's min-max has no epsilon and yields NaN for a constant CAM (e.g. all-zero features
 * after a dead ReLU). The kit divides by `max - min + CAM_EPSILON` instead: identical to 1e-8
 * relative for any non-constant map, and a constant map becomes all zeros.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { c } from "./consts.ts";

/** Guard added to the min-max denominator (see the module doc). */
export const CAM_EPSILON = 1e-8;

/**
 * Which classifier row weights the features: the predicted class's (paper), the label's, or
 * `diff`, the decision CAM `(W_fake − W_real)·features` (two classes only): the evidence for
 * "fake" over "real", the same map for every image whatever its prediction.
 */
export type CamClass = "pred" | "true" | "diff";

/**
 * Class weights [B, K] of each image's CAM: one-hot of the class for `pred` (argmax of the logits)
 * and `true` (the label); for `diff` the row (−1, +1) (fake minus real; needs K = 2). Not
 * differentiated: a constant of the graph.
 */
export function camClassOneHot(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  which: CamClass,
): tf.Tensor2D {
  const k = logits.shape[1];
  if (which === "diff") {
    if (k !== 2) throw new Error(`camClass diff: needs 2 classes, the classifier has ${k}`);
    return tf.tile(tf.tensor2d([[-1, 1]]), [logits.shape[0], 1]) as tf.Tensor2D;
  }
  const idx = which === "pred" ? tf.argMax(logits, 1) : tf.cast(labels, "int32");
  return tf.cast(tf.oneHot(idx as tf.Tensor1D, k), "float32") as tf.Tensor2D;
}

/**
 * Raw CAM [B, h, w] = Σ_c features[b, y, x, c] · W[c, class_b]. `classifierWeight` is [C, K]
 * (torch's `fc.weight` transposed), `oneHot` is [B, K]. Gradients reach both the features and the
 * selected classifier row. Uses 2-D matmuls only (tfjs's broadcasting BatchMatMul gradient is wrong).
 */
export function rawCam(
  features: tf.Tensor4D,
  classifierWeight: tf.Tensor2D,
  oneHot: tf.Tensor2D,
): tf.Tensor3D {
  const [b, , , c] = features.shape;
  if (classifierWeight.shape[0] !== c) {
    throw new Error(
      `CAM: features have ${c} channels but the classifier expects ${classifierWeight.shape[0]}`,
    );
  }
  const rows = tf.matMul(oneHot, classifierWeight, false, true); // [B, C]
  const weighted = tf.mul(features, tf.reshape(rows, [b, 1, 1, c]));
  return tf.sum(weighted, 3) as tf.Tensor3D;
}

/** Min-max normalises each [h, w] map of a [B, h, w] tensor to [0, 1] (epsilon-guarded). */
export function minMaxNormalize(cam: tf.Tensor3D): tf.Tensor3D {
  const lo = tf.min(cam, [1, 2], true);
  const hi = tf.max(cam, [1, 2], true);
  return tf.div(tf.sub(cam, lo), tf.add(tf.sub(hi, lo), c(CAM_EPSILON))) as tf.Tensor3D;
}

/**
 * The CYBORG CAM: {@linkcode rawCam} then {@linkcode minMaxNormalize}.
 *
 * @example The predicted class's CAM of one image on a 2×2 grid with 2 channels
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "./backend.ts";
 * import { camClassOneHot, computeCam } from "./cam.ts";
 *
 * await initBackend("cpu");
 * const features = tf.tensor4d([[[[1, 0], [0, 1]], [[2, 0], [0, 0]]]]); // [1, 2, 2, 2]
 * const classifierWeight = tf.tensor2d([[1, 0], [0, 1]]); // [channels, classes]
 * const logits = tf.tensor2d([[3, 1]]); // predicts class 0
 * const oneHot = camClassOneHot(logits, tf.tensor1d([0], "int32"), "pred");
 * const cam = computeCam(features, classifierWeight, oneHot); // channel 0, min-max normalised
 * assert.deepEqual(Array.from(await cam.data()).map((v) => +v.toFixed(6)), [0.5, 0, 1, 0]);
 * ```
 */
export function computeCam(
  features: tf.Tensor4D,
  classifierWeight: tf.Tensor2D,
  oneHot: tf.Tensor2D,
): tf.Tensor3D {
  return minMaxNormalize(rawCam(features, classifierWeight, oneHot));
}

/**
 * A CAM upsampled for display only (bilinear, to `size`×`size`), never used by the loss.
 * Input [B, h, w] → [B, size, size].
 */
export function upsampleCam(cam: tf.Tensor3D, size: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, w] = cam.shape;
    const up = tf.image.resizeBilinear(tf.reshape(cam, [b, h, w, 1]) as tf.Tensor4D, [size, size]);
    return tf.reshape(up, [b, size, size]) as tf.Tensor3D;
  });
}
