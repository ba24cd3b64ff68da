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
import { problemCollector } from "./problems.ts";
import * as tf from "@tensorflow/tfjs-core";
import { type BackendInfo, currentBackend, initBackend } from "./backend.ts";
import { getBackbone } from "./backbones/registry.ts";
import type { Backbone } from "./backbones/types.ts";
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  loadCheckpoint,
  readCheckpointMeta,
  saveCheckpoint,
} from "./checkpoint.ts";
import {
  configDifferences,
  type FieldName,
  keyName,
  type TrainConfig,
  validateConfig,
} from "./config.ts";
import { type FileDataset, openDataset } from "./data/dataset.ts";
import { iterateBatches } from "./data/loader.ts";
import type { Batch, Dataset } from "./data/types.ts";
import { predict, scoresCsv } from "./evaluate.ts";
import { checkBatchFits } from "./memory_budget.ts";
import { rocAuc } from "./metrics.ts";
import { ForwardContext } from "./nn.ts";
import { Sgd, stepLr } from "./optim.ts";
import { Progress } from "./progress.ts";
import { Rng } from "./rng.ts";
import {
  checkDeletable,
  checkWritable,
  clearFolder,
  type EpochRecord,
  exists,
  readJsonIfExists,
  requireRunFolder,
  RunDir,
  writeAtomic,
  writeJson,
} from "./run_dir.ts";
import { lockFolder } from "./folder_lock.ts";
import { applyWeights, normaliseStateDictNames, readWeightsFile } from "./weights.ts";
import { pretrainedFileOf } from "./pretrained.ts";
import { StepAccumulators, trainStep } from "./train_step.ts";
import { nativeKernelsActive } from "./kernels/native/register.ts";
import { nativeThreads, setNativeThreads } from "./kernels/native/threads.ts";

/** How to treat an existing run folder. */
export type ResumeMode = "auto" | "must" | "fresh";

/** Options that do not change the result (so they are not part of the config). */
export interface TrainOptions {
  /** Run folder, e.g. `results/resnet50_cyborg_s0`. */
  output: string;
  /** `auto` resumes a matching run or starts one; `must` fails without a checkpoint; `fresh` empties the folder first (only one the kit created: it holds the kit's marker and not the data). */
  resume?: ResumeMode;
  /** Progress display mode (default: chosen by the environment). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
  /** Called after each epoch with its log record. */
  onEpoch?: (record: EpochRecord) => void;
  /**
   * How errors name config fields and the run options `output`, `resume` and `fresh` (default:
   * the key, e.g. `batchSize`, `output`; `deno task train` passes `flagName` from lib/config.ts,
   * e.g. `--batch-size`, `--output`).
   */
  fieldName?: FieldName;
  /**
   * Files the caller writes once the run has finished, keyed by the option that names them (e.g.
   * `{"--save-weights": "best.pth"}`): each is checked writable (a file, in an existing folder)
   * with the other inputs, before the first step, and its problem listed with theirs.
   */
  writesAfter?: Record<string, string>;
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
  /**
   * The native libraries' thread count on wasm (lib/kernels/native/threads.ts): results depend on
   * it in the last bits, so a resume uses it. Absent without native kernels; a run that recorded
   * none ran with 1.
   */
  nativeThreads?: number;
  created: string;
}

