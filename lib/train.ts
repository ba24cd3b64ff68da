/**
 * The training loop, readable top to bottom: validate → open data → build model → create or
 * resume the run folder → epochs of (shuffle, steps, validate, checkpoint) → summary.
 *
 * The step itself ({@linkcode trainStep}) reads nothing back; the loop reads the on-device sums
 * every `logEvery` steps for the progress display and the log, and once per epoch.
 *
 * A run folder is resumable: started again with the same config it continues from its last
 * checkpoint (the end of the last completed epoch); on the cpu backend the final weights are then
 * identical to an uninterrupted run's (the shuffle of epoch e depends only on the seed and e).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { currentBackend, initBackend } from "./backend.ts";
import { getBackbone } from "./backbones/registry.ts";
import type { Backbone } from "./backbones/types.ts";
import { type CheckpointMeta, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { configDifferences, type TrainConfig, validateConfig } from "./config.ts";
import { openDataset } from "./data/dataset.ts";
import { iterateBatches } from "./data/loader.ts";
import type { Batch, Dataset } from "./data/types.ts";
import { predict, scoresCsv } from "./evaluate.ts";
import { rocAuc } from "./metrics.ts";
import { ForwardContext } from "./nn.ts";
import { Sgd, stepLr } from "./optim.ts";
import { Progress } from "./progress.ts";
import { Rng } from "./rng.ts";
import {
  type EpochRecord,
  exists,
  readJsonIfExists,
  RunDir,
  writeAtomic,
  writeJson,
} from "./run_dir.ts";
import { readSafetensors } from "./safetensors.ts";
import { importStateDict } from "./state_dict.ts";
import { StepAccumulators, trainStep } from "./train_step.ts";
import { transformInputFromMetadata } from "./weights.ts";

/** How to treat an existing run folder. */
export type ResumeMode = "auto" | "must" | "fresh";

/** Options that do not change the result (so they are not part of the config). */
export interface TrainOptions {
  /** Run folder, e.g. `results/resnet50_cyborg_s0`. */
  output: string;
  /** `auto` resumes a matching run or starts one; `must` fails without a checkpoint; `fresh` deletes the folder first. */
  resume?: ResumeMode;
  /** Progress display mode (default: chosen by the environment). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
  /** Called after each epoch with its log record. */
  onEpoch?: (record: EpochRecord) => void;
}

/** The per-epoch log record (defined with the run folder's other records). */
export type { EpochRecord } from "./run_dir.ts";

/** summary.json */
export interface RunSummary {
  status: "finished";
  network: string;
  alpha: number;
  seed: number;
  epochs_done: number;
  steps: number;
  best_epoch: number;
  best_val_acc: number;
  last_val_acc: number;
  last_val_auc: number;
  train_acc: number;
  seconds: number;
  backend: string;
  adapter: string;
}

/** The file a run's config.json holds. */
interface ConfigFile {
  config: TrainConfig;
  /** InceptionV3: the `transform_input` the run trains with (config, weights, or default). */
  transformInput?: boolean;
  backend: string;
  adapter: string;
  created: string;
}

