/**
 * `deno task score`: the paper's test.py. Scores the `test` rows of one or more split CSVs, in CSV
 * order, with a trained network and writes `path,label,score` per CSV (score = sigmoid(logit of
 * class 1 "Synthetic"), the path as written in the CSV, label 0 Real / 1 Synthetic, as a run
 * folder's `val_scores.csv`); prints, per CSV, the metrics detection benchmarks report: AUC, AP,
 * EER, arg-max accuracy (as the paper's training log) and TDR at FDR 0.1 / 0.2 / 1 / 5 %.
 *
 *   deno task score --weights results/run/checkpoints/best.safetensors \
 *     --csv data/csvs/test_sets/unseen_a.csv --csv data/csvs/test_sets/unseen_b.csv \
 *     --real data/csvs/test_sets/real_same.csv --out scores/ --metrics scores/metrics.csv
 *
 * A kit checkpoint or weights file records its network, input size, normalisation,
 * `transform_input` and class names, so `--weights` and `--csv` are enough; an option that
 * contradicts the file is an error. A PyTorch `.pth` or foreign state_dict carries none of that:
 * give `--network` (and `--input-size` when it was not the network's default).
 *
 * A test set of one class (the fakes of one generator) has no AUC of its own: `--real` names CSVs
 * of real faces that are scored once and pooled with each such set, as the report pools the real
 * test faces with each generator's fakes.
 *
 * `--images` defaults to the data root the CSV belongs to: the parent of its `csvs/` folder (the
 * paper's layout), else the CSV's own folder. With one `--csv`, `--out` is the output CSV; with
 * several it is a folder that receives `<csv name>.csv` for each.
 *
 * InceptionV3 runs with torchvision's `transform_input` on, as the paper's test.py has it, unless
 * the weights' `transform_input` metadata or `--transform-input false` say otherwise.
 *
 * @module
 */
import { basename, dirname, resolve } from "node:path";
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { BACKBONES, getBackbone } from "../lib/backbones/registry.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import { csvField } from "../lib/csv_out.ts";
import { openDataset } from "../lib/data/dataset.ts";
import { predict, type Predictions, scoresCsv } from "../lib/evaluate.ts";
import { accuracy, type BinaryEvaluation, evaluateScores } from "../lib/metrics.ts";
import { Progress } from "../lib/progress.ts";
import { checkWritable } from "../lib/run_dir.ts";
import { applyWeights, type ModelInfo, readModelInfo, readWeightsFile } from "../lib/weights.ts";

/** The options of `deno task score`. */
export const SCORE_OPTIONS: OptionSpec[] = [
  {
    name: "weights",
    type: "string",
    help: "weights (.safetensors or .pth state_dict, or a kit checkpoint)",
  },
  {
    name: "csv",
    type: "string",
    help: "split CSV whose 'test' rows are scored in order (repeat for several)",
    repeatable: true,
  },
  {
    name: "real",
    type: "string",
    help: "CSV whose Real test rows are pooled with each set of fakes for its metrics (repeatable)",
    repeatable: true,
  },
  {
    name: "network",
    type: "string",
    help: `backbone (${Object.keys(BACKBONES).join(", ")}); default: the one the weights record`,
  },
  {
    name: "images",
    type: "string",
    help: "image root the CSV paths are relative to (default: the CSV's data root)",
  },
  {
    name: "out",
    type: "string",
    help: "output CSV (path,label,score); a folder when several --csv are given",
  },
  { name: "metrics", type: "string", help: "also write the metrics table here (CSV)" },
  { name: "batch-size", type: "integer", help: "images per forward pass", default: 32 },
  {
    name: "input-size",
    type: "integer",
    help: "input size in pixels (default: the weights' or the network's)",
  },
  {
    name: "transform-input",
    type: "string",
    help: "InceptionV3: torchvision's transform_input (default: the weights' metadata, else on)",
    choices: ["true", "false"],
  },
  {
    name: "backend",
    type: "string",
    help: "tensor backend",
    choices: BACKEND_NAMES,
    default: "auto",
  },
  { name: "cache-dir", type: "string", help: "decoded-pixel cache folder (default data/.cache)" },
  { name: "no-cache", type: "boolean", help: "do not cache decoded pixels" },
];

const USAGE = "deno task score --weights FILE --csv SPLIT.csv [--csv ...] [--real REAL.csv] " +
  "[--out scores.csv|folder] [options]";

/** One scored CSV. */
export interface SetResult {
  /** The CSV. */
  csv: string;
  /** Rows scored. */
  n: number;
  /** Arg-max accuracy over the set's own rows. */
  accuracy: number;
  /** Detection metrics: on the set itself, or pooled with the `--real` faces; absent when impossible. */
  evaluation?: BinaryEvaluation;
  /** How `evaluation` was computed ("own rows", "pooled with N real faces") or why it is absent. */
  basis: string;
  /** The scores file written, if any. */
  out?: string;
}

/** What {@linkcode score} found. */
export interface ScoreSummary {
  /** The network and input size used. */
  network: string;
  /** See {@linkcode ScoreSummary.network}. */
  inputSize: number;
  /** One entry per `--csv`, in order. */
  sets: SetResult[];
}