/**
 * Trains (or resumes, or returns a finished) run and returns its summary.
 *
 * @example Train a tiny network for two steps on a tiny generated dataset
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "./backend.ts";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { generate } from "./data/procfaces/generate.ts";
 * import { PAPER_COUNTS, scaleCounts } from "./data/procfaces/layout.ts";
 * import { train } from "./train.ts";
 *
 * await initBackend("cpu");
 * const dir = await Deno.makeTempDir();
 * const counts = { ...scaleCounts(PAPER_COUNTS, 0.02), testPerSource: 6 };
 * await generate({ out: dir, size: 16, counts, variant: "shortcut", workers: 0 });
 * const root = `${dir}/procfaces`;
 * const summary = await train({
 *   ...DEFAULT_CONFIG,
 *   network: "tinycnn",
 *   inputSize: 16,
 *   alpha: 0.5,
 *   csv: `${root}/csvs/original.csv`,
 *   dataset: root,
 *   heatmaps: `${root}/heatmaps`,
 *   epochs: 1,
 *   maxSteps: 2,
 *   batchSize: 8,
 * }, { output: `${dir}/run`, progress: "silent" });
 * assert.equal(summary.steps, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function train(cfg: TrainConfig, opts: TrainOptions): Promise<RunSummary> {
  // 1. Check everything that can be checked before touching the output folder.
  const name = opts.fieldName ?? keyName;
  const problems = validateConfig(cfg, name);
  if (problems.length) throw new Error(problems.join("\n"));
  const backend = currentBackend() ?? (await initBackend());
  const entry = getBackbone(cfg.network, name("network"));
  const inputSize = cfg.inputSize ?? entry.spec.inputSize;
  const grid = entry.spec.camGrid(inputSize);
  const run = new RunDir(opts.output);
  const mode = opts.resume ?? "auto";

  // 2. Output and data: the run folder (checked again under its lock in step 4), the files written
  // after the run, every CSV row, file and map, and every image decoded now (through the pixel
  // cache), so bad input fails before the run folder exists, with all its problems listed.
  const { train, val } = await preflight(cfg, opts, name, inputSize, grid, false);

  // 3. Model, initial weights, and a check that the CAM grid is what the maps were resized to.
  const model = entry.build({ seed: cfg.seed, inputSize });
  if (cfg.initWeights) await loadInitWeights(model, cfg.initWeights, name("initWeights"));
  if (cfg.transformInput !== null) model.transformInput = cfg.transformInput;
  checkCamGrid(model, cfg, grid, name);
  checkBatchFitsOrDispose(
    model,
    inputSize,
    cfg.batchSize,
    name("batchSize"),
  );

  // 4. Run folder (locked against a second writer until this function returns), optimizer, resume.
  await makeOutputFolder(opts.output, name("output"));
  await using _lock = await lockFolder(opts.output, `${name("output")}: the run folder`);
  const hasCheckpoint = await prepareRunFolder(run, cfg, mode, model, backend, name);
  const opt = new Sgd(model.store.trainable(), {
    lr: cfg.lr,
    momentum: cfg.momentum,
    weightDecay: cfg.weightDecay,
  });
  const acc = new StepAccumulators();
  let meta = newCheckpointMeta(cfg.network);
  if (hasCheckpoint) {
    const resumed = await resumeFromCheckpoint(run, model, opt);
    if (resumed.summary) {
      dispose(model, opt, acc);
      return resumed.summary;
    }
    meta = resumed.meta;
  }
  acc.setSteps(meta.steps);

  // 5. Epochs: shuffle, steps, then validate and checkpoint.
  const ctx: RunContext = { cfg, opts, run, model, opt, acc, train, val, inputSize, grid, backend };
  const started = performance.now();
  let last: EpochRecord | undefined;
  for (let epoch = meta.epochsDone; epoch < cfg.epochs && !meta.finished; epoch++) {
    const epochStart = performance.now();
    const lr = stepLr(cfg.lr, epoch, cfg.lrStepSize, cfg.lrGamma);
    opt.setLearningRate(lr);
    const totals = await trainEpoch(ctx, meta, epoch);
    last = await endEpoch(ctx, meta, epoch, { lr, totals, epochStart });
    opts.onEpoch?.(last);
  }

  // 6. Summary.
  const summary = await writeSummary(ctx, meta, last, started);
  dispose(model, opt, acc);
  return summary;
}

/** What one run's helpers share: its config, folder, model, optimizer and data. */
interface RunContext {
  cfg: TrainConfig;
  opts: TrainOptions;
  run: RunDir;
  model: Backbone;
  opt: Sgd;
  acc: StepAccumulators;
  train: FileDataset;
  val: FileDataset;
  inputSize: number;
  grid: number;
  backend: BackendInfo;
}

/** Sums over an epoch's training images. */
interface EpochTotals {
  loss: number;
  ce: number;
  cam: number;
  correct: number;
  images: number;
}

/**
 * Fails when a batch the backend cannot hold is asked for, before the run folder and the first
 * step, naming the largest one that fits (the momentum buffers, made later, are counted in). The
 * model is disposed first.
 */
