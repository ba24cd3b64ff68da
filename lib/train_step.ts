/**
 * One CYBORG training step on the device, with no GPU→CPU read: forward in training mode, loss,
 * gradients, SGD update, batch-norm running statistics, and on-device running sums of the loss terms
 * and correct predictions that the loop reads once in a while ({@linkcode StepAccumulators.read}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// Gradient functions are registered by a side-effect import (tfjs-core alone has none).
import "./gradients.ts";
import type { Backbone, CamTap } from "./backbones/types.ts";
import type { CamClass } from "./cam.ts";
import { c } from "./consts.ts";
import { cyborgLoss } from "./loss.ts";
import { leanVariableGrads } from "./lean_grads.ts";
import { ForwardContext } from "./nn.ts";
import type { Sgd } from "./optim.ts";

/** A batch already on the device. */
export interface DeviceBatch {
  /** [B, s, s, 3] normalised images. */
  x: tf.Tensor4D;
  /** [B] int32 labels. */
  y: tf.Tensor1D;
  /** [B, h, w] maps (needed when α < 1). */
  maps?: tf.Tensor3D;
  /** [B] 1 where a map exists. */
  hasMap?: tf.Tensor1D;
}

/** A non-trainable scalar variable whose initial tensor is not left behind. */
function scalarVariable(v: number): tf.Variable {
  return tf.tidy(() => tf.variable(tf.scalar(v), false));
}

/** Sums kept on the device between reads. */
export class StepAccumulators {
  /** Σ total loss × batch size. */
  readonly loss: tf.Variable = scalarVariable(0);
  /** Σ CE × batch size. */
  readonly ce: tf.Variable = scalarVariable(0);
  /** Σ CAM MSE × batch size. */
  readonly cam: tf.Variable = scalarVariable(0);
  /** Σ correct predictions. */
  readonly correct: tf.Variable = scalarVariable(0);
  /** Number of steps taken since the run (or resume) started; the step index on the device. */
  readonly steps: tf.Variable = scalarVariable(0);
  /** Index (in `steps` numbering) of the first step with a non-finite loss, or -1. */
  readonly firstBadStep: tf.Variable = scalarVariable(-1);

  /** Reads the sums (one GPU→CPU read per value) and resets the sums (not the step counters). */
  async read(): Promise<
    { loss: number; ce: number; cam: number; correct: number; steps: number; firstBadStep: number }
  > {
    const packed = tf.stack([
      this.loss,
      this.ce,
      this.cam,
      this.correct,
      this.steps,
      this.firstBadStep,
    ]);
    const v = await packed.data();
    packed.dispose();
    tf.tidy(() => {
      for (const t of [this.loss, this.ce, this.cam, this.correct]) t.assign(tf.zerosLike(t));
    });
    return {
      loss: v[0],
      ce: v[1],
      cam: v[2],
      correct: v[3],
      steps: v[4],
      firstBadStep: v[5],
    };
  }

  /** Sets the step counter (after a resume). */
  setSteps(n: number): void {
    tf.tidy(() => this.steps.assign(tf.scalar(n)));
  }

  /** Frees the variables. */
  dispose(): void {
    for (const t of [this.loss, this.ce, this.cam, this.correct, this.steps, this.firstBadStep]) {
      t.dispose();
    }
  }
}

/**
 * The gradient function of {@linkcode trainStep}: {@linkcode leanVariableGrads} (frees the backward
 * pass's intermediates as it goes; the same gradients), or tfjs's `tf.variableGrads` with
 * `CYBORG_TFJS_GRADS=1` (for comparisons).
 */
function gradsOf(
  f: () => tf.Scalar,
  vars: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return Deno.env.get("CYBORG_TFJS_GRADS") === "1"
    ? tf.variableGrads(f, vars)
    : leanVariableGrads(f, vars);
}

/** What a step needs to know about the objective. */
export interface StepOptions {
  /** CYBORG α. */
  alpha: number;
  /** CAM tap. */
  camTap: CamTap;
  /** CAM class. */
  camClass: CamClass;
}

/**
 * Runs one training step: updates the model's parameters and running statistics and adds the
 * batch's loss terms to `acc`. Reads nothing back.
 */
export function trainStep(
  model: Backbone,
  opt: Sgd,
  batch: DeviceBatch,
  acc: StepAccumulators,
  opts: StepOptions,
): void {
  const ctx = new ForwardContext(true);
  let terms: { total: tf.Scalar; ce: tf.Scalar; cam: tf.Scalar; correct: tf.Scalar } | undefined;
  tf.tidy(() => {
    const trainable = model.store.trainable();
    const { grads } = gradsOf(() => {
      const out = model.forward(batch.x, ctx);
      const loss = cyborgLoss({
        logits: out.logits,
        labels: batch.y,
        features: out.taps[opts.camTap],
        classifierWeight: model.classifierWeight as tf.Tensor2D,
        maps: batch.maps,
        hasMap: batch.hasMap,
        alpha: opts.alpha,
        camClass: opts.camClass,
      });
      const pred = tf.argMax(out.logits, 1);
      terms = {
        total: tf.keep(loss.total),
        ce: tf.keep(loss.ce),
        cam: tf.keep(loss.cam),
        correct: tf.keep(tf.sum(tf.cast(tf.equal(pred, tf.cast(batch.y, "int32")), "float32"))),
      };
      return loss.total;
    }, [...trainable.values()]);
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of trainable) byName[name] = grads[v.name];
    opt.step(byName);
    ctx.applyUpdates();

    const t = terms!;
    const n = c(batch.x.shape[0]);
    acc.loss.assign(tf.add(acc.loss, tf.mul(t.total, n)));
    acc.ce.assign(tf.add(acc.ce, tf.mul(t.ce, n)));
    acc.cam.assign(tf.add(acc.cam, tf.mul(t.cam, n)));
    acc.correct.assign(tf.add(acc.correct, t.correct));
    // Remember the first step whose loss is not finite, without reading it back.
    const bad = tf.logicalAnd(
      tf.logicalNot(tf.isFinite(t.total)),
      tf.less(acc.firstBadStep, c(0)),
    );
    acc.firstBadStep.assign(tf.where(bad, acc.steps, acc.firstBadStep));
    acc.steps.assign(tf.add(acc.steps, c(1)));
    for (const v of Object.values(t)) v.dispose();
  });
}