/** Options of {@linkcode score} (parsed command line). */
export interface ScoreOptions {
  /** Weights file. */
  weights: string;
  /** Split CSVs. */
  csvs: string[];
  /** CSVs whose Real test rows are pooled with each set of fakes only. */
  real?: string[];
  /** Registry name (default: the one the weights record). */
  network?: string;
  /** Image root (default: each CSV's data root). */
  images?: string;
  /** Output CSV (one set) or folder (several). */
  out?: string;
  /** Metrics table CSV. */
  metrics?: string;
  /** Batch size. */
  batchSize: number;
  /** Input size (default: the weights' or the network's). */
  inputSize?: number;
  /** InceptionV3: `transform_input` (default: the weights' metadata, else on, as the paper). */
  transformInput?: boolean;
  /** Pixel cache folder, or false. */
  cacheDir?: string | false;
  /** Progress display mode (default: chosen by the environment). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
}

/** The data root a split CSV belongs to: the parent of its `csvs/` folder, else its folder. */
export function dataRootOf(csv: string): string {
  const dir = dirname(resolve(csv));
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    if (basename(d) === "csvs") return dirname(d);
  }
  return dir;
}

/**
 * Network and input size from the options and the weights' own record; a contradiction between
 * the two is an error naming the option and the file.
 */
export function resolveModel(
  opts: { network?: string; inputSize?: number },
  info: ModelInfo | undefined,
  declaredNetwork: string | undefined,
  weights: string,
): { network: string; inputSize?: number } {
  const recorded = info?.network ?? declaredNetwork;
  if (opts.network && recorded && opts.network !== recorded) {
    throw new Error(`--network ${opts.network}: ${weights} holds a ${recorded}`);
  }
  const network = opts.network ?? recorded;
  if (!network) {
    throw new Error(`--network is required: ${weights} does not record its network`);
  }
  if (opts.inputSize !== undefined && info && opts.inputSize !== info.inputSize) {
    throw new Error(
      `--input-size ${opts.inputSize}: ${weights} was trained at ${info.inputSize} px`,
    );
  }
  return { network, inputSize: opts.inputSize ?? info?.inputSize };
}

function outPathFor(opts: ScoreOptions, csv: string): string | undefined {
  if (!opts.out) return undefined;
  return opts.csvs.length === 1 ? opts.out : `${opts.out}/${basename(csv, ".csv")}.csv`;
}

async function writeText(path: string, text: string, option: string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${option}: cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Scores every CSV and writes the outputs atomically. The backend must be initialised. */
export async function score(opts: ScoreOptions): Promise<ScoreSummary> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
    throw new Error(`--batch-size: must be a positive integer (got ${opts.batchSize})`);
  }
  if (opts.csvs.length === 0) throw new Error("--csv is required (see --help)");
  const names = opts.csvs.map((c) => basename(c, ".csv"));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (opts.out && opts.csvs.length > 1 && dup) {
    throw new Error(`--csv: two CSVs are named ${dup}.csv; their outputs would collide in --out`);
  }
  // Every output is checked before the work, not after it.
  if (opts.out && opts.csvs.length > 1) {
    await Deno.mkdir(opts.out, { recursive: true }).catch((e) => {
      throw new Error(`--out: cannot create folder ${opts.out}: ${(e as Error).message}`);
    });
  }
  for (const csv of opts.csvs) {
    const out = outPathFor(opts, csv);
    if (out) await checkWritable(out, "--out", "file");
  }
  if (opts.metrics) await checkWritable(opts.metrics, "--metrics", "file");

  const file = await readWeightsFile(opts.weights);
  const info = readModelInfo(file.metadata, opts.weights);
  const { network, inputSize } = resolveModel(opts, info, file.metadata.network, opts.weights);
  const entry = getBackbone(network, "--network");
  if (opts.transformInput !== undefined && entry.spec.transformInputDefault === undefined) {
    throw new Error(`--transform-input: ${network} has no transform_input (InceptionV3 only)`);
  }
  if (opts.transformInput !== undefined && info && opts.transformInput !== info.transformInput) {
    throw new Error(
      `--transform-input ${opts.transformInput}: ${opts.weights} was trained with it ` +
        (info.transformInput ? "on" : "off"),
    );
  }
  const model = entry.build({ seed: 0, inputSize });
  try {
    const report = applyWeights(model, file.tensors, file.metadata, opts.weights);
    if (opts.transformInput !== undefined) model.transformInput = opts.transformInput;
    console.error(
      `${opts.weights}: ${report.loaded} tensors loaded into ${network} at ${model.inputSize} px` +
        (report.skipped.length ? `, ${report.skipped.length} skipped` : "") +
        (model.transformInput === undefined
          ? ""
          : `, transform_input ${model.transformInput ? "on" : "off"}`),
    );
    const run = async (csv: string): Promise<Predictions> => {
      const ds = await openDataset({
        csv,
        imageRoot: opts.images ?? dataRootOf(csv),
        split: "test",
        inputSize: model.inputSize,
        mean: entry.spec.mean,
        std: entry.spec.std,
        cacheDir: opts.cacheDir,
      });
      try {
        const progress = new Progress(`score ${basename(csv)}`, "img", opts.progress);
        const pred = await predict(model, ds, { batchSize: opts.batchSize, progress });
        await progress.done({ done: pred.labels.length, total: pred.labels.length });
        return pred;
      } finally {
        ds.close();
      }
    };
    const reals: number[] = [];
    for (const csv of opts.real ?? []) {
      const p = await run(csv);
      const mine = Array.from(p.scores).filter((_, i) => p.labels[i] === 0);
      if (!mine.length) throw new Error(`--real: ${csv} has no Real test rows`);
      reals.push(...mine);
    }
    const sets: SetResult[] = [];
    for (const csv of opts.csvs) {
      const p = await run(csv);
      const out = outPathFor(opts, csv);
      if (out) await writeText(out, scoresCsv(p), "--out");
      const labels = Array.from(p.labels);
      const both = labels.includes(0) && labels.includes(1);
      const onlyFakes = labels.length > 0 && labels.every((l) => l === 1);
      let evaluation: BinaryEvaluation | undefined;
      let basis: string;
      if (both) {
        evaluation = evaluateScores(labels, p.scores);
        basis = "own rows";
      } else if (onlyFakes && reals.length) {
        evaluation = evaluateScores(
          [...reals.map(() => 0), ...labels],
          [...reals, ...p.scores],
        );
        basis = `pooled with ${reals.length} real faces`;
      } else {
        basis = labels.length === 0
          ? "no test rows"
          : onlyFakes
          ? "one class only: pass --real REAL.csv to compare with real faces"
          : "one class only (real faces)";
      }
      sets.push({
        csv,
        n: labels.length,
        accuracy: labels.length ? accuracy(labels, p.predicted) : NaN,
        evaluation,
        basis,
        out,
      });
    }
    const summary = { network, inputSize: model.inputSize, sets };
    if (opts.metrics) await writeText(opts.metrics, metricsCsv(summary), "--metrics");
    return summary;
  } finally {
    model.store.dispose();
  }
}