function checkBatchFitsOrDispose(
  model: Backbone,
  inputSize: number,
  batchSize: number,
  option = "batchSize",
): void {
  let momentumBytes = 0;
  for (const v of model.store.trainable().values()) momentumBytes += v.size * 4;
  try {
    checkBatchFits(model, inputSize, batchSize, option, undefined, momentumBytes);
  } catch (e) {
    model.store.dispose();
    throw e;
  }
}

/** Creates the output folder (and its parents), with an error that names it as `option`. */
async function makeOutputFolder(output: string, option: string): Promise<void> {
  try {
    await Deno.mkdir(output, { recursive: true });
  } catch (e) {
    throw new Error(`${option}: cannot create ${output}: ${(e as Error).message}`);
  }
}

/**
 * Under the folder's lock: checks the folder again, empties it for `fresh`, writes the marker and
 * (for a new run) config.json, and drops the log of a first epoch that never finished. Returns
 * whether a checkpoint can be resumed. Errors name the run options with `name`.
 */
async function prepareRunFolder(
  run: RunDir,
  cfg: TrainConfig,
  mode: ResumeMode,
  model: Backbone,
  backend: BackendInfo,
  name: FieldName,
): Promise<boolean> {
  const { existing, hasCheckpoint } = await openRunState(run, cfg, mode, name);
  const threads = runNativeThreads(backend, existing);
  if (mode === "fresh") await clearFolder(run.root);
  await run.create(name("output"));
  // Steps of a first epoch that never finished are dropped.
  if (!hasCheckpoint && (await exists(run.log))) await run.truncateLog(0);
  if (!existing || mode === "fresh") {
    await writeJson(
      run.config,
      {
        config: cfg,
        ...(model.transformInput !== undefined ? { transformInput: model.transformInput } : {}),
        backend: backend.name,
        adapter: backend.adapter,
        ...(threads ? { nativeThreads: threads } : {}),
        created: new Date().toISOString(),
      } satisfies ConfigFile,
    );
  }
  return hasCheckpoint;
}

/**
 * The native thread count this run trains with: a started run's recorded one (set here, with a
 * note when it differs from this process's), else this process's; undefined without native kernels.
 */
function runNativeThreads(backend: BackendInfo, existing?: ConfigFile): number | undefined {
  if (backend.name !== "wasm" || !nativeKernelsActive()) return undefined;
  if (existing) {
    const recorded = existing.nativeThreads ?? 1;
    if (recorded !== nativeThreads()) {
      console.error(
        `resume: ${recorded} native thread(s), as the run started with (not ${nativeThreads()}), ` +
          "for the same results",
      );
      setNativeThreads(recorded);
    }
  }
  return nativeThreads();
}

/** The checkpoint record of a run before its first step. */
function newCheckpointMeta(network: string): CheckpointMeta {
  return {
    format: CHECKPOINT_FORMAT,
    network,
    epochsDone: 0,
    steps: 0,
    bestValAcc: -1,
    bestEpoch: 0,
    valAcc: 0,
    finished: false,
  };
}

/**
 * Loads the last checkpoint into the model and optimizer. A finished run with a summary returns
 * that summary; otherwise the log is cut back to the checkpoint's epoch and a resume line added.
 */
async function resumeFromCheckpoint(
  run: RunDir,
  model: Backbone,
  opt: Sgd,
): Promise<{ meta: CheckpointMeta; summary?: RunSummary }> {
  const meta = await loadCheckpoint(run.lastCheckpoint, model, opt);
  const summary = await readJsonIfExists<RunSummary>(run.summary);
  if (meta.finished && summary) return { meta, summary };
  await run.truncateLog(meta.epochsDone);
  await run.append({
    type: "resume",
    epoch: meta.epochsDone,
    steps: meta.steps,
    time: new Date().toISOString(),
  });
  return { meta };
}

/**
 * The training steps of one epoch (in the seeded shuffle of epoch `epoch`), with a step log line
 * and a progress update every `logEvery` steps. Advances `meta.steps`, and sets `meta.finished`
 * when `maxSteps` is reached. Returns the epoch's sums.
 */