/** Trains (or resumes, or returns a finished) run and returns its summary. */
export async function train(cfg: TrainConfig, opts: TrainOptions): Promise<RunSummary> {
  // 1. Check everything that can be checked before touching the output folder.
  const problems = validateConfig(cfg);
  if (problems.length) throw new Error(problems.join("\n"));
  const backend = currentBackend() ?? (await initBackend());
  const entry = getBackbone(cfg.network);
  const inputSize = cfg.inputSize ?? entry.spec.inputSize;
  const grid = entry.spec.camGrid(inputSize);
  const run = new RunDir(opts.output);
  const mode = opts.resume ?? "auto";
  const existing = await readJsonIfExists<ConfigFile>(run.config);
  if (existing && mode !== "fresh") {
    const diffs = configDifferences(existing.config, cfg);
    if (diffs.length) {
      throw new Error(
        `--output: ${opts.output} holds a run with a different config; resume refused ` +
          `(use --fresh to overwrite, or another --output):\n  ${diffs.join("\n  ")}`,
      );
    }
  }
  const hasCheckpoint = mode !== "fresh" && (await exists(run.lastCheckpoint));
  if (mode === "must" && !hasCheckpoint) {
    throw new Error(`--resume: ${opts.output} has no checkpoint to resume from`);
  }

  // 2. Data: every file and map is checked now, so a bad CSV fails before the run folder exists.
  const { mean, std } = entry.spec;
  const train = await openDataset({
    csv: cfg.csv,
    imageRoot: cfg.dataset,
    split: "train",
    inputSize,
    mean,
    std,
    maps: cfg.alpha < 1
      ? { dir: cfg.heatmaps!, grid, allowMissing: cfg.allowMissingMaps }
      : undefined,
  });
  const val = await openDataset({
    csv: cfg.valCsv ?? cfg.csv,
    imageRoot: cfg.dataset,
    split: "test",
    inputSize,
    mean,
    std,
  });

  // 3. Model, initial weights, and a check that the CAM grid is what the maps were resized to.
  const model = entry.build({ seed: cfg.seed, inputSize });
  if (cfg.initWeights) await loadInitWeights(model, cfg.initWeights);
  if (cfg.transformInput !== null) model.transformInput = cfg.transformInput;
  checkCamGrid(model, cfg, grid);

  // 4. Run folder, optimizer, resume.
  if (mode === "fresh") await Deno.remove(opts.output, { recursive: true }).catch(() => {});
  await run.create();
  if (!existing || mode === "fresh") {
    await writeJson(
      run.config,
      {
        config: cfg,
        ...(model.transformInput !== undefined ? { transformInput: model.transformInput } : {}),
        backend: backend.name,
        adapter: backend.adapter,
        created: new Date().toISOString(),
      } satisfies ConfigFile,
    );
  }
  const opt = new Sgd(model.store.trainable(), {
    lr: cfg.lr,
    momentum: cfg.momentum,
    weightDecay: cfg.weightDecay,
  });
  const acc = new StepAccumulators();
  let meta: CheckpointMeta = {
    format: "cyborg-kit-checkpoint/1",
    network: cfg.network,
    epochsDone: 0,
    steps: 0,
    bestValAcc: -1,
    bestEpoch: 0,
    valAcc: 0,
    finished: false,
  };
  if (hasCheckpoint) {
    meta = await loadCheckpoint(run.lastCheckpoint, model, opt);
    const summary = await readJsonIfExists<RunSummary>(run.summary);
    if (meta.finished && summary) {
      dispose(model, opt, acc);
      return summary;
    }
    await run.truncateLog(meta.epochsDone);
    await run.append({
      type: "resume",
      epoch: meta.epochsDone,
      steps: meta.steps,
      time: new Date().toISOString(),
    });
  }
  acc.setSteps(meta.steps);

  // 5. Epochs.
  const started = performance.now();
  let last: EpochRecord | undefined;
  const stepsPerEpoch = Math.ceil(train.items.length / cfg.batchSize);
  for (let epoch = meta.epochsDone; epoch < cfg.epochs && !meta.finished; epoch++) {
    const epochStart = performance.now();
    const lr = stepLr(cfg.lr, epoch, cfg.lrStepSize, cfg.lrGamma);
    opt.setLearningRate(lr);
    const order = new Rng(cfg.seed).fork(`shuffle:${epoch}`).permutation(train.items.length);
    const epochFirstStep = meta.steps;
    const totals = { loss: 0, ce: 0, cam: 0, correct: 0, images: 0 };
    let sinceRead = 0;
    const bar = new Progress(`epoch ${epoch + 1}/${cfg.epochs}`, "img", opts.progress);
    const readSums = async () => {
      const s = await acc.read();
      if (s.firstBadStep >= 0) {
        await failNonFinite(run, s.firstBadStep, epochFirstStep, order, cfg.batchSize, train);
      }
      totals.loss += s.loss;
      totals.ce += s.ce;
      totals.cam += s.cam;
      totals.correct += s.correct;
      return s;
    };
    for await (const batch of iterateBatches(train, order, cfg.batchSize)) {
      const device = toDevice(batch, inputSize, grid);
      trainStep(model, opt, device, acc, {
        alpha: cfg.alpha,
        camTap: cfg.camTap,
        camClass: cfg.camClass,
      });
      tf.dispose(Object.values(device));
      meta.steps++;
      totals.images += batch.n;
      sinceRead += batch.n;
      const stepInEpoch = meta.steps - epochFirstStep;
      const stop = cfg.maxSteps !== null && meta.steps >= cfg.maxSteps;
      if (meta.steps % cfg.logEvery === 0 || stepInEpoch === stepsPerEpoch || stop) {
        const s = await readSums();
        await run.append({
          type: "step",
          epoch: epoch + 1,
          step: meta.steps,
          loss: s.loss / sinceRead,
          ce: s.ce / sinceRead,
          cam: s.cam / sinceRead,
          acc: s.correct / sinceRead,
        });
        sinceRead = 0;
        await bar.update({
          done: totals.images,
          total: train.items.length,
          note: `loss ${(totals.loss / totals.images).toFixed(4)} acc ${
            (totals.correct / totals.images).toFixed(3)
          }`,
        });
      }
      if (stop) {
        meta.finished = true;
        break;
      }
    }
    if (sinceRead > 0) await readSums();
    await bar.done({ done: totals.images, total: train.items.length });

    // Validate, keep the last and the best (ties go to the later epoch, as the paper's >=).
    const p = await predict(model, val, { batchSize: Math.max(cfg.batchSize, 32) });
    let correct = 0;
    for (let i = 0; i < p.labels.length; i++) correct += p.labels[i] === p.predicted[i] ? 1 : 0;
    const valAcc = correct / p.labels.length;
    const valAuc = hasBothClasses(p.labels) ? rocAuc(p.labels, p.scores) : NaN;
    meta.epochsDone = epoch + 1;
    meta.valAcc = valAcc;
    if (epoch + 1 === cfg.epochs) meta.finished = true;
    if (valAcc >= meta.bestValAcc) {
      meta.bestValAcc = valAcc;
      meta.bestEpoch = epoch + 1;
      await saveCheckpoint(run.bestCheckpoint, model, null, { ...meta });
      await writeAtomic(
        run.valScores,
        scoresCsv(p),
      );
    }
    const seconds = (performance.now() - epochStart) / 1000;
    last = {
      type: "epoch",
      epoch: epoch + 1,
      lr,
      train_loss: totals.loss / totals.images,
      train_ce: totals.ce / totals.images,
      train_cam: totals.cam / totals.images,
      train_acc: totals.correct / totals.images,
      val_acc: valAcc,
      val_auc: valAuc,
      seconds,
      steps: meta.steps,
      images_per_s: totals.images / seconds,
    };
    // The log line goes first: a kill between the two leaves a log line the resume truncates.
    await run.append(last);
    await saveCheckpoint(run.lastCheckpoint, model, opt, meta);
    opts.onEpoch?.(last);
  }

  // 6. Summary.
  const log = await run.readLog();
  const epochs = log.filter((r): r is EpochRecord => r.type === "epoch");
  const final = last ?? epochs[epochs.length - 1];
  const summary: RunSummary = {
    status: "finished",
    network: cfg.network,
    alpha: cfg.alpha,
    seed: cfg.seed,
    epochs_done: meta.epochsDone,
    steps: meta.steps,
    best_epoch: meta.bestEpoch,
    best_val_acc: meta.bestValAcc,
    last_val_acc: final?.val_acc ?? NaN,
    last_val_auc: final?.val_auc ?? NaN,
    train_acc: final?.train_acc ?? NaN,
    seconds: epochs.reduce((s, r) => s + r.seconds, 0) ||
      (performance.now() - started) / 1000,
    backend: backend.name,
    adapter: backend.adapter,
  };
  await writeJson(run.summary, summary);
  dispose(model, opt, acc);
  return summary;
}

