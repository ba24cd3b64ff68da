/**
 * `deno task train`: trains one CYBORG model and writes a run folder (the paper's train_cam.py,
 * options in kebab-case). `deno task train --help` lists every option.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import {
  CONFIG_FIELDS,
  CONFIG_KEYS,
  configOption,
  configValue,
  flagName,
  type TrainConfig,
} from "../lib/config.ts";
import { getPreset, PRESETS } from "../lib/presets.ts";
import { fetchPretrained } from "../lib/pretrained.ts";
import { writePth } from "../lib/pth/mod.ts";
import { RunDir } from "../lib/run_dir.ts";
import { readSafetensors } from "../lib/safetensors.ts";
import { checkTrainInputs, type ResumeMode, train } from "../lib/train.ts";
import { isPthPath } from "../lib/weights.ts";

const EMBEDDED = "data/procfaces";
const field = configOption;

/**
 * The options of `deno task train`: one per config field ({@linkcode CONFIG_FIELDS}; the data
 * paths default to the embedded benchmark) and the options of the run itself.
 */
export const TRAIN_OPTIONS: OptionSpec[] = [
  {
    name: "preset",
    type: "string",
    help: "start from a preset's training settings",
    choices: Object.keys(PRESETS),
  },
  field("network"),
  field("inputSize"),
  field("alpha"),
  field("csv", { default: `${EMBEDDED}/csvs/original.csv` }),
  field("dataset", { default: EMBEDDED }),
  field("heatmaps", { default: `${EMBEDDED}/heatmaps` }),
  field("allowMissingMaps"),
  field("shuffleMaps"),
  field("valCsv"),
  {
    name: "output",
    type: "string",
    help: "run folder (default: results/<network>_a<alpha>_s<seed>)",
  },
  field("epochs"),
  field("batchSize"),
  field("lr"),
  field("momentum"),
  field("weightDecay"),
  field("lrStepSize"),
  field("lrGamma"),
  field("seed"),
  field("maxSteps"),
  field("camClass"),
  field("camTap"),
  field("initWeights"),
  {
    name: "pretrained",
    type: "string",
    help: "start from ImageNet weights (downloaded once into the cache; lib/pretrained.ts)",
    choices: ["imagenet"],
  },
  field("transformInput"),
  {
    name: "save-weights",
    type: "string",
    help: "also write the best weights here (.pth: PyTorch state_dict; else safetensors)",
  },
  field("logEvery"),
  {
    name: "resume",
    type: "boolean",
    help: "require a checkpoint to resume (a matching run resumes anyway)",
  },
  {
    name: "fresh",
    type: "boolean",
    help: "empty the run folder (only one the kit created) and start over",
  },
  {
    name: "check",
    type: "boolean",
    help: "only check every input (CSVs, images decode, maps, output), then exit",
  },
  {
    name: "backend",
    type: "string",
    help: "tensor backend (or env CYBORG_BACKEND)",
    choices: BACKEND_NAMES as string[],
  },
];

const USAGE =
  "deno task train [options]\n\nTrains a CYBORG model (the paper's recipe by default) and " +
  "writes results/<run>/: config.json, log.jsonl, checkpoints/, val_scores.csv, summary.json.";

/** Turns parsed options into a config (preset values apply where an option was not given). */
export function configFromArgs(
  args: string[],
): {
  cfg: TrainConfig;
  output: string;
  resume: ResumeMode;
  backend?: BackendName;
  saveWeights?: string;
  check: boolean;
  pretrained?: "imagenet";
} {
  const a = parseArgs(args, TRAIN_OPTIONS, USAGE);
  const given = new Set(
    args.filter((s) => s.startsWith("--")).map((s) => s.slice(2).split("=")[0]),
  );
  const preset: Partial<TrainConfig> = a.preset
    ? getPreset(a.preset as string, "--preset").train
    : {};
  // Each field: its option when given, else the preset's value, else the option's default.
  const cfg = Object.fromEntries(CONFIG_KEYS.map((key) => {
    const flag = CONFIG_FIELDS[key].flag;
    return [key, given.has(flag) || !(key in preset) ? configValue(key, a[flag]) : preset[key]];
  })) as unknown as TrainConfig;
  // The embedded maps are the default only when the loss uses maps.
  if (!(cfg.alpha < 1 || given.has("heatmaps"))) cfg.heatmaps = null;
  if (a.resume && a.fresh) throw new Error("--resume and --fresh exclude each other");
  if (a.pretrained && a["init-weights"]) {
    throw new Error("--pretrained and --init-weights exclude each other");
  }
  return {
    cfg,
    output: (a.output as string | undefined) ?? `results/${cfg.network}_a${cfg.alpha}_s${cfg.seed}`,
    resume: a.resume ? "must" : a.fresh ? "fresh" : "auto",
    backend: a.backend as BackendName | undefined,
    saveWeights: a["save-weights"] as string | undefined,
    check: Boolean(a.check),
    pretrained: a.pretrained as "imagenet" | undefined,
  };
}

/**
 * Writes a run's best weights to `dest` atomically, as a PyTorch state_dict when `dest` ends in
 * .pth/.pt, else as the safetensors file itself.
 */
export async function exportBest(best: string, dest: string): Promise<void> {
  if (!isPthPath(dest)) {
    const tmp = `${dest}.${Deno.pid}.tmp`;
    try {
      await Deno.copyFile(best, tmp);
      await Deno.rename(tmp, dest);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    return;
  }
  const { tensors } = await readSafetensors(best);
  const weights = new Map([...tensors].filter(([name]) => !name.startsWith("optimizer.")));
  await writePth(dest, weights);
}

if (import.meta.main) {
  await runCli(async () => {
    const { cfg, output, resume, backend, saveWeights, check, pretrained } = configFromArgs(
      Deno.args,
    );
    if (pretrained) cfg.initWeights = await fetchPretrained(cfg.network);
    if (cfg.csv.startsWith(`${EMBEDDED}/`) && !(await Deno.stat(cfg.csv).then(() => 1, () => 0))) {
      throw new Error(
        `--csv: ${cfg.csv} does not exist; generate the embedded data first with \`deno task data\`` +
          " (or pass --csv/--dataset/--heatmaps for your own data)",
      );
    }
    const writesAfter = saveWeights ? { "--save-weights": saveWeights } : undefined;
    if (check) {
      const c = await checkTrainInputs(cfg, { output, resume, fieldName: flagName, writesAfter });
      console.log(
        `inputs ok: ${c.trainImages} training images (${c.maps} with a map), ` +
          `${c.valImages} validation images decoded; ${output} can be written`,
      );
      return;
    }
    const info = await initBackend(backend);
    console.error(
      `backend ${info.name} (${info.adapter}${info.fallbackAdapter ? ", fallback adapter" : ""})`,
    );
    const summary = await train(cfg, { output, resume, fieldName: flagName, writesAfter });
    if (saveWeights) await exportBest(new RunDir(output).bestCheckpoint, saveWeights);
    console.log(JSON.stringify(summary, null, 2));
  });
}