async function trainEpoch(ctx: RunContext, meta: CheckpointMeta, epoch: number) {
  const { cfg, opts, run, model, opt, acc, train, inputSize, grid } = ctx;
  const stepsPerEpoch = Math.ceil(train.items.length / cfg.batchSize);
  const order = new Rng(cfg.seed).fork(`shuffle:${epoch}`).permutation(train.items.length);
  const epochFirstStep = meta.steps;
  const totals: EpochTotals = { loss: 0, ce: 0, cam: 0, correct: 0, images: 0 };
  let sinceRead = 0;
  const bar = new Progress(`epoch ${epoch + 1}/${cfg.epochs}`, "img", opts.progress);
  // Images this epoch will train on: all of them, unless --max-steps stops it early.
  const epochImages = cfg.maxSteps === null
    ? train.items.length
    : Math.min(train.items.length, Math.max(0, cfg.maxSteps - meta.steps) * cfg.batchSize);
  const barState = () => ({
    done: totals.images,
    total: epochImages,
    note: totals.images
      ? `loss ${(totals.loss / totals.images).toFixed(4)} acc ${
        (totals.correct / totals.images).toFixed(3)
      }`
      : undefined,
  });
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
    try {
      trainStep(model, opt, device, acc, {
        alpha: cfg.alpha,
        camTap: cfg.camTap,
        camClass: cfg.camClass,
      });
    } catch (e) {
      throw stepFailure(e, meta.steps + 1, cfg.batchSize, (opts.fieldName ?? keyName)("batchSize"));
    }
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
      await bar.update(barState());
    }
    if (stop) {
      meta.finished = true;
      break;
    }
  }
  if (sinceRead > 0) await readSums();
  await bar.done(barState());
  return totals;
}

/**
 * The end of an epoch: validates, keeps the best checkpoint and its validation scores (ties go to
 * the later epoch, as the paper's >=), appends the epoch's log line, then saves the last
 * checkpoint. Updates `meta` and returns the log line.
 */
async function endEpoch(
  ctx: RunContext,
  meta: CheckpointMeta,
  epoch: number,
  { lr, totals, epochStart }: { lr: number; totals: EpochTotals; epochStart: number },
): Promise<EpochRecord> {
  const { cfg, run, model, opt, val, backend } = ctx;
  // On wasm the training batch is what the heap was checked for (inference needs less).
  const evalBatch = backend.name === "wasm" ? cfg.batchSize : Math.max(cfg.batchSize, 32);
  const p = await predict(model, val, { batchSize: evalBatch });
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
    await writeAtomic(run.valScores, scoresCsv(p));
  }
  const seconds = (performance.now() - epochStart) / 1000;
  const record: EpochRecord = {
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
  await run.append(record);
  await saveCheckpoint(run.lastCheckpoint, model, opt, meta);
  return record;
}

/**
 * Writes and returns summary.json: the last epoch's figures (this call's, or the log's last epoch
 * line when this call trained none) and the seconds of every logged epoch.
 */
async function writeSummary(
  ctx: RunContext,
  meta: CheckpointMeta,
  last: EpochRecord | undefined,
  started: number,
): Promise<RunSummary> {
  const { cfg, run, backend } = ctx;
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
  return summary;
}

/**
 * Everything before the first step, every problem found listed in one error: the run folder (a
 * run of another config, a folder `fresh` may not delete, one that is not a run folder or cannot
 * be written; with `readCheckpoint`, the checkpoint a resume reads), the files in
 * `opts.writesAfter`, and {@linkcode openInputs}. Returns the two splits.
 */
async function preflight(
  cfg: TrainConfig,
  opts: TrainOptions,
  name: FieldName,
  inputSize: number,
  grid: number,
  readCheckpoint: boolean,
): Promise<{ train: FileDataset; val: FileDataset }> {
  const collector = problemCollector();
  const { problems, attempt } = collector;
  const run = new RunDir(opts.output);
  const state = await attempt(() => openRunState(run, cfg, opts.resume ?? "auto", name));
  if (state) await attempt(() => checkWritable(opts.output, name("output")));
  if (state?.hasCheckpoint && readCheckpoint) {
    await attempt(() => readCheckpointMeta(run.lastCheckpoint));
  }
  for (const [option, path] of Object.entries(opts.writesAfter ?? {})) {
    await attempt(() => checkWritable(path, option, "file"));
  }
  const { train, val } = await openInputs(cfg, inputSize, grid, collector);
  if (problems.length) {
    train?.close();
    val?.close();
    if (problems.length === 1) throw new Error(problems[0]);
    throw new Error(`${problems.length} problems with the inputs:\n${problems.join("\n")}`);
  }
  return { train: train!, val: val! };
}