/** Uploads a batch (one upload per array; no reads). */
function toDevice(batch: Batch, size: number, grid: number) {
  return {
    x: tf.tensor4d(batch.x, [batch.n, size, size, 3]),
    y: tf.tensor1d(batch.y, "int32"),
    ...(batch.maps ? { maps: tf.tensor3d(batch.maps, [batch.n, grid, grid]) } : {}),
    ...(batch.hasMap && batch.hasMap.some((v) => v === 0)
      ? { hasMap: tf.tensor1d(Float32Array.from(batch.hasMap)) }
      : {}),
  };
}

/**
 * Loads torchvision-style weights; a classifier of another shape (e.g. ImageNet's) is
 * re-initialised. Their `transform_input` metadata, if any, sets `model.transformInput`.
 */
async function loadInitWeights(model: Backbone, path: string): Promise<void> {
  const file = await readSafetensors(path);
  const transformInput = transformInputFromMetadata(model, file.metadata, `--init-weights ${path}`);
  let head = "";
  for (const [name, e] of model.store.entries) {
    if (e.variable === model.classifierWeight) head = name.slice(0, name.lastIndexOf(".") + 1);
  }
  const tensors = new Map(file.tensors);
  const skipped: string[] = [];
  for (const [name, t] of file.tensors) {
    const e = model.store.entries.get(name);
    if (name.startsWith(head) && e && t.data.length !== e.variable.size) {
      tensors.delete(name);
      skipped.push(name);
    }
  }
  importStateDict(model.store, tensors, {
    source: `--init-weights ${path}`,
    allowMissing: (n) => skipped.includes(n),
  });
  if (transformInput !== undefined) model.transformInput = transformInput;
  if (skipped.length) {
    console.error(`--init-weights: ${skipped.join(", ")} re-initialised (another class count)`);
  }
}

