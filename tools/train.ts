/**
 * `deno task train`: trains one CYBORG model and writes a run folder (the paper's train_cam.py,
 * options in kebab-case). `deno task train --help` lists every option.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import { BACKBONES } from "../lib/backbones/registry.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "../lib/config.ts";
import { getPreset, PRESETS } from "../lib/presets.ts";
import { fetchPretrained } from "../lib/pretrained.ts";
import { writePth } from "../lib/pth/mod.ts";
import { checkWritable } from "../lib/run_dir.ts";
import { readSafetensors } from "../lib/safetensors.ts";
import { checkTrainInputs, type ResumeMode, train } from "../lib/train.ts";
import { isPthPath } from "../lib/weights.ts";

const EMBEDDED = "data/procfaces";
const D = DEFAULT_CONFIG;

/** The options of `deno task train`. */
export const TRAIN_OPTIONS: OptionSpec[] = [
  {
    name: "preset",
    type: "string",
    help: "start from a preset's training settings",
    choices: Object.keys(PRESETS),
  },
  {
    name: "network",
    type: "string",
    help: `backbone (${Object.keys(BACKBONES).join(", ")})`,
    default: D.network,
  },
  { name: "input-size", type: "integer", help: "input size in pixels (default: the network's)" },
  {
    name: "alpha",
    type: "number",
    help: "CYBORG alpha: loss = a*CE + (1-a)*MSE(CAM, map); 1 = baseline",
    default: D.alpha,
  },
  {
    name: "csv",
    type: "string",
    help: "split CSV (train rows train, test rows validate)",
    default: `${EMBEDDED}/csvs/original.csv`,
  },
  {
    name: "dataset",
    type: "string",
    help: "image root the CSV paths are relative to",
    default: EMBEDDED,
  },
  {
    name: "heatmaps",
    type: "string",
    help: "folder of per-image maps (human saliency or masks)",
    default: `${EMBEDDED}/heatmaps`,
  },
  { name: "allow-missing-maps", type: "boolean", help: "train images without a map with CE only" },
  {
    name: "shuffle-maps",
    type: "boolean",
    help: "control: each image gets another same-class image's map (seeded by --seed)",
  },
  { name: "val-csv", type: "string", help: "validation CSV (default: the test rows of --csv)" },
  {
    name: "output",
    type: "string",
    help: "run folder (default: results/<network>_a<alpha>_s<seed>)",
  },
  { name: "epochs", type: "integer", help: "epochs", default: D.epochs },
  { name: "batch-size", type: "integer", help: "batch size", default: D.batchSize },
  { name: "lr", type: "number", help: "learning rate", default: D.lr },
  { name: "momentum", type: "number", help: "SGD momentum", default: D.momentum },
  { name: "weight-decay", type: "number", help: "SGD weight decay", default: D.weightDecay },
  { name: "lr-step-size", type: "integer", help: "StepLR step in epochs", default: D.lrStepSize },
  { name: "lr-gamma", type: "number", help: "StepLR factor", default: D.lrGamma },
  { name: "seed", type: "integer", help: "seed for init and shuffling", default: D.seed },
  { name: "max-steps", type: "integer", help: "stop after this many steps in total" },
  {
    name: "cam-class",
    type: "string",
    help: "CAM of the predicted (paper) or true class, or diff: (W_fake − W_real)·features",
    choices: ["pred", "true", "diff"],
    default: D.camClass,
  },
  {
    name: "cam-tap",
    type: "string",
    help: "CAM layer: the paper's or the standard (pre-pooling)",
    choices: ["paper", "standard"],
    default: D.camTap,
  },
  {
    name: "init-weights",
    type: "string",
    help: "torchvision-style weights to start from (.safetensors or .pth)",
  },
  {
    name: "pretrained",
    type: "string",
    help: "start from ImageNet weights (downloaded once into the cache; lib/pretrained.ts)",
    choices: ["imagenet"],
  },
  {
    name: "transform-input",
    type: "string",
    help: "InceptionV3: torchvision's transform_input (default: the weights' metadata, else on)",
    choices: ["true", "false"],
  },
  {
    name: "save-weights",
    type: "string",
    help: "also write the best weights here (.pth: PyTorch state_dict; else safetensors)",
  },
  {
    name: "log-every",
    type: "integer",
    help: "read losses back every N steps",
    default: D.logEvery,
  },
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
  const preset = a.preset ? getPreset(a.preset as string).train : {};
  const pick = <K extends keyof TrainConfig>(
    key: K,
    flag: string,
    value: unknown,
  ): TrainConfig[K] =>
    (given.has(flag) || !(key in preset) ? value : preset[key]) as TrainConfig[K];
  const alpha = a.alpha as number;
  const cfg: TrainConfig = {
    network: pick("network", "network", a.network),
    inputSize: pick("inputSize", "input-size", a["input-size"] ?? null),
    alpha,
    camTap: a["cam-tap"] as TrainConfig["camTap"],
    camClass: a["cam-class"] as TrainConfig["camClass"],
    csv: a.csv as string,
    dataset: a.dataset as string,
    heatmaps: alpha < 1 || given.has("heatmaps") ? (a.heatmaps as string) : null,
    allowMissingMaps: Boolean(a["allow-missing-maps"]),
    shuffleMaps: Boolean(a["shuffle-maps"]),
    valCsv: (a["val-csv"] as string | undefined) ?? null,
    epochs: pick("epochs", "epochs", a.epochs),
    batchSize: pick("batchSize", "batch-size", a["batch-size"]),
    lr: pick("lr", "lr", a.lr),
    momentum: a.momentum as number,
    weightDecay: a["weight-decay"] as number,
    lrStepSize: pick("lrStepSize", "lr-step-size", a["lr-step-size"]),
    lrGamma: a["lr-gamma"] as number,
    seed: a.seed as number,
    maxSteps: pick("maxSteps", "max-steps", a["max-steps"] ?? null),
    initWeights: (a["init-weights"] as string | undefined) ?? null,
    transformInput: a["transform-input"] === undefined ? null : a["transform-input"] === "true",
    logEvery: a["log-every"] as number,
  };
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
    if (saveWeights) await checkWritable(saveWeights, "--save-weights", "file");
    if (check) {
      const c = await checkTrainInputs(cfg, { output, resume });
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
    const summary = await train(cfg, { output, resume, batchSizeOption: "--batch-size" });
    if (saveWeights) await exportBest(`${output}/checkpoints/best.safetensors`, saveWeights);
    console.log(JSON.stringify(summary, null, 2));
  });
}
