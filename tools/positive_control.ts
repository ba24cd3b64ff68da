/**
 * The positive-control experiment (data: `deno task data`, folders `procfaces-positive*`).
 *
 *   deno run -A tools/positive_control.ts derive --control DIR [--modes ...] [--soften S] ...
 *   deno run -A tools/positive_control.ts calibrate --data DIR [--preset quick] [--seeds 3]
 *     [--first-seed 100] [--out results/positive-calibration] [--jobs 1] [--modes ...]
 *   deno run -A tools/positive_control.ts evaluate --prereg prereg/positive_control.json
 *     [--data DIR] [--out results/positive] [--jobs 1]
 *
 * `calibrate` trains baselines (α = 1) on the three folders (mark, no mark, masked mark), or with
 * `--modes paper,paper-twin` on the paper-like pair, and writes `calibration.json`: T1/T2/T3 AUC
 * per seed, mean ± sd, the acceptance checks. `evaluate`
 * runs what a pre-registration file fixes (strategies, seeds, preset), refuses data whose decoy
 * differs from it, and writes `claims.json`, `COMPLETE.json` (with the file's SHA-256) and
 * `report.html`.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import { writeClaims } from "../lib/claims.ts";
import { COMPLETE_MARKER } from "../lib/data/procfaces/writer.ts";
import {
  derivePositiveControl,
  isPaperLike,
  POSITIVE_DIRS,
  POSITIVE_MARK,
  type PositiveMode,
} from "../lib/data/procfaces/positive_control.ts";
import {
  type DataVariant,
  runExperiment,
  STRATEGIES,
  type StrategyName,
} from "../lib/experiment/mod.ts";
import {
  calibrationChecks,
  type ControlSetting,
  markReliance,
  paperCalibrationChecks,
  POSITIVE_TESTS,
  positiveClaims,
  preregHypotheses,
  summary,
  testAucs,
  valAccuracies,
} from "../lib/positive_claims.ts";
import { getPreset, PRESETS } from "../lib/presets.ts";
import { accuracyCurvesFigure } from "../lib/plots/mod.ts";
import { aucTable, claimsBlocks, type Report, runCurves, writeReport } from "../lib/report/mod.ts";
import { aucResults, collectRuns } from "../lib/results.ts";
import { exists, writeJson } from "../lib/run_dir.ts";

const OPTIONS: OptionSpec[] = [
  {
    name: "data",
    type: "string",
    help: "folder holding procfaces-positive*/ (default data/32px-x1)",
  },
  { name: "out", type: "string", help: "experiment folder" },
  {
    name: "preset",
    type: "string",
    help: "calibrate: training recipe",
    choices: Object.keys(PRESETS),
  },
  {
    name: "seeds",
    type: "number",
    help: "calibrate: seeds per variant (default 3); evaluate: run only the first N of the " +
      "pre-registration's seeds (recorded as a deviation)",
  },
  { name: "first-seed", type: "number", help: "calibrate: first seed (default 100)" },
  { name: "prereg", type: "string", help: "evaluate: the pre-registration JSON" },
  {
    name: "modes",
    type: "string",
    help: "derive/calibrate: comma-separated subset of mark,nomark,masked,paper,paper-twin " +
      "(default mark,nomark,masked)",
  },
  { name: "control", type: "string", help: "derive: the procfaces-control folder" },
  { name: "amplitude", type: "number", help: "derive: the mark's brightness (default 80)" },
  {
    name: "size-frac",
    type: "number",
    help: "derive: the mark's diameter / side (default 0.1875)",
  },
  { name: "soften", type: "number", help: "derive: artifact attenuation in [0, 1] (default 0)" },
  {
    name: "heavy-fraction",
    type: "number",
    help: "derive: share of the images (either class) whose artifacts are erased (default none)",
  },
  {
    name: "heavy-passes",
    type: "number",
    help: "derive: full blur passes that erase them (default 3)",
  },
  { name: "jobs", type: "number", help: "runs at a time, each in its own process", default: 1 },
  { name: "backend", type: "string", help: "tensor backend", choices: BACKEND_NAMES as string[] },
];
const USAGE = "deno run -A tools/positive_control.ts derive|calibrate|evaluate [options]";

