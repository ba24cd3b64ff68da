/**
 * The experiment's resumable loop: its planned runs, which are complete, training and scoring
 * them (in this process or in child processes), the experiment folder and the check of every
 * input before the first step.
 *
 * @module
 */
import { problemCollector } from "../problems.ts";
import { currentBackend, initBackend } from "../backend.ts";
import { getBackbone } from "../backbones/registry.ts";
import type { TrainConfig } from "../config.ts";
import { openDataset } from "../data/dataset.ts";
import { checkDataIdentity, DATA_IDENTITY_FILE } from "../data_identity.ts";
import { type FolderLock, lockFolder } from "../folder_lock.ts";
import {
  EXPERIMENT_RUN_THREADS,
  nativeThreads,
  setNativeThreads,
} from "../kernels/native/threads.ts";
import {
  exists,
  type FolderKind,
  inspectFolder,
  markKitFolder,
  requireRunFolder,
  RunDir,
} from "../run_dir.ts";
import { runJobsInChildren } from "../run_pool.ts";
import { train } from "../train.ts";
import { evaluateRun } from "./evaluate.ts";
import { type ExperimentSpec, runPath, trainConfigFor } from "./run_config.ts";
import { chosenStrategies, type StrategyName } from "./strategies.ts";
import { listTestSets, type TestSet } from "./test_sets.ts";

/** One run of an experiment: its position, its (variant, strategy, seed) and its folder. */
export interface RunInfo {
  /** 0-based position in the experiment's order. */
  index: number;
  /** Number of runs in the experiment. */
  total: number;
  /** Data variant name. */
  variant: string;
  /** Training strategy. */
  strategy: StrategyName;
  /** Seed. */
  seed: number;
  /** Run folder. */
  dir: string;
}

/** Progress callback: which run is starting, out of how many. */
export type RunCallback = (info: RunInfo) => void;

/** One run of an experiment with what training and scoring it takes. */
export interface PlannedRun {
  /** Its position and folder. */
  info: RunInfo;
  /** Its training config. */
  cfg: TrainConfig;
  /** Test sets scored after training. */
  testSets: TestSet[];
}

/**
 * Every (variant, strategy, seed) of an experiment, in the order they are trained (variant, then
 * seed, then strategy). Checks (and on first use records) each variant folder's data identity
 * (`data_identity.ts`) unless `checkIdentity` is false (nothing is then written).
 *
 * @example The smoke preset's planned runs (it reads the test sets of its embedded data)
 * ```ts
 * import assert from "node:assert/strict";
 * import { getPreset } from "../presets.ts";
 * import { embeddedVariants, experimentRuns } from "./mod.ts";
 *
 * const preset = getPreset("smoke");
 * const spec = { preset, variants: embeddedVariants(preset), out: "results/smoke" };
 * const runs = await experimentRuns(spec, { checkIdentity: false });
 * assert.equal(runs.length, 2 * 4 * 1); // variants × the paper's strategies × seeds
 * assert.deepEqual(runs.slice(0, 2).map((r) => r.info.dir), [
 *   "results/smoke/shortcut/baseline/s0",
 *   "results/smoke/shortcut/cyborg/s0",
 * ]);
 * assert.equal(runs[1].cfg.alpha, 0.5);
 * ```
 */
export async function experimentRuns(
  spec: ExperimentSpec,
  opts: { checkIdentity?: boolean } = {},
): Promise<PlannedRun[]> {
  const strategies = chosenStrategies(spec.strategies);
  const seeds = spec.seeds ?? spec.preset.seeds;
  const total = spec.variants.length * strategies.length * seeds;
  const runs: PlannedRun[] = [];
  for (const variant of spec.variants) {
    if (opts.checkIdentity !== false) {
      await checkDataIdentity(spec.out, variant, { log: (l) => console.error(l) });
    }
    const testSets = await listTestSets(variant.root);
    const first = spec.firstSeed ?? 0;
    for (let seed = first; seed < first + seeds; seed++) {
      for (const strategy of strategies) {
        const dir = runPath(spec.out, variant.name, strategy.name, seed);
        const info = {
          index: runs.length,
          total,
          variant: variant.name,
          strategy: strategy.name,
          seed,
          dir,
        };
        runs.push({ info, cfg: trainConfigFor(spec, variant, strategy, seed), testSets });
      }
    }
  }
  return runs;
}