/** Checks that the network's actual CAM tap grid equals the grid the maps are resized to. */
export function checkCamGrid(model: Backbone, cfg: TrainConfig, grid: number): void {
  const [h, w] = tf.tidy(() => {
    const x = tf.zeros([1, model.inputSize, model.inputSize, 3]) as tf.Tensor4D;
    return model.forward(x, new ForwardContext(false)).taps[cfg.camTap].shape.slice(1, 3);
  });
  if (h !== grid || w !== grid) {
    throw new Error(
      `--network ${cfg.network} at --input-size ${model.inputSize}: the CAM tap "${cfg.camTap}" ` +
        `is ${h}x${w} but the map grid is ${grid}x${grid}`,
    );
  }
}

async function failNonFinite(
  run: RunDir,
  badStep: number,
  epochFirstStep: number,
  order: number[],
  batchSize: number,
  ds: Dataset,
): Promise<never> {
  const inEpoch = badStep - epochFirstStep;
  const files = order.slice(inEpoch * batchSize, (inEpoch + 1) * batchSize)
    .map((i) => `${ds.items[i].path} (${ds.items[i].csv}:${ds.items[i].line})`);
  const message = `non-finite loss at step ${badStep + 1}; stopping before any checkpoint of ` +
    `NaN weights. The batch's files:\n  ${files.join("\n  ")}`;
  await run.append({ type: "error", message, time: new Date().toISOString() });
  throw new Error(message);
}

function hasBothClasses(labels: Int32Array): boolean {
  return labels.includes(0) && labels.includes(1);
}

function dispose(model: Backbone, opt: Sgd, acc: StepAccumulators): void {
  opt.dispose();
  acc.dispose();
  model.store.dispose();
}
