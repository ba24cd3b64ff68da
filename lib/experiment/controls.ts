/**
 * The benchmark's controls: settings fixed by a pre-registration file (`prereg/*.json`) and
 * evaluated on folders derived from the embedded benchmark's control variant
 * (`lib/data/procfaces/positive_control.ts`). {@linkcode evaluateControl} reads and checks the
 * file, refuses data whose decoy differs from it, runs what it fixes (strategies, seeds, preset)
 * and writes `claims.json`, `reliance.json`, `report.html` and `COMPLETE.json` (with the file's
 * SHA-256). {@linkcode runPresetControl} does the same for one control of a preset's main job:
 * derives its data from the embedded control variant, then evaluates into
 * `<out>/<setting with _ as ->/`. {@linkcode readControl} reads a finished control folder back.
 *
 * Errors name the options by their key (`prereg`, `data`, `out`, `seeds`); the command-line tools
 * pass {@linkcode controlFlagName} to name the flags instead.
 *
 * @module
 */
import { type Claims, writeClaims } from "../claims.ts";
import {
  derivePositiveControl,
  isPaperLike,
  POSITIVE_DIRS,
  POSITIVE_MARK,
  type PositiveMode,
} from "../data/procfaces/positive_control.ts";
import { COMPLETE_MARKER } from "../data/procfaces/writer.ts";
import {
  type ControlSetting,
  markReliance,
  positiveClaims,
  preregHypotheses,
  summary,
  valAccuracies,
} from "../positive_claims.ts";
import {
  type ControlRun,
  getPreset,
  type Preset,
  type RecipeOverride,
  withRecipe,
} from "../presets.ts";
import { controlReport } from "../report/controls.ts";
import { writeReport } from "../report/html.ts";
import { aucResults, collectRuns, type RunResult } from "../results.ts";
import { exists, readJsonIfExists, writeJson } from "../run_dir.ts";
import { embeddedDataDir } from "./embedded.ts";
import type { DataVariant } from "./run_config.ts";
import { type RunCallback, runExperiment, type RunInfo } from "./runner.ts";
import { STRATEGIES, type StrategyName } from "./strategies.ts";

/** The options a control's errors name. */
export type ControlOptionName = "prereg" | "data" | "out" | "seeds";

/**
 * How a control's errors name an option: by its key ({@linkcode controlKeyName}, the library's
 * default) or by its flag ({@linkcode controlFlagName}, the command-line tools).
 */
export type ControlFieldName = (key: ControlOptionName) => string;

/** Names an option by its key, e.g. `prereg`. */
export const controlKeyName: ControlFieldName = (key) => key;

/** Names an option by its command-line flag, e.g. `--prereg`. */
export const controlFlagName: ControlFieldName = (key) => `--${key}`;

/** The fields of a pre-registration file that the run depends on. */
export interface Prereg {
  /** Which control ({@linkcode CONTROL_SETTINGS}); also the variant folder's name. */
  setting: string;
  /** The training recipe (`lib/presets.ts`). */
  preset: string;
  /** The arms. */
  strategies: StrategyName[];
  /** The first seed. */
  first_seed: number;
  /** Seeds per arm. */
  seeds: number;
  /** The decoy mark (or the seen generators' fingerprint). */
  mark: { amplitude: number; sizeFrac: number };
  /** Artifact attenuation of every image. */
  soften: number;
  /** The tested hypotheses (`preregHypotheses`); without them the original two. */
  hypotheses?: unknown;
  /** The data folder trained on: `mark` (default), `nomark`, `masked`, `paper`, `paper-twin`. */
  mode?: string;
  /** The erased share of the images, when the folder has one (`HeavySoften`). */
  heavy?: { fraction: number; passes: number };
  /** Recipe keys replaced on top of the preset's (`withRecipe`). */
  train?: RecipeOverride;
  [k: string]: unknown;
}

/** The settings a pre-registration may name. */
export const CONTROL_SETTINGS: readonly ControlSetting[] = [
  "positive",
  "negative",
  "paper_like",
  "paper_like_twin",
];

/** The folder of a control's setting inside an experiment folder (`paper_like` → `paper-like`). */
export function controlFolder(setting: string): string {
  return setting.replaceAll("_", "-");
}

/** Variant names of the derived folders when several are trained side by side (calibration). */
const VARIANT_NAMES: Readonly<Record<PositiveMode, string>> = {
  mark: "positive",
  nomark: "positive-nomark",
  masked: "positive-masked",
  paper: "paperlike",
  "paper-twin": "paperlike-twin",
};