/**
 * True when a run is finished and scored: `summary.json`, `eval/mean_cams.json` and one
 * `eval/<set>.csv` per test set.
 */
export async function runComplete(run: PlannedRun): Promise<boolean> {
  const d = new RunDir(run.info.dir);
  if (!(await exists(d.summary)) || !(await exists(d.meanCams))) return false;
  for (const t of run.testSets) if (!(await exists(d.evalScores(t.name)))) return false;
  return true;
}

/**
 * Trains and evaluates every (variant, strategy, seed), resumably: finished runs are skipped,
 * interrupted ones continue from their last checkpoint, scored test sets are not rescored. A
 * variant folder trained on other data is refused (`data_identity.ts`). With
 * `jobs` > 1 the runs go to that many child processes at a time (`run_pool.ts`), with the same
 * results.
 */
export async function runExperiment(
  spec: ExperimentSpec,
  opts: {
    onRun?: RunCallback;
    progress?: "tty" | "jupyter" | "plain" | "silent";
    /** Parallel runs in child processes (`run_pool.ts`); 1 (default) trains in this process. */
    jobs?: number;
    /** Called as a run finishes, with its wall time (child processes only). */
    onRunDone?: (run: RunInfo, seconds: number) => void;
    /** The caller ran {@linkcode checkExperimentInputs} already (default: it runs here). */
    inputsChecked?: boolean;
    /**
     * How errors name the experiment folder (default `out`, the key of the spec; the command-line
     * tools pass `--out`).
     */
    outOption?: string;
  } = {},
): Promise<void> {
  await using _lock = await openExperimentFolder(spec.out, opts.outOption);
  if (!opts.inputsChecked) await checkExperimentInputs(spec, opts.outOption);
  const runs = await experimentRuns(spec);
  const jobs = opts.jobs ?? 1;
  if (jobs <= 1) {
    // The thread count of a --jobs child, for the same bits (a resume sets its run's own).
    const threads = nativeThreads();
    setNativeThreads(EXPERIMENT_RUN_THREADS);
    try {
      for (const r of runs) {
        opts.onRun?.(r.info);
        await train(r.cfg, { output: r.info.dir, progress: opts.progress });
        await evaluateRun(r.info.dir, r.cfg, r.testSets);
        setNativeThreads(EXPERIMENT_RUN_THREADS);
      }
    } finally {
      setNativeThreads(threads);
    }
    return;
  }
  const backend = (currentBackend() ?? (await initBackend())).name;
  await runJobsInChildren(
    runs.map((r) => ({ cfg: r.cfg, dir: r.info.dir, testSets: r.testSets, backend })),
    jobs,
    {
      onStart: (i) => opts.onRun?.(runs[i].info),
      onDone: (i, seconds) => opts.onRunDone?.(runs[i].info, seconds),
    },
  );
}

/**
 * Creates the experiment folder if needed (with the kit's marker when it is new or empty) and
 * takes its lock (`folder_lock.ts`), so a second process writing the same experiment fails at
 * once, naming the holder. Release it (or hold it with `await using`). Errors name the folder as
 * `option` (default `out`, the key of {@linkcode ExperimentSpec}; the command-line tools pass
 * `--out`).
 */
export async function openExperimentFolder(out: string, option = "out"): Promise<FolderLock> {
  try {
    await Deno.mkdir(out, { recursive: true });
  } catch (e) {
    throw new Error(`${option}: cannot create ${out}: ${(e as Error).message}`);
  }
  const lock = await lockFolder(out, `${option}: the experiment folder`);
  try {
    if ((await requireExperimentFolder(out, option)) === "empty") {
      await markKitFolder(out, "experiment");
    }
  } catch (e) {
    await lock.release();
    throw e;
  }
  return lock;
}

