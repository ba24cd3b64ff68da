/**
 * Notebook sessions: the settings cell at the top of every notebook (preset, backbone, data root),
 * and "use the finished runs, train only what is missing" with the same folder layout as
 * `deno task reproduce`, so notebooks and the main job share runs.
 *
 * The Deno kernel runs in `notebooks/` and resolves relative imports against its working
 * directory, so the kernel's directory is never changed for good: work that writes runs happens in
 * {@linkcode withCwd} at the project root (run configs then hold the same relative paths as the
 * reproduce job's), and every path handed back to the notebook is absolute.
 *
 * ```ts ignore
 * // In a notebook cell (trains whatever the preset's runs lack):
 * const nb = await setupNotebook({ preset: Deno.env.get("CYBORG_PRESET") ?? "quick" });
 * const runs = await ensureRuns(nb, ["baseline", "cyborg"]);
 * ```
 *
 * @module
 */
import { type BackendInfo, type BackendName, initBackend, parseBackendName } from "./backend.ts";
import type { Backbone } from "./backbones/types.ts";
import { loadRunModel } from "./cam_samples.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "./config.ts";
import { type RunSummary, train } from "./train.ts";
import { getBackbone } from "./backbones/registry.ts";
import {
  type ExperimentCamMetrics,
  experimentCamMetrics,
  runFolders,
} from "./experiment/cam_metrics.ts";
import {
  type ControlResult,
  presetControl,
  readControl,
  runPresetControl,
} from "./experiment/controls.ts";
import { embeddedVariants, ensureEmbeddedData } from "./experiment/embedded.ts";
import { writeMeanHumanMaps } from "./experiment/human_maps.ts";
import type { DataVariant } from "./experiment/run_config.ts";
import { runExperiment } from "./experiment/runner.ts";
import { STRATEGIES, type StrategyName } from "./experiment/strategies.ts";
import type { MeanHumanMaps } from "./report/experiment.ts";
import { displayBundle } from "./plots/display.ts";
import { type ControlRun, getPreset, type Preset } from "./presets.ts";
import { dataIdentity } from "./data_identity.ts";
import { collectRuns, type RunResult } from "./results.ts";
import { exists, readJsonIfExists, writeJson } from "./run_dir.ts";

import { flushIopub } from "./jupyter_iopub.ts";
export { flushIopub };

/**
 * Waits until the kernel has published everything this cell printed or displayed so far
 * ({@linkcode flushIopub}). End a cell with `await flushOutputs();` when it prints after its last
 * display: the cell's value stays `undefined`, so the kernel adds no execute_result of its own.
 */
export async function flushOutputs(): Promise<void> {
  await flushIopub();
}

/** What the settings cell chooses. */
export interface NotebookSettings {
  /** Preset name (`smoke`, `quick`, `paper`); notebooks pass `CYBORG_PRESET` (default quick). */
  preset: string;
  /** Backbone (default: the preset's). */
  network?: string;
  /** A data root in the paper's layout (default: the embedded benchmark, both variants). */
  data?: string;
  /** Experiment folder relative to the project root (default `results/<preset>`). */
  out?: string;
  /** Generate the embedded data when it is missing (default true). */
  generateData?: boolean;
  /** Tensor backend (default: `CYBORG_BACKEND`, else `auto`). */
  backend?: BackendName;
}

/** A notebook session: the resolved settings, with absolute paths for reading. */
export interface NotebookContext {
  /** Absolute project root (the folder holding `deno.json`). */
  root: string;
  /** The preset. */
  preset: Preset;
  /** Backbone. */
  network: string;
  /** Input size of the runs. */
  inputSize: number;
  /** Data variants, roots relative to {@linkcode NotebookContext.root} (as the reproduce job's). */
  variants: DataVariant[];
  /** Experiment folder relative to the root, e.g. `results/quick`. */
  out: string;
  /** True for the embedded procedural benchmark. */
  procedural: boolean;
  /** The tensor backend in use. */
  backend: BackendInfo;
}

/** The project root: the parent of `lib/`. */
export function projectRoot(): string {
  return decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
}