/**
 * Opens the training and validation splits and decodes every image and map once (filling the
 * pixel cache the epochs then read), and reads `initWeights`. Every problem found goes to
 * `collector`: CSV rows (file:line), missing or escaping paths, files that do not decode, weights.
 */
async function openInputs(
  cfg: TrainConfig,
  inputSize: number,
  grid: number,
  collector: ReturnType<typeof problemCollector>,
): Promise<{ train?: FileDataset; val?: FileDataset }> {
  const { mean, std } = getBackbone(cfg.network).spec;
  const { problems, attempt } = collector;
  const train = await attempt(() =>
    openDataset({
      csv: cfg.csv,
      imageRoot: cfg.dataset,
      split: "train",
      inputSize,
      mean,
      std,
      maps: cfg.alpha < 1
        ? {
          dir: cfg.heatmaps!,
          grid,
          allowMissing: cfg.allowMissingMaps,
          ...(cfg.shuffleMaps ? { shuffleSeed: cfg.seed } : {}),
        }
        : undefined,
    })
  );
  const val = await attempt(() =>
    openDataset({
      csv: cfg.valCsv ?? cfg.csv,
      imageRoot: cfg.dataset,
      split: "test",
      inputSize,
      mean,
      std,
    })
  );
  if (cfg.initWeights) await attempt(() => readWeightsFile(cfg.initWeights!));
  for (const ds of [train, val]) if (ds) problems.push(...(await ds.checkDecodes()));
  return { train, val };
}

/** What {@linkcode checkTrainInputs} found. */
export interface InputCheck {
  /** Training images (all decoded). */
  trainImages: number;
  /** Of them, with a map. */
  maps: number;
  /** Validation images (all decoded). */
  valImages: number;
}

/**
 * Everything {@linkcode train} checks before its first step, without training or writing: the
 * config, the output folder (a run of another config, a folder `fresh` may not delete, one that
 * is not a run folder or cannot be written, the checkpoint a resume reads), the files in
 * `opts.writesAfter`, every CSV row, image and map (decoded), the initial weights. Throws one
 * error listing the problems.
 */
export async function checkTrainInputs(cfg: TrainConfig, opts: TrainOptions): Promise<InputCheck> {
  const name = opts.fieldName ?? keyName;
  const problems = validateConfig(cfg, name);
  if (problems.length) throw new Error(problems.join("\n"));
  const entry = getBackbone(cfg.network, name("network"));
  const inputSize = cfg.inputSize ?? entry.spec.inputSize;
  const grid = entry.spec.camGrid(inputSize);
  const { train, val } = await preflight(cfg, opts, name, inputSize, grid, true);
  train.close();
  val.close();
  return { trainImages: train.items.length, maps: train.mapCount, valImages: val.items.length };
}

/**
 * What the output folder holds for this config: the existing config (undefined when the run is
 * new, or never finished an epoch: a first attempt that failed may be rerun with other options),
 * and whether a checkpoint can be resumed. Refuses a run of another config, a folder `fresh`
 * may not delete (`checkDeletable`) and `must` without a checkpoint. Errors name the run options
 * with `name`.
 */
