/**
 * `deno task reproduce`: the main job. Generates the embedded data when absent, trains the four
 * strategies × seeds on the shortcut benchmark and its control (or on `--data ROOT` in the paper's
 * layout), scores every test set, tests the pre-stated hypotheses into
 * `results/<preset>/claims.json` and writes `results/<preset>/report.html`. Resumable: run it
 * again to continue; runs trained on other data are refused unless `--fresh`. The last line
 * printed is `wall_s=<seconds>`.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { BACKBONES, getBackbone } from "../lib/backbones/registry.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import {
  checkExperimentInputs,
  controlFlagName,
  controlFolder,
  type DataVariant,
  ensureEmbeddedData,
  openExperimentFolder,
  PAPER_STRATEGIES,
  readPrereg,
  runExperiment,
  runPresetControl,
  STRATEGIES,
  type StrategyName,
  writeMeanHumanMaps,
} from "../lib/experiment/mod.ts";
import { type Claims, writeClaims } from "../lib/claims.ts";
import { experimentClaims } from "../lib/experiment_claims.ts";
import { getPreset, PRESETS } from "../lib/presets.ts";
import {
  buildExperimentReport,
  claimsBlocks,
  controlSummaryLines,
  writeReport,
} from "../lib/report/mod.ts";
import { aucResults, collectRuns } from "../lib/results.ts";
import { exists, readJsonIfExists, writeJson } from "../lib/run_dir.ts";
import { defaultJobs } from "../lib/run_pool.ts";
import { checkDataIdentity } from "../lib/data_identity.ts";
import { experimentRuns } from "../lib/experiment/mod.ts";
import {
  followArray,
  refuseLiveArray,
  requireAllComplete,
  resumeArgs,
  runOnSlurm,
} from "../lib/slurm/mod.ts";
import { checkSlurmOpts } from "../lib/slurm/sbatch.ts";

const OPTIONS: OptionSpec[] = [
  {
    name: "preset",
    type: "string",
    help: "experiment size",
    choices: Object.keys(PRESETS),
    default: "quick",
  },
  {
    name: "network",
    type: "string",
    help: `backbone (default: the preset's; ${Object.keys(BACKBONES).join(", ")})`,
  },
  {
    name: "data",
    type: "string",
    help: "a data root in the paper's layout (default: the embedded benchmark, both variants)",
  },
  { name: "out", type: "string", help: "experiment folder (default: results/<preset>)" },
  { name: "seeds", type: "integer", help: "seeds per strategy (default: the preset's)" },
  {
    name: "strategies",
    type: "string",
    help: `comma-separated subset of ${
      STRATEGIES.map((s) => s.name).join(",")
    } (default: the paper's ${PAPER_STRATEGIES.join(",")})`,
  },
  {
    name: "data-only",
    type: "boolean",
    help: "only generate the preset's embedded data, then exit",
  },
  {
    name: "backend",
    type: "string",
    help: "tensor backend (or env CYBORG_BACKEND)",
    choices: BACKEND_NAMES as string[],
  },
  {
    name: "fresh",
    type: "boolean",
    help: "move runs trained on other data to <out>.stale/ and retrain them (otherwise refused)",
  },
  {
    name: "check",
    type: "boolean",
    help: "only check every input (CSVs, images decode, maps, test sets, run folders), then exit",
  },
  {
    name: "jobs",
    type: "integer",
    help: "runs trained at a time, each in its own process (default: 1 on a GPU, else the " +
      "CPU cores, at most 4)",
  },
  {
    name: "executor",
    type: "string",
    help: "where runs train: local (--jobs child processes) or slurm (one job array; " +
      "default: slurm for a folder submitted before, else local)",
    choices: ["local", "slurm"],
  },
  {
    name: "slurm-opt",
    type: "string",
    help: "an sbatch option for the Slurm jobs, e.g. --slurm-opt=--partition=gpu (repeatable)",
  },
  { name: "gpus-per-run", type: "integer", help: "GPUs per Slurm array task (default: 0)" },
  { name: "no-wait", type: "boolean", help: "with --executor slurm: return after submitting" },
  {
    name: "dry-run",
    type: "boolean",
    help: "with --executor slurm: print the sbatch scripts, submit nothing",
  },
  {
    name: "collect",
    type: "boolean",
    help: "train no run of the grid: check every run finished and was scored, run the preset's " +
      "controls (its own job), write aucs.json and the report",
  },
];
const USAGE =
  "deno task reproduce [options]\n\nReproduces the paper's experiment (baseline, CYBORG, " +
  "segmentation masks, 7x data; N seeds) and writes results/<preset>/report.html.";

/** Runs the main job; returns the report path. */
export async function reproduce(args: string[]): Promise<string> {
  const t0 = performance.now();
  const resumed = await resumeArgs(args);
  args = resumed.args;
  // --slurm-opt is repeatable: collected here, the parser sees the last one.
  const slurmOpts = args.flatMap((x, i) =>
    x.startsWith("--slurm-opt=") ? [x.slice("--slurm-opt=".length)] : x === "--slurm-opt" &&
        args[i + 1] !== undefined
      ? [args[i + 1]]
      : []
  );
  const a = parseArgs(args, OPTIONS, USAGE);
  checkSlurmOpts(slurmOpts);
  const executor = (a.executor as string | undefined) ?? "local";
  const gpusPerRun = (a["gpus-per-run"] as number | undefined) ?? 0;
  if (gpusPerRun < 0) {
    throw new Error(`--gpus-per-run: expected an integer >= 0, got ${gpusPerRun}`);
  }
  if (executor !== "slurm") {
    for (const o of ["slurm-opt", "gpus-per-run", "no-wait", "dry-run"]) {
      if (a[o] !== undefined && a[o] !== false) {
        throw new Error(`--${o} needs --executor slurm`);
      }
    }
  }
  const preset = getPreset(a.preset as string, "--preset");
  const network = (a.network as string | undefined) ?? preset.train.network!;
  getBackbone(network, "--network");
  const strategies = a.strategies
    ? (a.strategies as string).split(",").map((s) => {
      if (!STRATEGIES.some((x) => x.name === s)) {
        throw new Error(`--strategies: unknown strategy "${s}"`);
      }
      return s as StrategyName;
    })
    : undefined;
  const info = await initBackend(a.backend as BackendName | undefined);
  const jobs = (a.jobs as number | undefined) ?? defaultJobs(info.name);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new Error(`--jobs: expected an integer >= 1, got ${a.jobs}`);
  }
  console.error(
    executor === "slurm"
      ? `backend ${info.name} here; runs go to Slurm (${a.jobs ?? "no limit on"} task(s) at a time)`
      : `backend ${info.name} (${info.adapter}), ${jobs} run(s) at a time`,
  );
  const out = (a.out as string | undefined) ?? `results/${preset.name}`;
  let variants: DataVariant[];
  if (a.data) {
    const root = a.data as string;
    if (!(await exists(`${root}/csvs/original.csv`))) {
      throw new Error(
        `--data: ${root}/csvs/original.csv does not exist (expected the paper's layout)`,
      );
    }
    variants = [{ name: "data", root }];
  } else {
    variants = await ensureEmbeddedData(preset, (l) => console.error(l));
    if (a["data-only"]) return variants[0].root;
  }
  const spec = {
    preset,
    network,
    variants,
    out,
    strategies,
    seeds: a.seeds as number | undefined,
  };
  const slurmOptions = () => {
    const pass = (name: string) => a[name] === undefined ? [] : [`--${name}`, String(a[name])];
    // --network only when given: the report job and a later `reproduce --out X` are the preset's
    // own job (and run its controls) exactly when this one is.
    const experiment = [
      "--preset",
      preset.name,
      ...["network", "data", "seeds", "strategies", "backend"].flatMap(pass),
      "--out",
      out,
    ];
    return {
      slurmOpts,
      gpusPerRun,
      parallel: a.jobs as number | undefined,
      wait: !a["no-wait"],
      dryRun: Boolean(a["dry-run"]),
      // The report job has one CPU: the preset's controls train there one at a time.
      collectArgs: [...experiment, "--jobs", "1"],
      argv: [
        ...experiment,
        "--executor",
        "slurm",
        ...slurmOpts.map((o) => `--slurm-opt=${o}`),
        ...(gpusPerRun ? ["--gpus-per-run", String(gpusPerRun)] : []),
        ...pass("jobs"),
      ],
      backend: (a.backend as BackendName | undefined) ?? "auto",
      name: `cyborg-${preset.name}`,
      log: (l: string) => console.error(l),
    };
  };
  if (a.check) {
    const c = await checkExperimentInputs(spec, "--out");
    console.log(
      `inputs ok: ${c.images} images decoded, ${c.testSets} test set(s), ${c.runs} run(s) to ` +
        `write under ${out}`,
    );
    return out;
  }
  if (a["dry-run"]) {
    await checkExperimentInputs(spec, "--out");
    const runs = await experimentRuns(spec, { checkIdentity: false }); // writes nothing
    await runOnSlurm(out, runs, slurmOptions(), async () => {});
    return out;
  }
  if (a.collect && !(await Deno.stat(out).then((st) => st.isDirectory, () => false))) {
    throw new Error(`--collect: ${out} is not an experiment folder (nothing to collect)`);
  }
  await using lock = await openExperimentFolder(out, "--out");
  const live = a.collect ? undefined : await refuseLiveArray(out, resumed.attach);
  await checkExperimentInputs(spec, "--out"); // everything, before any training
  const inputSize = preset.train.inputSize ?? getBackbone(network).spec.inputSize;
  for (const v of variants) {
    await checkDataIdentity(out, v, { fresh: Boolean(a.fresh), log: (l) => console.error(l) });
    await writeMeanHumanMaps(v, out, network, inputSize);
  }
  if (a.collect) {
    await requireAllComplete(await experimentRuns(spec));
  } else if (live) {
    const runs = await experimentRuns(spec);
    await lock.release();
    await followArray(out, live, runs, !a["no-wait"], (l) => console.error(l));
    return `${out}/report.html`;
  } else if (executor === "slurm") {
    const outcome = await runOnSlurm(
      out,
      await experimentRuns(spec),
      slurmOptions(),
      () => lock.release(),
    );
    if (outcome !== "nothing-to-run") return `${out}/report.html`;
    console.error("every run is finished and scored; writing the report");
  } else {
    await runExperiment(spec, {
      jobs,
      inputsChecked: true,
      outOption: "--out",
      onRun: (r) =>
        console.error(
          `[${r.index + 1}/${r.total}] ${r.variant}/${r.strategy}/s${r.seed} → ${r.dir}`,
        ),
      onRunDone: (r, s) =>
        console.error(`  done ${r.variant}/${r.strategy}/s${r.seed} in ${s.toFixed(1)} s`),
    });
  }
  // The preset's controls, on the embedded data, when the job is the preset's own (no --data,
  // --network, --strategies or --seeds), whichever executor trained the runs: with Slurm, the
  // report job (--collect) runs them.
  const own = !a.data && !a.network && !a.strategies && a.seeds === undefined;
  for (const c of own ? preset.controls ?? [] : []) {
    const r = await runPresetControl(c, preset, out, {
      jobs,
      name: controlFlagName,
      onRun: (r) => console.error(`[${r.index + 1}/${r.total}] ${r.dir}`),
      log: (l) => console.error(l),
    });
    for (const l of controlSummaryLines(r)) console.log(l);
  }
  if (!own && preset.controls?.length) {
    console.error(
      `controls: not run (they belong to the preset's own job; run one with deno run -A ` +
        `tools/positive_control.ts evaluate --prereg ${preset.controls[0].prereg})`,
    );
  }
  const runs = await collectRuns(out);
  const aucs = aucResults(runs);
  await writeJson(`${out}/aucs.json`, aucs);
  // The controls' pre-registered hypotheses join the main comparison's in one claims.json.
  const controls: { prereg: string; dir: string; claims: Claims }[] = [];
  for (const c of preset.controls ?? []) {
    const { prereg } = await readPrereg(c.prereg, controlFlagName);
    const dir = controlFolder(prereg.setting);
    const cl = await readJsonIfExists<Claims>(`${out}/${dir}/claims.json`);
    if (cl) controls.push({ prereg: c.prereg, dir, claims: cl });
  }
  const main = experimentClaims(aucs);
  const claims: Claims = {
    hypotheses: [...main.hypotheses, ...controls.flatMap((c) => c.claims.hypotheses)],
    calibration: [...main.calibration, ...controls.flatMap((c) => c.claims.calibration)],
  };
  await writeClaims(`${out}/claims.json`, claims);
  const report = await buildExperimentReport(runs, {
    claims: main,
    out,
    preset: preset.name,
    network,
    procedural: !a.data,
    wallSeconds: (performance.now() - t0) / 1000,
  });
  for (const c of controls) {
    report.sections.push({
      title: `Control: ${c.dir} (${c.prereg})`,
      blocks: [
        { kind: "text", text: `Full report: ${c.dir}/report.html.` },
        ...claimsBlocks(c.claims),
      ],
    });
  }
  await writeReport(`${out}/report.html`, report);
  console.error(`report: ${out}/report.html`);
  return `${out}/report.html`;
}

if (import.meta.main) {
  const t0 = performance.now();
  await runCli(() => reproduce(Deno.args));
  console.log(`wall_s=${((performance.now() - t0) / 1000).toFixed(1)}`);
}