/** The fields of a pre-registration file that the run depends on. */
export interface Prereg {
  setting: string;
  preset: string;
  strategies: StrategyName[];
  first_seed: number;
  seeds: number;
  mark: { amplitude: number; sizeFrac: number };
  soften: number;
  /** The tested hypotheses (`preregHypotheses`); without them the original two. */
  hypotheses?: unknown;
  /** The data folder trained on: `mark` (default), `nomark` or `masked`. */
  mode?: string;
  /** The erased share of the images, when the folder has one (`HeavySoften`). */
  heavy?: { fraction: number; passes: number };
  [k: string]: unknown;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const VARIANT_NAMES: Readonly<Record<PositiveMode, string>> = {
  mark: "positive",
  nomark: "positive-nomark",
  masked: "positive-masked",
  paper: "paperlike",
  "paper-twin": "paperlike-twin",
};

function variantsOf(data: string): Record<PositiveMode, DataVariant> {
  const modes = Object.keys(POSITIVE_DIRS) as PositiveMode[];
  return Object.fromEntries(
    modes.map((m) => [m, { name: VARIANT_NAMES[m], root: `${data}/${POSITIVE_DIRS[m]}` }]),
  ) as Record<PositiveMode, DataVariant>;
}

/** The settings a pre-registration may name. */
const SETTINGS: readonly ControlSetting[] = [
  "positive",
  "negative",
  "paper_like",
  "paper_like_twin",
];

async function requireData(
  v: DataVariant,
): Promise<
  {
    spec: { amplitude: number; sizeFrac: number };
    soften: number;
    heavy?: { fraction: number; passes: number };
  }
> {
  const p = `${v.root}/${COMPLETE_MARKER}`;
  if (!(await exists(p))) {
    throw new Error(`--data: ${p} does not exist (run deno task data with the same --size/--out)`);
  }
  return JSON.parse(await Deno.readTextFile(p));
}

function int(v: unknown, flag: string, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min) {
    throw new Error(`${flag}: expected an integer >= ${min}, got ${v}`);
  }
  return v as number;
}