/** `path` made absolute against the project root (absolute paths are returned as is). */
export function rootPath(ctx: { root: string }, path: string): string {
  return path.startsWith("/") ? path : `${ctx.root}/${path.replace(/^\.\//, "")}`;
}

/**
 * Runs `fn` with the working directory set to `dir`, restoring the previous one afterwards (also
 * when `fn` throws). Calls do not nest concurrently: a notebook runs one cell at a time.
 */
export async function withCwd<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = Deno.cwd();
  Deno.chdir(dir);
  try {
    return await fn();
  } finally {
    Deno.chdir(previous);
  }
}

/**
 * Validates the settings without touching the disk (errors name the setting and the environment
 * variable the notebooks read it from).
 */
export function resolveSettings(
  s: NotebookSettings,
): { preset: Preset; network: string; inputSize: number; out: string } {
  const preset = getPreset(s.preset, "preset (CYBORG_PRESET)");
  const network = s.network ?? preset.train.network!;
  const entry = getBackbone(network);
  const inputSize = preset.train.inputSize ?? entry.spec.inputSize;
  if (inputSize < entry.spec.minInputSize) {
    throw new Error(
      `network: ${network} needs inputs of at least ${entry.spec.minInputSize} px; preset ` +
        `"${preset.name}" trains at ${inputSize} px`,
    );
  }
  const out = s.out ?? `results/${preset.name}`;
  if (out.startsWith("/") || out.split("/").includes("..")) {
    throw new Error(`out: "${out}" must be a folder inside the project (relative, no "..")`);
  }
  return { preset, network, inputSize, out };
}

/**
 * The settings cell's defaults, from the environment: `CYBORG_PRESET` (default `quick`; CI runs
 * the notebooks with `smoke`), `CYBORG_NETWORK` (default: the preset's backbone), `CYBORG_DATA`
 * (default: the embedded procedural benchmark), `CYBORG_OUT` (default `results/<preset>`, the
 * folder `deno task reproduce` writes), `CYBORG_BACKEND` (default auto).
 */
export function settingsFromEnv(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): NotebookSettings {
  const backend = env("CYBORG_BACKEND");
  return {
    preset: env("CYBORG_PRESET") ?? "quick",
    network: env("CYBORG_NETWORK"),
    data: env("CYBORG_DATA"),
    out: env("CYBORG_OUT"),
    ...(backend ? { backend: parseBackendName(backend, "CYBORG_BACKEND") } : {}),
  };
}

/**
 * A notebook's settings cell in one call: {@linkcode settingsFromEnv} overridden by `overrides`,
 * then {@linkcode setupNotebook}, then one line each for the preset, the backbone and backend,
 * and the data and run folder (waited for, so that under "Run All" they stay with this cell).
 *
 * @example
 * ```ts ignore
 * const nb = await startNotebook(); // or startNotebook({ preset: "smoke", data: "/path/to/root" })
 * ```
 */
export async function startNotebook(
  overrides: Partial<NotebookSettings> = {},
): Promise<NotebookContext> {
  const nb = await setupNotebook({ ...settingsFromEnv(), ...overrides });
  console.log(`preset ${nb.preset.name}: ${nb.preset.description}`);
  console.log(
    `backbone ${nb.network} at ${nb.inputSize} px on ${nb.backend.name} (${nb.backend.adapter})`,
  );
  console.log(
    `data: ${nb.variants.map((v) => `${v.name} = ${v.root}`).join(", ")}; runs: ${nb.out}/`,
  );
  await flushIopub();
  return nb;
}

/**
 * Starts a notebook session: validates the settings, initialises the backend (the `backend`
 * setting, else `CYBORG_BACKEND`, else auto), and makes sure the data exists (generating the preset's embedded benchmark when it
 * is missing, as the reproduce job does).
 */
export async function setupNotebook(
  settings: NotebookSettings,
  log: (line: string) => void = (l) => console.log(l),
): Promise<NotebookContext> {
  const r = resolveSettings(settings);
  const root = projectRoot();
  const backend = await initBackend(settings.backend);
  let variants: DataVariant[];
  if (settings.data) {
    const abs = rootPath({ root }, settings.data);
    if (!(await exists(`${abs}/csvs/original.csv`))) {
      throw new Error(
        `data (CYBORG_DATA): ${abs}/csvs/original.csv does not exist (expected the paper's layout)`,
      );
    }
    variants = [{ name: "data", root: settings.data }];
  } else if (settings.generateData === false) {
    variants = embeddedVariants(r.preset);
  } else {
    variants = await withCwd(root, () => ensureEmbeddedData(r.preset, log));
  }
  return { root, ...r, variants, procedural: !settings.data, backend };
}