/** The derived folders under `data` as data variants, by mode (calibration's variant names). */
export function controlVariants(data: string): Record<PositiveMode, DataVariant> {
  const modes = Object.keys(POSITIVE_DIRS) as PositiveMode[];
  return Object.fromEntries(
    modes.map((m) => [m, { name: VARIANT_NAMES[m], root: `${data}/${POSITIVE_DIRS[m]}` }]),
  ) as Record<PositiveMode, DataVariant>;
}

/** What a derived folder's `COMPLETE.json` records about its derivation. */
export interface DerivedMarker {
  /** The mark. */
  spec: { amplitude: number; sizeFrac: number };
  /** The attenuation. */
  soften: number;
  /** The erased share, if any. */
  heavy?: { fraction: number; passes: number };
}

/** Reads a derived folder's marker; a folder without one is an error naming `option`. */
export async function requireControlData(
  v: DataVariant,
  option = "data",
): Promise<DerivedMarker> {
  const p = `${v.root}/${COMPLETE_MARKER}`;
  if (!(await exists(p))) {
    throw new Error(
      `${option}: ${p} does not exist (run deno task data with the same --size/--out)`,
    );
  }
  return JSON.parse(await Deno.readTextFile(p));
}

function int(v: unknown, what: string, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min) {
    throw new Error(`${what}: expected an integer >= ${min}, got ${v}`);
  }
  return v as number;
}

/** SHA-256 of bytes, hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a pre-registration file (errors name the option, default `prereg`, and the file); returns
 * it and its bytes.
 */
