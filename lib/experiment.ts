/**
 * The paper's experiment as data and one resumable loop: four training strategies × seeds × data
 * variants, each run trained with {@linkcode train} and then scored on every test set.
 *
 * Folder layout (everything needed to redraw every figure without retraining):
 *
 *     <out>/<variant>/<strategy>/s<seed>/      a run folder (config.json, log.jsonl, checkpoints/, ...)
 *     <out>/<variant>/<strategy>/s<seed>/eval/<test set>.csv    path,label,score of the best checkpoint
 *     <out>/<variant>/<strategy>/s<seed>/eval/mean_cams.json    mean CAM per test set (CAM grid)
 *
 * @module
 */
import { getBackbone } from "./backbones/registry.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "./config.ts";
import { readSplitCsv } from "./data/csv.ts";
import { openDataset } from "./data/dataset.ts";
import { generate, VARIANT_DIRS } from "./data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "./data/procfaces/layout.ts";
import { COMPLETE_MARKER } from "./data/procfaces/writer.ts";
import { predict, scoresCsv } from "./evaluate.ts";
import type { Preset } from "./presets.ts";
import {
  exists,
  type FolderKind,
  inspectFolder,
  markKitFolder,
  readJsonIfExists,
  requireRunFolder,
  writeAtomic,
  writeJson,
} from "./run_dir.ts";
import { type FolderLock, lockFolder } from "./folder_lock.ts";
import { train } from "./train.ts";
import { currentBackend, initBackend } from "./backend.ts";
import { runJobsInChildren } from "./run_pool.ts";
import { checkDataIdentity, DATA_IDENTITY_FILE } from "./data_identity.ts";

/** Names of the training strategies: the paper's four and the shuffled-maps control. */
export type StrategyName = "baseline" | "cyborg" | "segmentation" | "data7x" | "shuffled";

/** A training strategy: α, which CSV, which maps. */
export interface Strategy {
  /** Folder and key name. */
  name: StrategyName;
  /** Label in figures and tables. */
  label: string;
  /** CYBORG α. */
  alpha: number;
  /** Split CSV relative to the data root. */
  csv: string;
  /** Map folder relative to the data root (null for α = 1). */
  maps: string | null;
  /** Each image trains on another same-class image's map (`TrainConfig.shuffleMaps`). */
  shuffleMaps?: boolean;
}

/**
 * Every strategy: the paper's four ({@linkcode PAPER_STRATEGIES}) and `shuffled`, CYBORG with
 * each image's map replaced by another same-class image's (tells a class-template prior from
 * per-image content).
 */
export const STRATEGIES: readonly Strategy[] = [
  { name: "baseline", label: "CE only (α=1)", alpha: 1, csv: "csvs/original.csv", maps: null },
  {
    name: "cyborg",
    label: "CYBORG (α=0.5, human maps)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "heatmaps",
  },
  {
    name: "segmentation",
    label: "Segmentation masks (α=0.5)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "masks",
  },
  {
    name: "data7x",
    label: "7× data (α=1)",
    alpha: 1,
    csv: "csvs/large_dataset_7x.csv",
    maps: null,
  },
  {
    name: "shuffled",
    label: "CYBORG, shuffled maps (α=0.5)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "heatmaps",
    shuffleMaps: true,
  },
];

/** The strategies a run gets when it names none: the paper's four (not the `shuffled` control). */
export const PAPER_STRATEGIES: readonly StrategyName[] = [
  "baseline",
  "cyborg",
  "segmentation",
  "data7x",
];

function chosenStrategies(names: readonly StrategyName[] | undefined): Strategy[] {
  const wanted = names ?? PAPER_STRATEGIES;
  return STRATEGIES.filter((s) => wanted.includes(s.name));
}

/** A data variant (e.g. the shortcut benchmark and its control). */
export interface DataVariant {
  /** Folder name under the experiment output. */
  name: string;
  /** Data root in the paper's layout. */
  root: string;
}