/** Options of {@linkcode ensureRuns}. */
export interface EnsureRunsOptions {
  /** Seeds (default: the preset's). */
  seeds?: number;
  /** Only these variants (default: all of the session's). */
  variants?: readonly string[];
  /** One line per run started or found; default `console.log`. */
  log?: (line: string) => void;
  /** Training progress display (default: chosen by the environment, i.e. in place in Jupyter). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
}

/**
 * Makes sure every (variant, strategy, seed) run exists, finished and scored — finished runs are
 * reused, interrupted ones resumed, missing ones trained — and returns the collected runs of those
 * variants and strategies (absolute `dir`s), with the mean human maps written as the reproduce job
 * writes them.
 */
export async function ensureRuns(
  ctx: NotebookContext,
  strategies: readonly StrategyName[],
  opts: EnsureRunsOptions = {},
): Promise<RunResult[]> {
  for (const s of strategies) {
    if (!STRATEGIES.some((x) => x.name === s)) {
      throw new Error(
        `strategies: unknown strategy "${s}" (known: ${STRATEGIES.map((x) => x.name).join(", ")})`,
      );
    }
  }
  const variants = ctx.variants.filter((v) => !opts.variants || opts.variants.includes(v.name));
  if (opts.variants) {
    for (const name of opts.variants) {
      if (!ctx.variants.some((v) => v.name === name)) {
        throw new Error(
          `variants: unknown variant "${name}" (this session has ${
            ctx.variants.map((v) => v.name).join(", ")
          })`,
        );
      }
    }
  }
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  await ensureMeanHumanMaps(ctx, variants.map((v) => v.name));
  await withCwd(ctx.root, async () => {
    await runExperiment({
      preset: ctx.preset,
      network: ctx.network,
      variants,
      out: ctx.out,
      strategies,
      seeds: opts.seeds,
    }, {
      progress: opts.progress,
      onRun: (r) => log(`[${r.index + 1}/${r.total}] ${r.variant}/${r.strategy}/s${r.seed}`),
    });
  });
  const names = new Set(variants.map((v) => v.name));
  const seeds = opts.seeds ?? ctx.preset.seeds;
  const runs = (await collectRuns(rootPath(ctx, ctx.out))).filter((r) =>
    names.has(r.variant) && strategies.includes(r.strategy) && r.seed < seeds
  );
  log(
    `${runs.length} runs ready in ${rootPath(ctx, ctx.out)} ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return runs;
}

/**
 * Writes `<out>/<variant>/mean_human_map.json` (mean human map per class over the training rows,
 * at the backbone's CAM grid) for the session's variants that lack it, as the reproduce job does.
 */
export async function ensureMeanHumanMaps(
  ctx: NotebookContext,
  variants: readonly string[] = ctx.variants.map((v) => v.name),
): Promise<void> {
  await withCwd(ctx.root, async () => {
    for (const v of ctx.variants.filter((x) => variants.includes(x.name))) {
      await writeMeanHumanMaps(v, ctx.out, ctx.network, ctx.inputSize);
    }
  });
}

/** A short training run of any backbone (the backbones notebook). */
export interface BackboneDemo {
  /** Registry name. */
  network: string;
  /** Input size in pixels (at least the backbone's minimum). */
  inputSize: number;
  /** Training steps (one epoch capped at this many steps). */
  steps: number;
  /** Batch size (default 8). */
  batchSize?: number;
  /** CYBORG α (default 0.5). */
  alpha?: number;
}

/**
 * Trains `demo.network` for a few steps with the CYBORG loss on the session's first variant, into
 * `<out>/backbone_demo/<network>_<size>px_<steps>steps` (a folder `collectRuns` does not mistake
 * for a strategy), reusing it when finished. Returns the run folder (absolute) and its summary.
 */
export async function trainBackboneDemo(
  ctx: NotebookContext,
  demo: BackboneDemo,
  progress?: "tty" | "jupyter" | "plain" | "silent",
): Promise<{ dir: string; summary: RunSummary }> {
  const entry = getBackbone(demo.network);
  if (!Number.isInteger(demo.inputSize) || demo.inputSize < entry.spec.minInputSize) {
    throw new Error(
      `inputSize: ${demo.network} needs an integer of at least ${entry.spec.minInputSize}, got ${demo.inputSize}`,
    );
  }
  if (!Number.isInteger(demo.steps) || demo.steps < 1) {
    throw new Error(`steps: must be a positive integer to train, got ${demo.steps}`);
  }
  const v = ctx.variants[0];
  const rel = `${ctx.out}/backbone_demo/${demo.network}_${demo.inputSize}px_${demo.steps}steps`;
  const cfg: TrainConfig = {
    ...DEFAULT_CONFIG,
    network: demo.network,
    inputSize: demo.inputSize,
    alpha: demo.alpha ?? 0.5,
    csv: `${v.root}/csvs/original.csv`,
    dataset: v.root,
    heatmaps: `${v.root}/heatmaps`,
    epochs: 1,
    maxSteps: demo.steps,
    batchSize: demo.batchSize ?? 8,
    logEvery: Math.max(1, Math.min(10, demo.steps)),
  };
  const summary = await withCwd(ctx.root, () => train(cfg, { output: rel, progress }));
  return { dir: rootPath(ctx, rel), summary };
}

/**
 * The model of a backbone demo: with `steps` > 0 the best checkpoint of
 * {@linkcode trainBackboneDemo}'s run (with its summary), with `steps` = 0 a freshly initialised
 * network (seed 0) for a forward-only look at the CAM path. Dispose `model.store` when done.
 */
export async function backboneDemoModel(
  ctx: NotebookContext,
  demo: BackboneDemo,
  progress?: "tty" | "jupyter" | "plain" | "silent",
): Promise<{ model: Backbone; summary?: RunSummary; dir?: string }> {
  if (demo.steps === 0) {
    const entry = getBackbone(demo.network);
    if (!Number.isInteger(demo.inputSize) || demo.inputSize < entry.spec.minInputSize) {
      throw new Error(
        `inputSize: ${demo.network} needs an integer of at least ${entry.spec.minInputSize}, got ${demo.inputSize}`,
      );
    }
    return { model: entry.build({ seed: 0, inputSize: demo.inputSize }) };
  }
  const { dir, summary } = await trainBackboneDemo(ctx, demo, progress);
  const { model } = await loadRunModel(dir);
  return { model, summary, dir };
}

/** The mean human maps the reproduce job stores per variant, if present. */
export async function readMeanHumanMaps(
  ctx: NotebookContext,
  variant: string,
): Promise<MeanHumanMaps | undefined> {
  return await readJsonIfExists<MeanHumanMaps>(
    `${rootPath(ctx, ctx.out)}/${variant}/mean_human_map.json`,
  );
}

/** Shows Markdown in the Deno kernel (e.g. a heading per data variant inside a loop). */
export async function displayMarkdown(markdown: string): Promise<void> {
  await displayBundle({ "text/markdown": markdown, "text/plain": markdown });
}

/** The controls a notebook session shows: the preset's `notebookControls`, else its `controls`. */
export function notebookControls(preset: Preset): readonly ControlRun[] {
  return preset.notebookControls ?? preset.controls ?? [];
}

/** A control as {@linkcode ensureControls} returns it: paths absolute, plus its data folder. */
export interface NotebookControl extends ControlResult {
  /** The data folder its runs trained on (absolute). */
  data: string;
  /** True when this call trained or evaluated anything (false: read from its folder). */
  evaluated: boolean;
}

/** Options of {@linkcode ensureControls}. */
export interface EnsureControlsOptions {
  /** The controls (default: {@linkcode notebookControls} of the session's preset). */
  controls?: readonly ControlRun[];
  /** One line per control (and per run started); default `console.log`. */
  log?: (line: string) => void;
  /** Training progress display (default: chosen by the environment). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
}

/**
 * Makes sure each control of the session's preset is evaluated in `<out>/<setting with _ as ->/`,
 * as the main job (`deno task reproduce`) writes it, and returns them in the preset's order: the
 * pre-registration, its setting, claims, reliance and runs. A control folder complete for its
 * pre-registration (`COMPLETE.json` with the file's SHA-256 and the seeds asked for) is read as it
 * is; otherwise its data is derived from the embedded control variant (kept when already derived)
 * and it is evaluated, resumably: finished runs are kept, missing ones trained. A session on other
 * data than the embedded benchmark (`CYBORG_DATA`) has no controls: an empty list.
 */
export async function ensureControls(
  ctx: NotebookContext,
  opts: EnsureControlsOptions = {},
): Promise<NotebookControl[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const controls = opts.controls ?? notebookControls(ctx.preset);
  if (!ctx.procedural) {
    log(
      "controls: none (they derive their data from the embedded benchmark; this session reads " +
        "CYBORG_DATA)",
    );
    return [];
  }
  const out: NotebookControl[] = [];
  for (const c of controls) {
    const t0 = performance.now();
    const r = await withCwd(ctx.root, async () => {
      const p = await presetControl(c, ctx.preset, ctx.out);
      const done = await readControl(p);
      if (done) return { ...done, data: p.data, evaluated: false };
      const r = await runPresetControl(c, ctx.preset, ctx.out, {
        progress: opts.progress,
        onRun: (i) => log(`[${i.index + 1}/${i.total}] ${i.variant}/${i.strategy}/s${i.seed}`),
      });
      return { ...r, data: p.data, evaluated: true };
    });
    const abs: NotebookControl = {
      ...r,
      dir: rootPath(ctx, r.dir),
      data: rootPath(ctx, r.data),
      variant: { ...r.variant, root: rootPath(ctx, r.variant.root) },
      runs: r.runs.map((x) => ({ ...x, dir: rootPath(ctx, x.dir) })),
    };
    log(
      `${c.prereg}: ${abs.runs.length} runs in ${abs.dir} ` +
        `(${r.evaluated ? "evaluated" : "read"}, ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s)`,
    );
    out.push(abs);
  }
  return out;
}

/**
 * The CAM metrics of a control's runs (`lib/experiment/cam_metrics.ts`: the positive decision
 * CAM's share in the artifact regions and the decoy's box next to their area shares, the CAM-MSE
 * against its template floor), cached where `deno task cam-metrics` writes them,
 * `<control>/<setting>/cam_metrics.json`: the file is reused while it holds the same runs and data
 * identity, else recomputed and written. Defined for a control that trains on the decoy folder
 * (`procfaces-positive/`, mode `mark`: the region rule of its test sets); others are an error.
 */
export async function controlCamMetrics(
  ctx: NotebookContext,
  control: Pick<NotebookControl, "dir" | "variant" | "mode">,
  log: (line: string) => void = () => {},
): Promise<ExperimentCamMetrics> {
  if (control.mode !== "mark") {
    throw new Error(
      `controlCamMetrics: ${control.dir} trains on the "${control.mode}" folder; the metrics ` +
        "are defined here for the positive control's decoy folder (mode mark)",
    );
  }
  const exp = `${control.dir}/${control.variant.name}`;
  const file = `${exp}/cam_metrics.json`;
  const cached = await readJsonIfExists<ExperimentCamMetrics>(file);
  if (cached?.format === "cyborg-kit-cam-metrics/1") {
    const runs = await runFolders(exp, "control");
    const key = (r: { strategy: string; seed: number }) => `${r.strategy}/s${r.seed}`;
    const same = JSON.stringify(runs.map(key)) === JSON.stringify(cached.runs.map(key)) &&
      cached.dataIdentity === await dataIdentity(control.variant.root);
    if (same) return cached;
  }
  // Relative paths from the root, as the command-line tool is run.
  const rel = (p: string) => p.startsWith(`${ctx.root}/`) ? p.slice(ctx.root.length + 1) : p;
  const r = await withCwd(
    ctx.root,
    () => experimentCamMetrics({ exp: rel(exp), data: rel(control.variant.root), log }),
  );
  await writeJson(file, r);
  return r;
}
