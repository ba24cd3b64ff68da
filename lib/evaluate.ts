/**
 * Inference over a dataset in eval mode (running batch-norm statistics): logits, scores, and
 * optionally CAMs, in dataset order. One device read per batch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone, CamTap } from "./backbones/types.ts";
import { type CamClass, camClassOneHot, computeCam } from "./cam.ts";
import { iterateBatches } from "./data/loader.ts";
import type { Dataset } from "./data/types.ts";
import { ForwardContext } from "./nn.ts";
import type { Progress } from "./progress.ts";
import { csvField } from "./csv_out.ts";

/** Results of {@linkcode predict}. */
export interface Predictions {
  /** [n, K] logits, row-major. */
  logits: Float32Array;
  /** [n] labels from the CSV. */
  labels: Int32Array;
  /** [n] sigmoid(logit of class 1 "Synthetic"), the paper's test.py score. */
  scores: Float64Array;
  /** [n] argmax class. */
  predicted: Int32Array;
  /** [n, h, w] normalised CAMs when requested. */
  cams?: Float32Array;
  /** CAM grid side when `cams` is present. */
  camGrid?: number;
  /** CSV paths in order. */
  paths: string[];
}

/** Options of {@linkcode predict}. */
export interface PredictOptions {
  /** Batch size (default 32). */
  batchSize?: number;
  /** Also compute CAMs from this tap. */
  cams?: { tap: CamTap; camClass: CamClass };
  /** Progress display to update per batch. */
  progress?: Progress;
}

/** Runs the model over every item of `ds`, in order. */
export async function predict(
  model: Backbone,
  ds: Dataset,
  opts: PredictOptions = {},
): Promise<Predictions> {
  const n = ds.items.length;
  const k = model.numClasses;
  const logits = new Float32Array(n * k);
  const labels = new Int32Array(n);
  const paths: string[] = [];
  let cams: Float32Array | undefined;
  let grid = 0;
  const order = Array.from({ length: n }, (_, i) => i);
  let offset = 0;
  for await (const batch of iterateBatches(ds, order, opts.batchSize ?? 32)) {
    const s = ds.inputSize;
    const [lg, cam] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.n, s, s, 3]);
      const out = model.forward(x, new ForwardContext(false));
      if (!opts.cams) return [out.logits, undefined];
      const y = tf.tensor1d(batch.y, "int32");
      const oneHot = camClassOneHot(out.logits, y, opts.cams.camClass);
      return [
        out.logits,
        computeCam(out.taps[opts.cams.tap], model.classifierWeight as tf.Tensor2D, oneHot),
      ];
    });
    logits.set(await lg.data(), offset * k);
    if (cam) {
      grid = cam.shape[1];
      cams ??= new Float32Array(n * grid * grid);
      cams.set(await cam.data(), offset * grid * grid);
    }
    tf.dispose([lg, cam ?? []]);
    labels.set(batch.y, offset);
    paths.push(...batch.paths);
    offset += batch.n;
    await opts.progress?.update({ done: offset, total: n });
  }
  const scores = new Float64Array(n);
  const predicted = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * k, i * k + k);
    scores[i] = 1 / (1 + Math.exp(-row[1]));
    let best = 0;
    for (let j = 1; j < k; j++) if (row[j] > row[best]) best = j;
    predicted[i] = best;
  }
  return { logits, labels, scores, predicted, cams, camGrid: cams ? grid : undefined, paths };
}

/** Predictions as `path,label,score` CSV text (the format `results.ts` reads back). */
export function scoresCsv(p: Predictions): string {
  return "path,label,score\n" +
    p.paths.map((path, i) => `${csvField(path)},${p.labels[i]},${p.scores[i]}`).join("\n") + "\n";
}