/** What to run. */
export interface ExperimentSpec {
  /** Preset (training overrides, seeds). */
  preset: Preset;
  /** Backbone (default: the preset's). */
  network?: string;
  /** Data variants. */
  variants: DataVariant[];
  /** Output folder, e.g. `results/quick`. */
  out: string;
  /** Strategies (default: all four). */
  strategies?: readonly StrategyName[];
  /** Number of seeds (default: the preset's). */
  seeds?: number;
  /** First seed: the runs use seeds firstSeed..firstSeed+seeds-1 (default 0). */
  firstSeed?: number;
}

/** One test set of a data root. */
export interface TestSet {
  /** Name (CSV base name). */
  name: string;
  /** CSV path. */
  csv: string;
  /** `fake` when every row is Synthetic, `real` when every row is Real, else `mixed`. */
  kind: "fake" | "real" | "mixed";
}

/** Lists `csvs/test_sets/*.csv` of a data root, sorted by name. */
export async function listTestSets(root: string): Promise<TestSet[]> {
  const dir = `${root}/csvs/test_sets`;
  const out: TestSet[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".csv")) continue;
    const csv = `${dir}/${e.name}`;
    const rows = await readSplitCsv(csv);
    const labels = new Set(rows.map((r) => r.label));
    const kind = labels.size === 2 ? "mixed" : labels.has(1) ? "fake" : "real";
    out.push({ name: e.name.slice(0, -4), csv, kind });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The run folder of one (variant, strategy, seed). */
export function runPath(out: string, variant: string, strategy: string, seed: number): string {
  return `${out}/${variant}/${strategy}/s${seed}`;
}

/** The training config of one run. */
export function trainConfigFor(
  spec: ExperimentSpec,
  variant: DataVariant,
  strategy: Strategy,
  seed: number,
): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    ...spec.preset.train,
    ...(spec.network ? { network: spec.network } : {}),
    alpha: strategy.alpha,
    csv: `${variant.root}/${strategy.csv}`,
    dataset: variant.root,
    heatmaps: strategy.maps ? `${variant.root}/${strategy.maps}` : null,
    shuffleMaps: strategy.shuffleMaps ?? false,
    seed,
    ...(strategy.name === "data7x" && spec.preset.data7xEqualSteps ? equalSteps(spec.preset) : {}),
  };
}

/** Epochs and StepLR step of the 7× strategy when it gets the others' number of steps. */
function equalSteps(preset: Preset): Partial<TrainConfig> {
  const epochs = preset.train.epochs ?? DEFAULT_CONFIG.epochs;
  const step = preset.train.lrStepSize ?? DEFAULT_CONFIG.lrStepSize;
  return {
    epochs: Math.max(1, Math.round(epochs / 7)),
    lrStepSize: Math.max(1, Math.round(step / 7)),
  };
}

/** Mean normalised CAM of one test set, per class, at the CAM grid (`eval/mean_cams.json`). */
export interface MeanCam {
  /** Grid side. */
  grid: number;
  /** Mean over the set's reals (absent when it has none). */
  real?: number[];
  /** Mean over the set's fakes (absent when it has none). */
  fake?: number[];
}

/**
 * Scores every test set with the run's best checkpoint: `eval/<set>.csv` (path,label,score) and
 * `eval/mean_cams.json` (mean normalised CAM per test set and class). Skips sets already scored.
 */
