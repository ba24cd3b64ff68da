/**
 * `deno task score`: the paper's test.py. Scores the `test` rows of a split CSV, in CSV order, with
 * a trained network and writes `path,score` (score = sigmoid(logit of class 1 "Synthetic"), the
 * path as written in the CSV); prints AUC and accuracy (arg-max, as the paper's training log) over
 * the rows' labels.
 *
 *   deno task score --network densenet121 --weights final_model.safetensors \
 *     --csv csvs/test.csv --images Data/ --out scores.csv [--batch-size 32] [--backend auto]
 *
 * `--weights` is a torchvision-style state_dict as safetensors (see `lib/weights.ts` for converting
 * the paper's `.pth` files) or a kit checkpoint (`checkpoints/best.safetensors` of a run). Images
 * are resized to the network's input size (or `--input-size`) and normalised with its mean/std.
 * InceptionV3 runs with torchvision's `transform_input` on, as the paper's test.py has it, unless
 * the weights' `transform_input` metadata or `--transform-input false` say otherwise.
 *
 * @module
 */
import { basename } from "node:path";
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { BACKBONES, getBackbone } from "../lib/backbones/registry.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import { csvField } from "../lib/csv_out.ts";
import { openDataset } from "../lib/data/dataset.ts";
import { predict } from "../lib/evaluate.ts";
import { accuracy, rocAuc } from "../lib/metrics.ts";
import { Progress } from "../lib/progress.ts";
import { loadWeights } from "../lib/weights.ts";

/** The options of `deno task score`. */
export const SCORE_OPTIONS: OptionSpec[] = [
  {
    name: "network",
    type: "string",
    help: `backbone (${Object.keys(BACKBONES).join(", ")})`,
  },
  { name: "weights", type: "string", help: "weights (.safetensors state_dict or checkpoint)" },
  { name: "csv", type: "string", help: "split CSV; its 'test' rows are scored in order" },
  { name: "images", type: "string", help: "image root the CSV paths are relative to" },
  { name: "out", type: "string", help: "output CSV (path,score)" },
  { name: "batch-size", type: "number", help: "images per forward pass", default: 32 },
  { name: "input-size", type: "number", help: "input size in pixels (default: the network's)" },
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

const USAGE = "deno task score --network NAME --weights FILE --csv SPLIT.csv --images ROOT " +
  "--out scores.csv [options]";

/** What {@linkcode score} found. */
export interface ScoreSummary {
  /** Rows scored. */
  n: number;
  /** ROC AUC over the rows' labels (NaN when only one class is present). */
  auc: number;
  /** Arg-max accuracy. */
  accuracy: number;
  /** The output file. */
  out: string;
}

/** Options of {@linkcode score} (parsed command line). */
export interface ScoreOptions {
  /** Registry name. */
  network: string;
  /** Weights file. */
  weights: string;
  /** Split CSV. */
  csv: string;
  /** Image root. */
  images: string;
  /** Output CSV. */
  out: string;
  /** Batch size. */
  batchSize: number;
  /** Input size (default: the network's). */
  inputSize?: number;
  /** InceptionV3: `transform_input` (default: the weights' metadata, else on, as the paper). */
  transformInput?: boolean;
  /** Pixel cache folder, or false. */
  cacheDir?: string | false;
  /** Progress display (default: one on stderr). */
  progress?: Progress;
}

/** Scores a split and writes the output CSV atomically. The backend must be initialised. */
export async function score(opts: ScoreOptions): Promise<ScoreSummary> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
    throw new Error(`--batch-size: must be a positive integer (got ${opts.batchSize})`);
  }
  const entry = getBackbone(opts.network);
  if (opts.transformInput !== undefined && entry.spec.transformInputDefault === undefined) {
    throw new Error(`--transform-input: ${opts.network} has no transform_input (InceptionV3 only)`);
  }
  const model = entry.build({ seed: 0, inputSize: opts.inputSize });
  try {
    const report = await loadWeights(model, opts.weights);
    if (opts.transformInput !== undefined) model.transformInput = opts.transformInput;
    console.error(
      `${opts.weights}: ${report.loaded} tensors loaded into ${opts.network}` +
        (report.skipped.length ? `, ${report.skipped.length} skipped` : "") +
        (model.transformInput === undefined
          ? ""
          : `, transform_input ${model.transformInput ? "on" : "off"}`),
    );
    const ds = await openDataset({
      csv: opts.csv,
      imageRoot: opts.images,
      split: "test",
      inputSize: model.inputSize,
      mean: entry.spec.mean,
      std: entry.spec.std,
      cacheDir: opts.cacheDir,
    });
    try {
      const progress = opts.progress ?? new Progress(`score ${basename(opts.csv)}`, "img");
      const pred = await predict(model, ds, { batchSize: opts.batchSize, progress });
      await progress.done({ done: pred.labels.length, total: pred.labels.length });
      const lines = ["path,score"];
      pred.paths.forEach((p, i) => lines.push(`${csvField(p)},${pred.scores[i]}`));
      const tmp = `${opts.out}.${Deno.pid}.tmp`;
      await Deno.writeTextFile(tmp, lines.join("\n") + "\n");
      await Deno.rename(tmp, opts.out);
      const labels = pred.labels;
      const twoClasses = labels.some((l) => l === 0) && labels.some((l) => l === 1);
      return {
        n: labels.length,
        auc: twoClasses ? rocAuc(labels, pred.scores) : NaN,
        accuracy: accuracy(labels, pred.predicted),
        out: opts.out,
      };
    } finally {
      ds.close();
    }
  } finally {
    model.store.dispose();
  }
}

/** Command-line entry: parses `args`, scores, prints the summary. */
export async function main(args: string[]): Promise<ScoreSummary> {
  const a = parseArgs(args, SCORE_OPTIONS, USAGE);
  for (const name of ["network", "weights", "csv", "images", "out"]) {
    if (typeof a[name] !== "string" || a[name] === "") {
      throw new Error(`--${name} is required (see --help)`);
    }
  }
  const info = await initBackend(a.backend as BackendName);
  console.error(`backend ${info.name} (${info.adapter})`);
  const summary = await score({
    network: a.network as string,
    weights: a.weights as string,
    csv: a.csv as string,
    images: a.images as string,
    out: a.out as string,
    batchSize: a["batch-size"] as number,
    inputSize: a["input-size"] as number | undefined,
    transformInput: a["transform-input"] === undefined
      ? undefined
      : a["transform-input"] === "true",
    cacheDir: a["no-cache"] ? false : (a["cache-dir"] as string | undefined),
  });
  console.log(
    `${summary.n} images scored -> ${summary.out}\n` +
      `AUC ${Number.isNaN(summary.auc) ? "n/a (one class only)" : summary.auc.toFixed(4)}  ` +
      `accuracy ${summary.accuracy.toFixed(4)}`,
  );
  return summary;
}

if (import.meta.main) await runCli(() => main(Deno.args), "score");
