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
 * differs from it, and writes `claims.json`, `reliance.json`, `COMPLETE.json` (with the file's
 * SHA-256) and `report.html` (`evaluateControl`, lib/experiment/controls.ts).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import {
  derivePositiveControl,
  isPaperLike,
  POSITIVE_DIRS,
  POSITIVE_MARK,
  type PositiveMode,
} from "../lib/data/procfaces/positive_control.ts";
import {
  controlFlagName,
  controlVariants,
  evaluateControl,
  requireControlData,
  runExperiment,
} from "../lib/experiment/mod.ts";
import {
  calibrationChecks,
  paperCalibrationChecks,
  POSITIVE_TESTS,
  summary,
  testAucs,
} from "../lib/positive_claims.ts";
import { getPreset, PRESETS, withRecipe } from "../lib/presets.ts";
import { controlSummaryLines } from "../lib/report/mod.ts";
import { aucResults, collectRuns } from "../lib/results.ts";
import { writeJson } from "../lib/run_dir.ts";

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
  { name: "epochs", type: "number", help: "calibrate: epochs instead of the preset's" },
  {
    name: "lr-step-size",
    type: "number",
    help: "calibrate: StepLR step (epochs) instead of the preset's",
  },
  { name: "lr", type: "number", help: "calibrate: learning rate instead of the preset's" },
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

function int(v: unknown, flag: string, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min) {
    throw new Error(`${flag}: expected an integer >= ${min}, got ${v}`);
  }
  return v as number;
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
  const vs = controlVariants(data);
  if (phase === "calibrate") {
    let preset = getPreset((a.preset as string | undefined) ?? "quick", "--preset");
    const recipe: Record<string, unknown> = {};
    for (
      const [flag, key] of [["epochs", "epochs"], ["lr-step-size", "lrStepSize"], ["lr", "lr"]]
    ) {
      if (a[flag] === undefined) continue;
      recipe[key] = a[flag];
      preset = withRecipe(preset, { [key]: a[flag] }, `--${flag}`);
    }
    const seeds = int(a.seeds ?? 3, "--seeds", 1);
    const firstSeed = int(a["first-seed"] ?? 100, "--first-seed", 0);
    const out = (a.out as string | undefined) ?? "results/positive-calibration";
    const chosen = modes.map((m) => vs[m]);
    for (const v of chosen) await requireControlData(v, "--data");
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
      recipe,
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
  const c = await evaluateControl({
    prereg: a.prereg as string,
    data,
    out: (a.out as string | undefined) ?? "results/positive",
    seeds: a.seeds as number | undefined,
    jobs,
    name: controlFlagName,
    onRun: (r) => console.error(`[${r.index + 1}/${r.total}] ${r.dir}`),
  });
  for (const l of controlSummaryLines(c)) console.log(l);
  return c.dir;
}

if (import.meta.main) {
  await runCli(() => positiveControl(Deno.args));
}