/**
 * {@linkcode inspectFolder} for an experiment folder: new, empty, marked by the kit, or one of an
 * older kit (it holds `aucs.json`, `report.html` or a variant folder with `data_identity.json`).
 * Anything else is refused: the job writes, and with `fresh` moves, folders inside it. Errors
 * name the folder as `option` (default `out`).
 */
export async function requireExperimentFolder(out: string, option = "out"): Promise<FolderKind> {
  const kind = await inspectFolder(out, option);
  if (kind !== "foreign") return kind;
  for await (const e of Deno.readDir(out)) {
    if (e.isFile && (e.name === "aucs.json" || e.name === "report.html")) return "legacy";
    if (e.isDirectory && (await exists(`${out}/${e.name}/${DATA_IDENTITY_FILE}`))) return "legacy";
  }
  throw new Error(
    `${option}: ${out} is not empty and is not an experiment folder of the kit; choose a new or ` +
      "empty folder",
  );
}

/** What {@linkcode checkExperimentInputs} checked. */
export interface ExperimentCheck {
  /** Distinct image files decoded. */
  images: number;
  /** Test sets (over all variants). */
  testSets: number;
  /** Runs of the experiment. */
  runs: number;
}

/**
 * Everything the experiment reads, checked before its first training step, without writing: every
 * strategy's split CSV (both splits) with its maps, every test set, every image and map decoded
 * (through the pixel cache the runs then read), and the run folders (a run folder holding
 * something else, an `eval` that is not a folder). Throws one error listing every problem; the
 * experiment folder and the run folders inside it are named as `outOption` (default `out`; the
 * command-line tools pass `--out`).
 */
export async function checkExperimentInputs(
  spec: ExperimentSpec,
  outOption = "out",
): Promise<ExperimentCheck> {
  const { problems, attempt } = problemCollector();
  const strategies = chosenStrategies(spec.strategies);
  const seeds = spec.seeds ?? spec.preset.seeds;
  await attempt(() => requireExperimentFolder(spec.out, outOption));
  const seen = new Set<string>();
  const images = new Set<string>();
  let testSetCount = 0;
  const check = async (opts: Parameters<typeof openDataset>[0]) => {
    const key = JSON.stringify(opts);
    if (seen.has(key)) return;
    seen.add(key);
    const ds = await attempt(() => openDataset(opts));
    if (!ds) return;
    problems.push(...(await ds.checkDecodes()));
    ds.imagePaths.forEach((p) => images.add(p));
    ds.close();
  };
  for (const variant of spec.variants) {
    for (const strategy of strategies) {
      const cfg = trainConfigFor(spec, variant, strategy, 0);
      const entry = getBackbone(cfg.network);
      const inputSize = cfg.inputSize ?? entry.spec.inputSize;
      const base = {
        imageRoot: cfg.dataset,
        inputSize,
        mean: entry.spec.mean,
        std: entry.spec.std,
      };
      const grid = entry.spec.camGrid(inputSize);
      const maps = cfg.alpha < 1 ? { dir: cfg.heatmaps!, grid } : undefined;
      await check({ ...base, csv: cfg.csv, split: "train", maps });
      await check({ ...base, csv: cfg.csv, split: "test" });
      if (strategy === strategies[0]) {
        const sets = await attempt(() => listTestSets(variant.root));
        testSetCount += sets?.length ?? 0;
        for (const t of sets ?? []) await check({ ...base, csv: t.csv, split: "test" });
      }
      for (let seed = 0; seed < seeds; seed++) {
        const dir = runPath(spec.out, variant.name, strategy.name, seed);
        await attempt(() => requireRunFolder(dir, outOption));
        const ev = await Deno.stat(`${dir}/eval`).catch(() => undefined);
        if (ev && !ev.isDirectory) problems.push(`${dir}/eval: not a folder (the scores go there)`);
      }
    }
  }
  if (problems.length) {
    throw new Error(
      `${problems.length} problem(s) with the experiment's inputs:\n${problems.join("\n")}`,
    );
  }
  return {
    images: images.size,
    testSets: testSetCount,
    runs: spec.variants.length * strategies.length * seeds,
  };
}