export async function readPrereg(
  path: string,
  name: ControlFieldName = controlKeyName,
): Promise<{ prereg: Prereg; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${name("prereg")}: ${path} does not exist`);
    }
    throw e;
  }
  let prereg: Prereg;
  try {
    prereg = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`${name("prereg")}: ${path} is not JSON (${(e as Error).message})`);
  }
  for (const k of ["setting", "preset", "strategies", "first_seed", "seeds", "mark", "soften"]) {
    if (!(k in prereg)) throw new Error(`${name("prereg")}: ${path} has no "${k}"`);
  }
  return { prereg, bytes };
}

/**
 * Derives the folder a pre-registration trains on (its mode, mark, attenuation and erased share)
 * from a control folder into `data`; a folder already derived with these settings is kept.
 */
export async function derivePrereg(prereg: Prereg, control: string, data: string): Promise<void> {
  await derivePositiveControl({
    control,
    out: data,
    mode: (prereg.mode ?? "mark") as PositiveMode,
    spec: { ...POSITIVE_MARK, ...prereg.mark },
    soften: prereg.soften,
    heavy: prereg.heavy,
  });
}

/**
 * The parent folder of the data a preset's control trains on: the parent of the folder the
 * pre-registration names (`data.folder`), else the preset's embedded data folder.
 */
export function preregDataRoot(prereg: Prereg, preset: Preset): string {
  const folder = (prereg.data as { folder?: unknown } | undefined)?.folder;
  return typeof folder === "string" && folder.includes("/")
    ? folder.slice(0, folder.lastIndexOf("/"))
    : embeddedDataDir(preset);
}

/** One strategy's reliance values (`reliance.json`). */
export interface StrategyReliance {
  /** The strategy. */
  strategy: StrategyName;
  /** Its seeds, ascending. */
  seeds: number[];
  /** The reliance of each seed's run. */
  values: number[];
  /** Mean over seeds (null without runs). */
  mean: number | null;
  /** Sample sd (null below 2 runs). */
  sd: number | null;
  /** Runs. */
  n: number;
}

/** `reliance.json`: reported, not tested. */
export interface RelianceFile {
  /** What the values are. */
  metric: string;
  /** Per strategy. */
  strategies: StrategyReliance[];
}

/** A control's results, as written to its folder. */
export interface ControlResult {
  /** The pre-registration file, as given. */
  prereg: string;
  /** Its SHA-256. */
  sha256: string;
  /** Its bytes (the report quotes them). */
  bytes: Uint8Array;
  /** Its title (default "Positive control"). */
  title: string;
  /** Its setting. */
  setting: ControlSetting;
  /** The data folder's mode. */
  mode: PositiveMode;
  /** True for the paper-like setting and its twin (T1–T3 are fingerprints on fakes). */
  paper: boolean;
  /** The arms. */
  strategies: StrategyName[];
  /** The control folder (`claims.json`, `report.html`, ...). */
  dir: string;
  /** The data variant trained on (its name is the setting; runs under `<dir>/<setting>/`). */
  variant: DataVariant;
  /** Seeds per arm the file fixes, and those run (fewer: a recorded deviation). */
  seeds: { prereg: number; run: number };
  /** The tested hypotheses and the evaluation's checks. */
  claims: Claims;
  /** Reliance on the mark (or on the seen fingerprint), per strategy. */
  reliance: RelianceFile;
  /** The control's runs. */
  runs: RunResult[];
}

/** Options of {@linkcode evaluateControl}. */
export interface EvaluateControlOptions {
  /** The pre-registration file. */
  prereg: string;
  /** The folder holding the derived `procfaces-positive*` / `procfaces-paperlike*` folders. */
  data: string;
  /** The control folder. */
  out: string;
  /** Run only the first N of the file's seeds (recorded as a deviation; default all). */
  seeds?: number;
  /** Runs at a time, each in its own process (default 1: in this process). */
  jobs?: number;
  /** How errors name the options (default: by key). */
  name?: ControlFieldName;
  /** Called as each run starts. */
  onRun?: RunCallback;
  /** Called as each run finishes (child processes only). */
  onRunDone?: (run: RunInfo, seconds: number) => void;
  /** Training progress display (in-process runs). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
}

/**
 * Reliance on the decoy per strategy: each run's mean change in a real image's score when the
 * mark is added (`t1_real` vs `t2_real`), or in the paper-like setting a fake's when the seen
 * fingerprint is added (`t3_fake` vs `t2_fake`).
 */
export function controlReliance(
  runs: readonly RunResult[],
  variant: string,
  strategies: readonly StrategyName[],
  paper: boolean,
): RelianceFile {
  const [marked, unmarked] = paper ? ["t3_fake", "t2_fake"] : ["t1_real", "t2_real"];
  const reliance = strategies.map((strategy) => {
    const mine = runs.filter((r) => r.variant === variant && r.strategy === strategy)
      .sort((a, b) => a.seed - b.seed);
    const values = mine.map((r) => {
      const [m, n] = [r.scores[marked], r.scores[unmarked]];
      if (!m?.paths || !n?.paths) {
        throw new Error(`${r.dir}: eval/${marked}.csv or ${unmarked}.csv missing`);
      }
      return markReliance({ paths: m.paths, scores: m.scores }, {
        paths: n.paths,
        scores: n.scores,
      });
    });
    return { strategy, seeds: mine.map((r) => r.seed), values, ...summary(values) };
  });
  const metric = paper
    ? "mean change in a fake's score (probability of Synthetic) when the seen generators' " +
      "fingerprint is added (t3_fake vs its t2_fake twin), per run"
    : "mean change in a real image's score (probability of Synthetic) when the mark is " +
      "added (t1_real vs its t2_real twin), per run";
  return { metric, strategies: reliance };
}

/** Mean validation accuracy over epochs per strategy: mean, sd and n over seeds. */
export function controlValAccuracy(
  runs: readonly RunResult[],
  variant: string,
  strategies: readonly StrategyName[],
): { strategy: StrategyName; mean: number | null; sd: number | null; n: number }[] {
  return strategies.map((strategy) => ({
    strategy,
    ...summary(valAccuracies(runs, variant, strategy)),
  }));
}

/**
 * Evaluates a pre-registration: checks the file (strategies, mode, setting, hypotheses and their
 * arms, seeds) and that the data was derived as it fixes, all before any training; runs its
 * strategies × seeds into `<out>/<setting>/` (resumable: finished runs are kept); writes
 * `claims.json`, `reliance.json`, `report.html` and `COMPLETE.json`.
 */
export async function evaluateControl(opts: EvaluateControlOptions): Promise<ControlResult> {
  const name = opts.name ?? controlKeyName;
  const preregPath = opts.prereg;
  const { prereg, bytes } = await readPrereg(preregPath, name);
  for (const s of prereg.strategies) {
    if (!STRATEGIES.some((x) => x.name === s) || s === "data7x") {
      throw new Error(
        `${name("prereg")}: ${preregPath}: strategy "${s}" cannot run on this setting`,
      );
    }
  }
  const hash = await sha256Hex(bytes);
  // The folder the runs train on: the decoy's (default) or, for the negative control, the one
  // without the mark.
  const mode = prereg.mode ?? "mark";
  if (!(mode in POSITIVE_DIRS)) {
    throw new Error(
      `${name("prereg")}: ${preregPath}: "mode" must be one of ${
        Object.keys(POSITIVE_DIRS).join(", ")
      }, got "${mode}"`,
    );
  }
  const setting = prereg.setting as ControlSetting;
  if (!CONTROL_SETTINGS.includes(setting)) {
    throw new Error(
      `${name("prereg")}: ${preregPath}: "setting" must be one of ${
        CONTROL_SETTINGS.join(", ")
      }, got "${prereg.setting}"`,
    );
  }
  const paper = isPaperLike(mode as PositiveMode);
  const variant = {
    name: prereg.setting,
    root: controlVariants(opts.data)[mode as PositiveMode].root,
  };
  const marker = await requireControlData(variant, name("data"));
  if (
    marker.spec.amplitude !== prereg.mark.amplitude ||
    marker.spec.sizeFrac !== prereg.mark.sizeFrac || marker.soften !== prereg.soften ||
    JSON.stringify(marker.heavy ?? null) !== JSON.stringify(prereg.heavy ?? null)
  ) {
    throw new Error(
      `${name("data")}: ${variant.root} has the mark ${JSON.stringify(marker.spec)}, soften ` +
        `${marker.soften} and heavy ${JSON.stringify(marker.heavy ?? null)}, the ` +
        `pre-registration ${preregPath} fixes ${JSON.stringify(prereg.mark)}, soften ` +
        `${prereg.soften} and heavy ${JSON.stringify(prereg.heavy ?? null)}`,
    );
  }
  const out = opts.out;
  const preset = withRecipe(
    getPreset(prereg.preset, `${name("prereg")} preset`),
    prereg.train,
    `${name("prereg")}: ${preregPath} train`,
  );
  // Parsed before any training, so a malformed hypothesis fails at once.
  const specs = prereg.hypotheses === undefined
    ? undefined
    : preregHypotheses(prereg, variant.name, preregPath, name("prereg"));
  for (const h of specs ?? []) {
    for (const arm of [h.a, h.b]) {
      if (!prereg.strategies.includes(arm as StrategyName)) {
        throw new Error(
          `${name("prereg")}: ${preregPath}: hypothesis "${h.id}" compares "${arm}", which is ` +
            `not one of its strategies (${prereg.strategies.join(", ")})`,
        );
      }
    }
  }
  const preregSeeds = int(prereg.seeds, `${name("prereg")} seeds`, 1);
  const seeds = opts.seeds === undefined ? preregSeeds : int(opts.seeds, name("seeds"), 1);
  if (seeds > preregSeeds) {
    throw new Error(
      `${name("seeds")}: ${seeds} is more than the ${preregSeeds} seeds ${preregPath} fixes`,
    );
  }
  await runExperiment({
    preset,
    variants: [variant],
    out,
    strategies: prereg.strategies,
    seeds,
    firstSeed: int(prereg.first_seed, `${name("prereg")} first_seed`, 0),
  }, {
    jobs: opts.jobs,
    outOption: name("out"),
    onRun: opts.onRun,
    onRunDone: opts.onRunDone,
    progress: opts.progress,
  });
  const runs = await collectRuns(out);
  const aucs = aucResults(runs);
  const claims = positiveClaims(aucs, variant.name, 0.02, specs, setting, runs);
  await writeClaims(`${out}/claims.json`, claims);
  // Reported, not tested: how much adding the mark moves a real image's score (the paper-like
  // setting: how much the seen generators' fingerprint moves a fake's).
  const reliance = controlReliance(runs, variant.name, prereg.strategies, paper);
  await writeJson(`${out}/reliance.json`, reliance);
  const result: ControlResult = {
    prereg: preregPath,
    sha256: hash,
    bytes,
    title: typeof prereg.title === "string" ? prereg.title : "Positive control",
    setting,
    mode: mode as PositiveMode,
    paper,
    strategies: prereg.strategies,
    dir: out,
    variant,
    seeds: { prereg: preregSeeds, run: seeds },
    claims,
    reliance,
    runs,
  };
  await writeReport(`${out}/report.html`, controlReport(result));
  const valAcc = controlValAccuracy(runs, variant.name, prereg.strategies);
  await writeJson(`${out}/${COMPLETE_MARKER}`, {
    prereg: preregPath,
    prereg_sha256: hash,
    seeds: { prereg: preregSeeds, run: seeds },
    runs: aucs.filter((x) => x.generator === "t1_fake").length,
    reliance: Object.fromEntries(reliance.strategies.map((r) => [r.strategy, r.mean])),
    val_acc: Object.fromEntries(valAcc.map((r) => [r.strategy, r.mean])),
    verdicts: Object.fromEntries(claims.hypotheses.map((h) => [h.id, h.verdict])),
  });
  return result;
}

/** What a finished control folder's `COMPLETE.json` holds. */
export interface ControlMarker {
  /** The pre-registration file. */
  prereg: string;
  /** Its SHA-256. */
  prereg_sha256: string;
  /** Seeds it fixes and seeds run (absent in folders of earlier builds: all were run). */
  seeds?: { prereg: number; run: number };
  /** Runs. */
  runs: number;
  /** Mean reliance per strategy. */
  reliance: Record<string, number | null>;
  /** Mean validation accuracy per strategy (absent in folders of earlier builds). */
  val_acc?: Record<string, number | null>;
  /** Verdict per hypothesis. */
  verdicts: Record<string, string>;
}

/** One control of a preset's main job: where its data and its folder are. */
export interface PresetControl {
  /** The pre-registration file, as the preset names it. */
  prereg: string;
  /** Its content. */
  file: Prereg;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Seeds to run (the preset's deviation, else the file's). */
  seeds: number;
  /** The parent folder of its derived data. */
  data: string;
  /** The control folder: `<out>/<setting with _ as ->`. */
  dir: string;
}

/** Where a preset's control trains and writes (reads its pre-registration; writes nothing). */
export async function presetControl(
  c: ControlRun,
  preset: Preset,
  out: string,
  name: ControlFieldName = controlKeyName,
): Promise<PresetControl> {
  const { prereg, bytes } = await readPrereg(c.prereg, name);
  return {
    prereg: c.prereg,
    file: prereg,
    bytes,
    seeds: c.seeds ?? prereg.seeds,
    data: preregDataRoot(prereg, preset),
    dir: `${out}/${controlFolder(prereg.setting)}`,
  };
}

/**
 * Runs one control of a preset's main job: derives its data from the preset's embedded control
 * variant (kept when already derived), then {@linkcode evaluateControl} into
 * `<out>/<setting with _ as ->/`, with the preset's seed count for it.
 */
export async function runPresetControl(
  c: ControlRun,
  preset: Preset,
  out: string,
  opts: Omit<EvaluateControlOptions, "prereg" | "data" | "out" | "seeds"> & {
    /** One line as the evaluation starts (`control <file> → <folder>`). */
    log?: (line: string) => void;
  } = {},
): Promise<ControlResult> {
  const p = await presetControl(c, preset, out, opts.name);
  await derivePrereg(p.file, `${embeddedDataDir(preset)}/procfaces-control`, p.data);
  opts.log?.(`control ${c.prereg} → ${p.dir}`);
  const { log: _log, ...rest } = opts;
  return await evaluateControl({
    ...rest,
    prereg: c.prereg,
    data: p.data,
    out: p.dir,
    seeds: c.seeds,
  });
}

/**
 * Reads a control folder written by {@linkcode evaluateControl} for the pre-registration `prereg`
 * with its data under `data`; undefined when the folder is not complete for this file (no
 * `COMPLETE.json`, another SHA-256, another number of seeds than `seeds`).
 */
export async function readControl(
  p: Pick<PresetControl, "prereg" | "file" | "bytes" | "seeds" | "data" | "dir">,
): Promise<ControlResult | undefined> {
  const done = await readJsonIfExists<ControlMarker>(`${p.dir}/${COMPLETE_MARKER}`);
  const hash = await sha256Hex(p.bytes);
  if (!done || done.prereg_sha256 !== hash) return undefined;
  if ((done.seeds?.run ?? p.file.seeds) !== p.seeds) return undefined;
  const claims = await readJsonIfExists<Claims>(`${p.dir}/claims.json`);
  const reliance = await readJsonIfExists<RelianceFile>(`${p.dir}/reliance.json`);
  if (!claims || !reliance) return undefined;
  const mode = (p.file.mode ?? "mark") as PositiveMode;
  return {
    prereg: p.prereg,
    sha256: hash,
    bytes: p.bytes,
    title: typeof p.file.title === "string" ? p.file.title : "Positive control",
    setting: p.file.setting as ControlSetting,
    mode,
    paper: isPaperLike(mode),
    strategies: p.file.strategies,
    dir: p.dir,
    variant: { name: p.file.setting, root: controlVariants(p.data)[mode].root },
    seeds: { prereg: p.file.seeds, run: p.seeds },
    claims,
    reliance,
    runs: (await collectRuns(p.dir)).filter((r) => r.variant === p.file.setting),
  };
}
