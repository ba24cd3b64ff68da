/**
 * SGD with momentum and weight decay, PyTorch semantics (`torch.optim.SGD`, dampening 0,
 * nesterov off), and the StepLR schedule.
 *
 *     g ← g + wd·p;   buf ← momentum·buf + g   (buf starts at 0, so the first step sets buf = g);
 *     p ← p − lr·buf
 *
 * The learning rate lives in a scalar variable on the device and changes once per epoch, so a step
 * uploads nothing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { c } from "./consts.ts";
import { sgdUpdate, sgdUpdateSupported } from "./kernels/sgd_update.ts";

/** Hyper-parameters of {@linkcode Sgd}. */
export interface SgdOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum (0 disables the buffer). */
  momentum: number;
  /** L2 weight decay added to the gradient. */
  weightDecay: number;
}

/** `torch.optim.SGD` for a fixed, named set of variables. */
export class Sgd {
  /** Momentum buffers by parameter name (same shapes as the parameters). */
  readonly buffers: Map<string, tf.Variable> = new Map();
  readonly #lr: tf.Variable;
  readonly #params: Map<string, tf.Variable>;

  /** @param params trainable variables by name. */
  constructor(params: Map<string, tf.Variable>, readonly options: SgdOptions) {
    this.#params = params;
    this.#lr = tf.tidy(() => tf.variable(tf.scalar(options.lr), false));
    for (const [name, p] of params) {
      // In a tidy: the zeros are freed with the buffer on dispose, not left behind.
      this.buffers.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /** Sets the learning rate (one small upload; call per epoch, not per step). */
  setLearningRate(lr: number): void {
    tf.tidy(() => this.#lr.assign(tf.scalar(lr)));
  }

  /** Applies one update from gradients keyed by parameter name (missing ones are skipped). */
  step(grads: Record<string, tf.Tensor>): void {
    const { momentum, weightDecay } = this.options;
    tf.tidy(() => {
      for (const [name, p] of this.#params) {
        let g = grads[name];
        if (!g) continue;
        if (sgdUpdateSupported()) {
          // Two fused kernels instead of six ops (lib/kernels/sgd_update.ts).
          const buf = this.buffers.get(name)!;
          // In place: p and buf are replaced by the results below (buf only with momentum).
          const [next, update] = sgdUpdate(
            p,
            g,
            buf,
            this.#lr as tf.Scalar,
            momentum,
            weightDecay,
            momentum !== 0,
          );
          if (momentum !== 0) buf.assign(update);
          p.assign(next);
          continue;
        }
        if (weightDecay !== 0) g = tf.add(g, tf.mul(p, c(weightDecay)));
        let update = g;
        if (momentum !== 0) {
          const buf = this.buffers.get(name)!;
          update = tf.add(tf.mul(buf, c(momentum)), g);
          buf.assign(update);
        }
        p.assign(tf.sub(p, tf.mul(update, this.#lr)));
      }
    });
  }

  /** Frees the buffers. */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.#lr.dispose();
  }
}

/** `torch.optim.lr_scheduler.StepLR`: lr at (0-based) epoch e is `lr·gamma^floor(e/step)`. */
export function stepLr(baseLr: number, epoch: number, stepSize: number, gamma: number): number {
  return baseLr * gamma ** Math.floor(epoch / stepSize);
}