/** Reads a pre-registration file (errors name `--prereg` and the file); returns it and its bytes. */
export async function readPrereg(path: string): Promise<{ prereg: Prereg; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`--prereg: ${path} does not exist`);
    throw e;
  }
  let prereg: Prereg;
  try {
    prereg = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`--prereg: ${path} is not JSON (${(e as Error).message})`);
  }
  for (const k of ["setting", "preset", "strategies", "first_seed", "seeds", "mark", "soften"]) {
    if (!(k in prereg)) throw new Error(`--prereg: ${path} has no "${k}"`);
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

/** Runs one phase; returns the folder written. */
export async function positiveControl(args: string[]): Promise<string> {
  const [phase, ...rest] = args;
  if (phase === "--help" || phase === "-h") parseArgs([phase], OPTIONS, USAGE);
  const a = parseArgs(rest, OPTIONS, USAGE);
  if (phase !== "derive" && phase !== "calibrate" && phase !== "evaluate") {
    throw new Error(
      `expected derive, calibrate or evaluate as the first argument, got "${phase ?? ""}"`,
    );
  }
  const data = (a.data as string | undefined) ?? "data/32px-x1";
  const modes = ((a.modes as string | undefined) ?? "mark,nomark,masked").split(",").map((m) => {
    if (!(m in POSITIVE_DIRS)) {
      throw new Error(`--modes: "${m}" is not one of ${Object.keys(POSITIVE_DIRS).join(", ")}`);
    }
    return m as PositiveMode;
  });
  if (phase === "derive") {
    if (!a.control) throw new Error("--control: derive needs the procfaces-control folder");
    for (const mode of modes) {
      const r = await derivePositiveControl({
        control: a.control as string,
        out: data,
        mode,
        spec: {
          ...POSITIVE_MARK,
          amplitude: (a.amplitude as number | undefined) ?? POSITIVE_MARK.amplitude,
          sizeFrac: (a["size-frac"] as number | undefined) ?? POSITIVE_MARK.sizeFrac,
        },
        soften: a.soften as number | undefined,
        heavy: a["heavy-fraction"] === undefined ? undefined : {
          fraction: a["heavy-fraction"] as number,
          passes: (a["heavy-passes"] as number | undefined) ?? 3,
        },
      });
      console.log(`${r.dir}: ${r.images} images${r.upToDate ? " (up to date)" : ""}`);
    }
    return data;
  }
  const jobs = int(a.jobs, "--jobs", 1);
  await initBackend(a.backend as BackendName | undefined);
  const vs = variantsOf(data);
  if (phase === "calibrate") {
    const preset = getPreset((a.preset as string | undefined) ?? "quick", "--preset");
    const seeds = int(a.seeds ?? 3, "--seeds", 1);
    const firstSeed = int(a["first-seed"] ?? 100, "--first-seed", 0);
    const out = (a.out as string | undefined) ?? "results/positive-calibration";
    const chosen = modes.map((m) => vs[m]);
    for (const v of chosen) await requireData(v);
    await runExperiment({
      preset,
      variants: chosen,
      out,
      strategies: ["baseline"],
      seeds,
      firstSeed,
    }, {
      jobs,
      outOption: "--out",
      onRun: (r) => console.error(`[${r.index + 1}/${r.total}] ${r.dir}`),
    });
    const aucs = aucResults(await collectRuns(out));
    const perVariant = Object.fromEntries(
      chosen.map((v) => [
        v.name,
        Object.fromEntries(POSITIVE_TESTS.map((t) => {
          const values = testAucs(aucs, v.name, "baseline", t);
          return [t, { values, ...summary(values) }];
        })),
      ]),
    );
    const checks = modes.some(isPaperLike)
      ? paperCalibrationChecks(aucs, { paper: vs.paper.name, twin: vs["paper-twin"].name })
      : calibrationChecks(aucs, {
        mark: vs.mark.name,
        nomark: vs.nomark.name,
        masked: vs.masked.name,
      });
    await writeJson(`${out}/calibration.json`, {
      data,
      preset: preset.name,
      seeds: { first: firstSeed, n: seeds },
      auc: perVariant,
      checks,
    });
    for (const c of checks) {
      console.log(
        `${c.passed ? "PASS" : "FAIL"} ${c.id}: ${c.value?.toFixed(3) ?? "–"} (${c.criterion})`,
      );
    }
    return out;
  }

  if (!a.prereg) throw new Error("--prereg: evaluate needs the pre-registration file");
  const preregPath = a.prereg as string;
  const { prereg, bytes } = await readPrereg(preregPath);
  for (const s of prereg.strategies) {
    if (!STRATEGIES.some((x) => x.name === s) || s === "data7x") {
      throw new Error(`--prereg: ${preregPath}: strategy "${s}" cannot run on this setting`);
    }
  }
  const hash = await sha256(bytes);
  // The folder the runs train on: the decoy's (default) or, for the negative control, the one
  // without the mark.
  const mode = prereg.mode ?? "mark";
  if (!(mode in POSITIVE_DIRS)) {
    throw new Error(
      `--prereg: ${preregPath}: "mode" must be one of ${
        Object.keys(POSITIVE_DIRS).join(", ")
      }, got "${mode}"`,
    );
  }
  const setting = prereg.setting as ControlSetting;
  if (!SETTINGS.includes(setting)) {
    throw new Error(
      `--prereg: ${preregPath}: "setting" must be one of ${SETTINGS.join(", ")}, got ` +
        `"${prereg.setting}"`,
    );
  }
  const paper = isPaperLike(mode as PositiveMode);
  const variant = { name: prereg.setting, root: vs[mode as PositiveMode].root };
  const marker = await requireData(variant);
  if (
    marker.spec.amplitude !== prereg.mark.amplitude ||
    marker.spec.sizeFrac !== prereg.mark.sizeFrac || marker.soften !== prereg.soften ||
    JSON.stringify(marker.heavy ?? null) !== JSON.stringify(prereg.heavy ?? null)
  ) {
    throw new Error(
      `--data: ${variant.root} has the mark ${JSON.stringify(marker.spec)}, soften ` +
        `${marker.soften} and heavy ${JSON.stringify(marker.heavy ?? null)}, the ` +
        `pre-registration ${preregPath} fixes ${JSON.stringify(prereg.mark)}, soften ` +
        `${prereg.soften} and heavy ${JSON.stringify(prereg.heavy ?? null)}`,
    );
  }
  const out = (a.out as string | undefined) ?? "results/positive";
  const preset = getPreset(prereg.preset, "--preset");
  // Parsed before any training, so a malformed hypothesis fails at once.
  const specs = prereg.hypotheses === undefined
    ? undefined
    : preregHypotheses(prereg, variant.name, preregPath);
  for (const h of specs ?? []) {
    for (const arm of [h.a, h.b]) {
      if (!prereg.strategies.includes(arm as StrategyName)) {
        throw new Error(
          `--prereg: ${preregPath}: hypothesis "${h.id}" compares "${arm}", which is not one of ` +
            `its strategies (${prereg.strategies.join(", ")})`,
        );
      }
    }
  }
  const preregSeeds = int(prereg.seeds, "--prereg seeds", 1);
  const seeds = a.seeds === undefined ? preregSeeds : int(a.seeds, "--seeds", 1);
  if (seeds > preregSeeds) {
    throw new Error(
      `--seeds: ${seeds} is more than the ${preregSeeds} seeds ${preregPath} fixes`,
    );
  }
  await runExperiment({
    preset,
    variants: [variant],
    out,
    strategies: prereg.strategies,
    seeds,
    firstSeed: int(prereg.first_seed, "--prereg first_seed", 0),
  }, {
    jobs,
    outOption: "--out",
    onRun: (r) => console.error(`[${r.index + 1}/${r.total}] ${r.dir}`),
  });
  const runs = await collectRuns(out);
  const aucs = aucResults(runs);
  const claims = positiveClaims(aucs, variant.name, 0.02, specs, setting, runs);
  await writeClaims(`${out}/claims.json`, claims);
  // Reported, not tested: how much adding the mark moves a real image's score (the paper-like
  // setting: how much the seen generators' fingerprint moves a fake's).
  const [marked, unmarked] = paper ? ["t3_fake", "t2_fake"] : ["t1_real", "t2_real"];
  const reliance = prereg.strategies.map((strategy) => {
    const mine = runs.filter((r) => r.variant === variant.name && r.strategy === strategy)
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
  const relianceMetric = paper
    ? "mean change in a fake's score (probability of Synthetic) when the seen generators' " +
      "fingerprint is added (t3_fake vs its t2_fake twin), per run"
    : "mean change in a real image's score (probability of Synthetic) when the mark is " +
      "added (t1_real vs its t2_real twin), per run";
  await writeJson(`${out}/reliance.json`, { metric: relianceMetric, strategies: reliance });
  const curves = runCurves(runs.filter((r) => r.variant === variant.name));
  const valAcc = prereg.strategies.map((strategy) => ({
    strategy,
    ...summary(valAccuracies(runs, variant.name, strategy)),
  }));
  const report: Report = {
    title: typeof prereg.title === "string" ? prereg.title : "Positive control",
    subtitle: `${out} — pre-registration ${preregPath}, SHA-256 ${hash}`,
    sections: [
      {
        title: "Pre-registration",
        blocks: [{
          kind: "text",
          text: `${preregPath} (SHA-256 ${hash}), fixed before these runs:\n` +
            new TextDecoder().decode(bytes) +
            (seeds < preregSeeds
              ? `\nDeviation: ${seeds} of its ${preregSeeds} seeds per strategy were run ` +
                "(--seeds); each test's MDE says what they can detect."
              : ""),
        }],
      },
      {
        title: "AUC per paired test set",
        blocks: [{
          kind: "table",
          table: aucTable(aucs.map((x) => ({
            strategy: x.strategy,
            generator: x.generator.replace(/_fake$/, ""),
            seed: x.seed,
            auc: x.auc,
          }))),
        }],
      },
      { title: "Hypotheses and checks", blocks: claimsBlocks(claims) },
      {
        title: paper
          ? "Validation accuracy per epoch (the paper's Figure 3 analog; shifted validation)"
          : "Validation accuracy per epoch",
        blocks: [
          ...(curves.length
            ? [{
              kind: "figure" as const,
              figure: accuracyCurvesFigure(curves, { title: "Accuracy per epoch (mean ± sd)" }),
            }]
            : []),
          {
            kind: "table",
            table: {
              columns: ["strategy", "seeds", "mean validation accuracy over epochs", "sd"],
              rows: valAcc.map((r) => [
                r.strategy,
                r.n,
                r.mean?.toFixed(3) ?? "–",
                r.sd?.toFixed(3) ?? "–",
              ]),
            },
          },
        ],
      },
      {
        title: paper
          ? "Reliance on the seen fingerprint (reported, not tested)"
          : "Reliance on the mark (reported, not tested)",
        blocks: [{
          kind: "table",
          table: {
            columns: [
              "strategy",
              "seeds",
              paper
                ? "mean Δ score of a fake when the seen fingerprint is added"
                : "mean Δ score of a real when the mark is added",
              "sd",
            ],
            rows: reliance.map((r) => [
              r.strategy,
              r.n,
              r.mean?.toFixed(3) ?? "–",
              r.sd?.toFixed(3) ?? "–",
            ]),
          },
        }],
      },
    ],
  };
  await writeReport(`${out}/report.html`, report);
  await writeJson(`${out}/${COMPLETE_MARKER}`, {
    prereg: preregPath,
    prereg_sha256: hash,
    seeds: { prereg: preregSeeds, run: seeds },
    runs: aucs.filter((x) => x.generator === "t1_fake").length,
    reliance: Object.fromEntries(reliance.map((r) => [r.strategy, r.mean])),
    val_acc: Object.fromEntries(valAcc.map((r) => [r.strategy, r.mean])),
    verdicts: Object.fromEntries(claims.hypotheses.map((h) => [h.id, h.verdict])),
  });
  for (const h of claims.hypotheses) {
    console.log(
      `${h.id}: ${h.contrast} = ${h.estimate?.toFixed(3)} CI95 [${h.ci95[0]?.toFixed(3)}, ` +
        `${h.ci95[1]?.toFixed(3)}] p_holm ${h.p_holm?.toPrecision(2)} mde ${h.mde?.toFixed(3)}: ` +
        h.verdict,
    );
  }
  for (const r of reliance) {
    console.log(
      `${paper ? "fingerprint" : "mark"} reliance ${r.strategy}: ${r.mean?.toFixed(3)} ± ` +
        `${r.sd?.toFixed(3)} (n ${r.n})`,
    );
  }
  for (const r of valAcc) {
    console.log(`validation accuracy ${r.strategy}: ${r.mean?.toFixed(3)} ± ${r.sd?.toFixed(3)}`);
  }
  return out;
}

if (import.meta.main) {
  await runCli(() => positiveControl(Deno.args));
}