async function openRunState(
  run: RunDir,
  cfg: TrainConfig,
  mode: ResumeMode,
  name: FieldName,
): Promise<{ existing?: ConfigFile; hasCheckpoint: boolean }> {
  if (mode === "fresh") {
    await checkDeletable(
      run.root,
      [cfg.dataset, cfg.csv, cfg.valCsv, cfg.heatmaps, cfg.initWeights],
      name("fresh"),
    );
    return { existing: undefined, hasCheckpoint: false };
  }
  await requireRunFolder(run.root, name("output"));
  const hasCheckpoint = await exists(run.lastCheckpoint);
  let existing = await readJsonIfExists<ConfigFile>(run.config);
  if (existing !== undefined && !isConfigFile(existing)) {
    throw new Error(`${run.config}: not a run config (expected an object with a "config" object)`);
  }
  const started = hasCheckpoint || (await run.readLog()).some((r) => r.type === "epoch");
  if (existing && !started) existing = undefined;
  if (existing) {
    const diffs = configDifferences(existing.config, cfg);
    if (diffs.length) {
      throw new Error(
        `${name("output")}: ${run.root} holds a run with a different config; resume refused ` +
          `(use ${name("fresh")} to overwrite, or another ${name("output")}):\n  ${
            diffs.join("\n  ")
          }`,
      );
    }
  }
  if (mode === "must" && !hasCheckpoint) {
    throw new Error(`${name("resume")}: ${run.root} has no checkpoint to resume from`);
  }
  return { existing, hasCheckpoint };
}

/** True when `v` has the shape of a run's config.json (an object holding a `config` object). */
function isConfigFile(v: unknown): v is ConfigFile {
  const isObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  return isObject(v) && isObject((v as { config?: unknown }).config);
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
 * Loads torchvision-style weights (safetensors or `.pth`, names normalised as `lib/weights.ts`
 * does); a classifier of another shape (e.g. ImageNet's 1000 classes) is re-initialised. Their
 * `transform_input` metadata, if any, sets `model.transformInput`.
 */
async function loadInitWeights(model: Backbone, path: string, option: string): Promise<void> {
  const file = await readWeightsFile(path);
  const known = new Set(model.store.entries.keys());
  const { tensors } = normaliseStateDictNames(file.tensors, known);
  const heads = [...model.store.entries].filter(([, e]) => e.variable === model.classifierWeight);
  const newHead = heads.some(([name, e]) => {
    const t = tensors.get(name);
    return t !== undefined && t.data.length !== e.variable.size;
  });
  applyWeights(model, file.tensors, file.metadata, `${option} ${path}`, { newHead });
  // torchvision's InceptionV3 ImageNet file (by its official name) implies transform_input.
  if (pretrainedFileOf(path)?.transformInput && "transformInput" in model) {
    model.transformInput = true;
  }
  if (newHead) {
    const head = heads[0][0].slice(0, -"weight".length);
    console.error(`${option}: ${head}* re-initialised (another class count)`);
  }
}

/**
 * Checks that the network's actual CAM tap grid equals the grid the maps are resized to; the
 * error names the fields with `name` (config keys by default, flags from the CLI).
 */
export function checkCamGrid(
  model: Backbone,
  cfg: TrainConfig,
  grid: number,
  name: FieldName = keyName,
): void {
  const [h, w] = tf.tidy(() => {
    const x = tf.zeros([1, model.inputSize, model.inputSize, 3]) as tf.Tensor4D;
    return model.forward(x, new ForwardContext(false)).taps[cfg.camTap].shape.slice(1, 3);
  });
  if (h !== grid || w !== grid) {
    throw new Error(
      `${name("network")} ${cfg.network} at ${name("inputSize")} ${model.inputSize}: the CAM tap ` +
        `"${cfg.camTap}" ` +
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

/**
 * A step's error as the user sees it: the wasm runtime's own traps (`Aborted()`, `memory access out
 * of bounds`: its heap ran out inside C++ code) and a failed heap allocation become a message with
 * the step number that names the batch size; other errors pass unchanged.
 */
export function stepFailure(e: unknown, step: number, batch: number, option: string): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const wasmTrap = e instanceof WebAssembly.RuntimeError ||
    /^Aborted\(|memory access out of bounds/.test(msg);
  if (wasmTrap || (e instanceof Error && e.name === "WasmOutOfMemoryError")) {
    return new Error(
      `step ${step}: the wasm backend ran out of memory or stopped (${msg.split("\n")[0]}). ` +
        `Use a smaller ${option} than ${batch}, or a backend with more memory.`,
    );
  }
  return e instanceof Error ? e : new Error(msg);
}

function hasBothClasses(labels: Int32Array): boolean {
  return labels.includes(0) && labels.includes(1);
}

function dispose(model: Backbone, opt: Sgd, acc: StepAccumulators): void {
  opt.dispose();
  acc.dispose();
  model.store.dispose();
}