const fmt = (v: number | undefined) => v === undefined || Number.isNaN(v) ? "" : v.toFixed(4);

/** The metrics of every set as CSV: set, n, AUC, AP, EER, accuracy, TDR@..., basis. */
export function metricsCsv(summary: ScoreSummary): string {
  const first = summary.sets.find((s) => s.evaluation)?.evaluation;
  const targets = first ? first.tdr.map((t) => t.fdr) : [];
  const head = [
    "set",
    "n",
    "auc",
    "ap",
    "eer",
    "accuracy",
    ...targets.map((t) => `tdr@${+(t * 100).toPrecision(3)}%`),
    "basis",
  ];
  const rows = summary.sets.map((s) =>
    [
      csvField(s.csv),
      String(s.n),
      fmt(s.evaluation?.auc),
      fmt(s.evaluation?.ap),
      fmt(s.evaluation?.eer),
      fmt(s.accuracy),
      ...targets.map((_, i) => fmt(s.evaluation?.tdr[i]?.tdr)),
      csvField(s.basis),
    ].join(",")
  );
  return [head.join(","), ...rows].join("\n") + "\n";
}

/** Command-line entry: parses `args`, scores, prints the per-set metrics. */
export async function main(args: string[]): Promise<ScoreSummary> {
  const a = parseArgs(args, SCORE_OPTIONS, USAGE);
  if (typeof a.weights !== "string" || a.weights === "") {
    throw new Error("--weights is required (see --help)");
  }
  const csvs = a.csv as string[];
  if (csvs.length === 0) throw new Error("--csv is required (see --help)");
  const info = await initBackend(a.backend as BackendName);
  console.error(`backend ${info.name} (${info.adapter})`);
  const summary = await score({
    weights: a.weights,
    csvs,
    real: a.real as string[],
    network: a.network as string | undefined,
    images: a.images as string | undefined,
    out: a.out as string | undefined,
    metrics: a.metrics as string | undefined,
    batchSize: a["batch-size"] as number,
    inputSize: a["input-size"] as number | undefined,
    transformInput: a["transform-input"] === undefined
      ? undefined
      : a["transform-input"] === "true",
    cacheDir: a["no-cache"] ? false : (a["cache-dir"] as string | undefined),
  });
  for (const s of summary.sets) {
    const e = s.evaluation;
    const tdr = e ? e.tdr.map((t) => `TDR@${+(t.fdr * 100).toPrecision(3)}% ${fmt(t.tdr)}`) : [];
    console.log(
      `${s.csv}: ${s.n} images${s.out ? ` -> ${s.out}` : ""}\n  ` +
        (e
          ? `AUC ${fmt(e.auc)}  AP ${fmt(e.ap)}  EER ${fmt(e.eer)}  accuracy ${fmt(s.accuracy)}  ` +
            `${tdr.join("  ")}  (${s.basis})`
          : `accuracy ${fmt(s.accuracy)}  (${s.basis})`),
    );
  }
  return summary;
}

if (import.meta.main) await runCli(() => main(Deno.args), "score");