export async function evaluateRun(
  runDir: string,
  cfg: TrainConfig,
  testSets: readonly TestSet[],
): Promise<void> {
  const evalDir = `${runDir}/eval`;
  const camsPath = `${evalDir}/mean_cams.json`;
  const todo: TestSet[] = [];
  for (const t of testSets) {
    if (!(await exists(`${evalDir}/${t.name}.csv`))) todo.push(t);
  }
  if (todo.length === 0 && (await exists(camsPath))) return;
  await Deno.mkdir(evalDir, { recursive: true });
  const entry = getBackbone(cfg.network);
  const inputSize = cfg.inputSize ?? entry.spec.inputSize;
  const model = entry.build({ seed: cfg.seed, inputSize });
  await loadCheckpoint(`${runDir}/checkpoints/best.safetensors`, model, null);
  const cams = (await readJsonIfExists<Record<string, MeanCam>>(camsPath)) ?? {};
  for (const t of testSets) {
    if (!todo.includes(t) && cams[t.name]) continue;
    const ds = await openDataset({
      csv: t.csv,
      imageRoot: cfg.dataset,
      split: "test",
      inputSize,
      mean: entry.spec.mean,
      std: entry.spec.std,
    });
    const p = await predict(model, ds, {
      batchSize: 64,
      cams: { tap: cfg.camTap, camClass: cfg.camClass },
    });
    await writeAtomic(
      `${evalDir}/${t.name}.csv`,
      scoresCsv(p),
    );
    const g = p.camGrid!;
    const entryCams: MeanCam = { grid: g };
    for (const [cls, key] of [[0, "real"], [1, "fake"]] as const) {
      const sum = new Float64Array(g * g);
      let n = 0;
      for (let i = 0; i < p.labels.length; i++) {
        if (p.labels[i] !== cls) continue;
        n++;
        for (let j = 0; j < g * g; j++) sum[j] += p.cams![i * g * g + j];
      }
      if (n) entryCams[key] = Array.from(sum, (v) => v / n);
    }
    cams[t.name] = entryCams;
  }
  await writeJson(camsPath, cams);
  model.store.dispose();
}

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
  const d = run.info.dir;
  if (!(await exists(`${d}/summary.json`)) || !(await exists(`${d}/eval/mean_cams.json`))) {
    return false;
  }
  for (const t of run.testSets) if (!(await exists(`${d}/eval/${t.name}.csv`))) return false;
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
  } = {},
): Promise<void> {
  await using _lock = await openExperimentFolder(spec.out);
  if (!opts.inputsChecked) await checkExperimentInputs(spec);
  const runs = await experimentRuns(spec);
  const jobs = opts.jobs ?? 1;
  if (jobs <= 1) {
    for (const r of runs) {
      opts.onRun?.(r.info);
      await train(r.cfg, { output: r.info.dir, progress: opts.progress });
      await evaluateRun(r.info.dir, r.cfg, r.testSets);
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
 * once, naming the holder. Release it (or hold it with `await using`).
 */
export async function openExperimentFolder(out: string): Promise<FolderLock> {
  try {
    await Deno.mkdir(out, { recursive: true });
  } catch (e) {
    throw new Error(`--out: cannot create ${out}: ${(e as Error).message}`);
  }
  const lock = await lockFolder(out, "--out: the experiment folder");
  try {
    if ((await requireExperimentFolder(out)) === "empty") await markKitFolder(out, "experiment");
  } catch (e) {
    await lock.release();
    throw e;
  }
  return lock;
}

/**
 * {@linkcode inspectFolder} for an experiment folder: new, empty, marked by the kit, or one of an
 * older kit (it holds `aucs.json`, `report.html` or a variant folder with `data_identity.json`).
 * Anything else is refused: the job writes, and with `--fresh` moves, folders inside it.
 */
export async function requireExperimentFolder(out: string): Promise<FolderKind> {
  const kind = await inspectFolder(out, "--out");
  if (kind !== "foreign") return kind;
  for await (const e of Deno.readDir(out)) {
    if (e.isFile && (e.name === "aucs.json" || e.name === "report.html")) return "legacy";
    if (e.isDirectory && (await exists(`${out}/${e.name}/${DATA_IDENTITY_FILE}`))) return "legacy";
  }
  throw new Error(
    `--out: ${out} is not empty and is not an experiment folder of the kit; choose a new or ` +
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
 * something else, an `eval` that is not a folder). Throws one error listing every problem.
 */
export async function checkExperimentInputs(spec: ExperimentSpec): Promise<ExperimentCheck> {
  const problems: string[] = [];
  const attempt = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };
  const strategies = chosenStrategies(spec.strategies);
  const seeds = spec.seeds ?? spec.preset.seeds;
  await attempt(() => requireExperimentFolder(spec.out));
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
        await attempt(() => requireRunFolder(dir));
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

/**
 * Mean human map (at the CAM grid) over the training rows of `<root>/csvs/original.csv`, per
 * class: the reference panel of the average-CAM figure. Written to
 * `<out>/<variant>/mean_human_map.json`, and kept while the CAM grid stays the same.
 */
export async function writeMeanHumanMaps(
  variant: DataVariant,
  out: string,
  network: string,
  inputSize: number,
): Promise<void> {
  await checkDataIdentity(out, variant, { log: (l) => console.error(l) });
  const path = `${out}/${variant.name}/mean_human_map.json`;
  const entry = getBackbone(network);
  const grid = entry.spec.camGrid(inputSize);
  // Reused only at the same CAM grid (another network or input size rewrites it).
  if ((await readJsonIfExists<{ grid: number }>(path))?.grid === grid) return;
  const ds = await openDataset({
    csv: `${variant.root}/csvs/original.csv`,
    imageRoot: variant.root,
    split: "train",
    inputSize,
    mean: entry.spec.mean,
    std: entry.spec.std,
    maps: { dir: `${variant.root}/heatmaps`, grid },
  });
  const sums = [new Float64Array(grid * grid), new Float64Array(grid * grid)];
  const counts = [0, 0];
  const all = ds.items.map((_, i) => i);
  for (let i = 0; i < all.length; i += 256) {
    const b = await ds.getBatch(all.slice(i, i + 256));
    for (let k = 0; k < b.n; k++) {
      const cls = b.y[k];
      counts[cls]++;
      for (let j = 0; j < grid * grid; j++) sums[cls][j] += b.maps![k * grid * grid + j];
    }
  }
  await Deno.mkdir(`${out}/${variant.name}`, { recursive: true });
  await writeJson(path, {
    grid,
    real: Array.from(sums[0], (v) => v / Math.max(counts[0], 1)),
    fake: Array.from(sums[1], (v) => v / Math.max(counts[1], 1)),
  });
}

/** Parent folder of a preset's embedded data: `data` for the paper-sized 64 px set, else `data/<size>px-x<scale>`. */
export function embeddedDataDir(preset: Preset): string {
  return preset.dataSize === 64 && preset.dataScale === 1
    ? "data"
    : `data/${preset.dataSize}px-x${preset.dataScale}`;
}

/** The embedded benchmark's two variants for a preset: the shortcut one and its control. */
export function embeddedVariants(preset: Preset): DataVariant[] {
  const dir = embeddedDataDir(preset);
  return [
    { name: "shortcut", root: `${dir}/${VARIANT_DIRS.shortcut}` },
    { name: "control", root: `${dir}/${VARIANT_DIRS.control}` },
  ];
}

/**
 * Brings the preset's embedded data up to date and returns its variants. The generator is
 * idempotent: when `COMPLETE.json` matches the options and the generator's source, it only
 * verifies (seconds); otherwise it (re)renders and replaces what differs.
 */
export async function ensureEmbeddedData(
  preset: Preset,
  log: (line: string) => void = () => {},
): Promise<DataVariant[]> {
  const variants = embeddedVariants(preset);
  const complete = await Promise.all(variants.map((v) => exists(`${v.root}/${COMPLETE_MARKER}`)));
  log(
    complete.every(Boolean)
      ? `checking the embedded data (${preset.dataSize} px, counts x${preset.dataScale}) ...`
      : `generating the embedded data (${preset.dataSize} px, counts x${preset.dataScale}) ...`,
  );
  const r = await generate({
    out: embeddedDataDir(preset),
    size: preset.dataSize,
    counts: scaleCounts(PAPER_COUNTS, preset.dataScale),
    log,
  });
  log(`embedded data ready: ${r.images} images per variant (${r.seconds.toFixed(1)} s)`);
  return variants;
}
