/**
 * Training configuration as a plain typed object. {@linkcode DEFAULT_CONFIG} is the paper's
 * recipe (train_cam.py): SGD lr 0.005, momentum 0.9, weight decay 1e-6, StepLR(12, 0.1) per
 * epoch, 50 epochs, batch 20, keep the checkpoint with the best validation accuracy.
 *
 * @module
 */
import { BACKBONES, networkProblem } from "./backbones/registry.ts";
import type { CamTap } from "./backbones/types.ts";
import type { CamClass } from "./cam.ts";
import type { OptionSpec, ParsedArgs } from "./cli_args.ts";
import { alphaProblem } from "./loss.ts";

/** Everything that determines a training run's result. */
export interface TrainConfig {
  /** Backbone registry name. */
  network: string;
  /** Input size in pixels; null = the backbone's default. */
  inputSize: number | null;
  /** CYBORG α: 1 = cross-entropy only (baseline). */
  alpha: number;
  /** Which activation the CAM uses. */
  camTap: CamTap;
  /** CAM for the predicted class (paper), the true class, or fake minus real (`diff`). */
  camClass: CamClass;
  /** Split CSV: `train` rows train, `test` rows validate (the paper's original.csv). */
  csv: string;
  /** Image root the CSV paths are relative to. */
  dataset: string;
  /** Folder of per-image maps (human saliency or segmentation masks); needed when α < 1. */
  heatmaps: string | null;
  /** Train on images without a map (CE only for them) instead of failing. */
  allowMissingMaps: boolean;
  /**
   * Control: each training image gets another same-class image's map (a seeded cyclic shuffle
   * within each class, from `seed`), so the maps keep their class template and lose their
   * per-image content.
   */
  shuffleMaps: boolean;
  /** Validation CSV if not the `test` rows of `csv`. */
  valCsv: string | null;
  /** Epochs. */
  epochs: number;
  /** Batch size. */
  batchSize: number;
  /** Initial learning rate. */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** SGD weight decay (added to the gradient, PyTorch semantics). */
  weightDecay: number;
  /** StepLR step (epochs). */
  lrStepSize: number;
  /** StepLR factor. */
  lrGamma: number;
  /** Seed for initialisation and shuffling. */
  seed: number;
  /** Stop after this many steps in total (smoke runs); null = all epochs. */
  maxSteps: number | null;
  /** Torchvision-style weights (safetensors) to start from; null = random init. */
  initWeights: string | null;
  /**
   * InceptionV3 only: torchvision's `transform_input`. null = what `initWeights` says in its
   * `transform_input` metadata, else on (the paper's: `inception_v3(pretrained=True)`).
   */
  transformInput: boolean | null;
  /** Log step losses (one device read) every this many steps. */
  logEvery: number;
}

/** The paper's recipe; data paths are empty and must be given. */
export const DEFAULT_CONFIG: TrainConfig = {
  network: "resnet50",
  inputSize: null,
  alpha: 0.5,
  camTap: "paper",
  camClass: "pred",
  csv: "",
  dataset: "",
  heatmaps: null,
  allowMissingMaps: false,
  shuffleMaps: false,
  valCsv: null,
  epochs: 50,
  batchSize: 20,
  lr: 0.005,
  momentum: 0.9,
  weightDecay: 1e-6,
  lrStepSize: 12,
  lrGamma: 0.1,
  seed: 0,
  maxSteps: null,
  initWeights: null,
  transformInput: null,
  logEvery: 10,
};

/**
 * The options of a run that are not config fields: the run folder (`TrainOptions.output`), a
 * required resume (`TrainOptions.resume` `must`) and a fresh start (`TrainOptions.resume` `fresh`).
 * `deno task train` has a flag of the same name for each.
 */
export type RunOptionName = "output" | "resume" | "fresh";

/**
 * How a message names a config field or a run option: the key itself, or (in `deno task train`)
 * the flag.
 */
export type FieldName = (key: keyof TrainConfig | RunOptionName) => string;

/** One config field: its command-line option and its check. */
export interface ConfigField<K extends keyof TrainConfig> {
  /** Option name in kebab-case, without dashes (`batch-size`). */
  flag: string;
  /** One-line help. */
  help: string;
  /**
   * Value type. A `boolean` field that may be null (`transformInput`) takes `true` or `false` on
   * the command line, absent = null.
   */
  type: "string" | "number" | "integer" | "boolean";
  /** null is a valid value (absent on the command line = null). */
  nullable?: boolean;
  /** Allowed values for string fields. */
  choices?: readonly string[];
  /**
   * What is wrong with the value, without the field's name (which the caller puts in front), or
   * undefined when it is valid. `name` names other fields in the message.
   */
  check?: (value: TrainConfig[K], cfg: TrainConfig, name: FieldName) => string | undefined;
}

const positiveInt = (v: number | null): string | undefined =>
  v !== null && Number.isInteger(v) && v > 0 ? undefined : `must be a positive integer, got ${v}`;
const positiveIntOrNull = (v: number | null): string | undefined =>
  v === null ? undefined : positiveInt(v);
const finiteNonNegative = (v: number): string | undefined =>
  Number.isFinite(v) && v >= 0 ? undefined : `must be a finite number >= 0, got ${v}`;
const oneOf = (choices: readonly string[]) => (v: string): string | undefined =>
  choices.includes(v)
    ? undefined
    : `must be ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got ${v}`;
/** Files are checked for existence here, content later by the loaders. */
const mustExist = (kind: "file" | "dir") => (path: string | null): string | undefined => {
  if (path === null) return undefined;
  if (path === "") return "required";
  try {
    const st = Deno.statSync(path);
    if (kind === "file" && !st.isFile) return `${path} is not a file`;
    if (kind === "dir" && !st.isDirectory) return `${path} is not a folder`;
  } catch {
    return `${path} does not exist`;
  }
  return undefined;
};

/**
 * Every field of {@linkcode TrainConfig}, once: its option (`deno task train` builds its options
 * from these) and its check ({@linkcode validateConfig} runs them in this order).
 */
export const CONFIG_FIELDS: { readonly [K in keyof TrainConfig]: ConfigField<K> } = {
  network: {
    flag: "network",
    help: `backbone (${Object.keys(BACKBONES).join(", ")})`,
    type: "string",
    check: networkProblem,
  },
  inputSize: {
    flag: "input-size",
    help: "input size in pixels (default: the network's)",
    type: "integer",
    nullable: true,
    check: positiveIntOrNull,
  },
  alpha: {
    flag: "alpha",
    help: "CYBORG alpha: loss = a*CE + (1-a)*MSE(CAM, map); 1 = baseline",
    type: "number",
    check: alphaProblem,
  },
  camTap: {
    flag: "cam-tap",
    help: "CAM layer: the paper's or the standard (pre-pooling)",
    type: "string",
    choices: ["paper", "standard"],
    check: oneOf(["paper", "standard"]),
  },
  camClass: {
    flag: "cam-class",
    help: "CAM of the predicted (paper) or true class, or diff: (W_fake − W_real)·features",
    type: "string",
    choices: ["pred", "true", "diff"],
    check: oneOf(["pred", "true", "diff"]),
  },
  csv: {
    flag: "csv",
    help: "split CSV (train rows train, test rows validate)",
    type: "string",
    check: mustExist("file"),
  },
  dataset: {
    flag: "dataset",
    help: "image root the CSV paths are relative to",
    type: "string",
    check: mustExist("dir"),
  },
  heatmaps: {
    flag: "heatmaps",
    help: "folder of per-image maps (human saliency or masks)",
    type: "string",
    nullable: true,
    check: (v, cfg, name) =>
      mustExist("dir")(v) ??
        (cfg.alpha < 1 && v === null
          ? `required when ${name("alpha")} < 1 (got alpha ${cfg.alpha})`
          : undefined),
  },
  allowMissingMaps: {
    flag: "allow-missing-maps",
    help: "train images without a map with CE only",
    type: "boolean",
  },
  shuffleMaps: {
    flag: "shuffle-maps",
    help: "control: each image gets another same-class image's map (seeded by --seed)",
    type: "boolean",
    check: (v, cfg, name) =>
      v && cfg.alpha >= 1
        ? `needs ${name("alpha")} < 1 (with alpha ${cfg.alpha} no map is used)`
        : undefined,
  },
  valCsv: {
    flag: "val-csv",
    help: "validation CSV (default: the test rows of --csv)",
    type: "string",
    nullable: true,
    check: mustExist("file"),
  },
  epochs: { flag: "epochs", help: "epochs", type: "integer", check: positiveInt },
  batchSize: { flag: "batch-size", help: "batch size", type: "integer", check: positiveInt },
  lr: { flag: "lr", help: "learning rate", type: "number", check: finiteNonNegative },
  momentum: { flag: "momentum", help: "SGD momentum", type: "number", check: finiteNonNegative },
  weightDecay: {
    flag: "weight-decay",
    help: "SGD weight decay",
    type: "number",
    check: finiteNonNegative,
  },
  lrStepSize: {
    flag: "lr-step-size",
    help: "StepLR step in epochs",
    type: "integer",
    check: positiveInt,
  },
  lrGamma: { flag: "lr-gamma", help: "StepLR factor", type: "number", check: finiteNonNegative },
  seed: { flag: "seed", help: "seed for init and shuffling", type: "integer" },
  maxSteps: {
    flag: "max-steps",
    help: "stop after this many steps in total",
    type: "integer",
    nullable: true,
    check: positiveIntOrNull,
  },
  initWeights: {
    flag: "init-weights",
    help: "torchvision-style weights to start from (.safetensors or .pth)",
    type: "string",
    nullable: true,
    check: mustExist("file"),
  },
  transformInput: {
    flag: "transform-input",
    help: "InceptionV3: torchvision's transform_input (default: the weights' metadata, else on)",
    type: "boolean",
    nullable: true,
    check: (v, cfg) => {
      const entry = BACKBONES[cfg.network];
      return v !== null && entry && entry.spec.transformInputDefault === undefined
        ? `${cfg.network} has no transform_input (InceptionV3 only)`
        : undefined;
    },
  },
  logEvery: {
    flag: "log-every",
    help: "read losses back every N steps",
    type: "integer",
    check: positiveInt,
  },
};

/** The config keys in {@linkcode TrainConfig}'s order. */
export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof TrainConfig)[];

/** Names a field or run option by its key (the library's messages). */
export const keyName: FieldName = (key) => key;

/**
 * Names a field or run option by its command-line flag, e.g. `--batch-size` or `--output`
 * (`deno task train`'s messages).
 */
export const flagName: FieldName = (key) =>
  `--${key in CONFIG_FIELDS ? CONFIG_FIELDS[key as keyof TrainConfig].flag : key}`;

/**
 * The command-line option of a config field: its flag, help, type, choices and default (the
 * {@linkcode DEFAULT_CONFIG} value; none shown for null, false or ""). A nullable boolean field
 * takes `true` or `false`. `overrides` replaces any of these (e.g. a tool's own default path).
 */
export function configOption(
  key: keyof TrainConfig,
  overrides: Partial<OptionSpec> = {},
): OptionSpec {
  const f: Omit<ConfigField<typeof key>, "check"> = CONFIG_FIELDS[key];
  const d = DEFAULT_CONFIG[key];
  const triState = f.type === "boolean" && f.nullable;
  const choices = triState ? ["true", "false"] : f.choices;
  return {
    name: f.flag,
    type: triState ? "string" : f.type,
    help: f.help,
    ...(choices ? { choices } : {}),
    ...(d === null || d === false || d === "" ? {} : { default: d }),
    ...overrides,
  };
}

/**
 * A config field's value from its parsed option ({@linkcode configOption}): absent is null for a
 * nullable field and false for a boolean one; a nullable boolean is `true` or `false`.
 */
export function configValue<K extends keyof TrainConfig>(
  key: K,
  parsed: ParsedArgs[string],
): TrainConfig[K] {
  const f: ConfigField<K> = CONFIG_FIELDS[key];
  if (f.type === "boolean") {
    return (f.nullable
      ? (parsed === undefined ? null : parsed === "true")
      : Boolean(parsed)) as TrainConfig[K];
  }
  return (f.nullable ? parsed ?? null : parsed) as TrainConfig[K];
}

/**
 * Checks a config and returns the list of problems, one message per problem, each starting with
 * the field's name (`epochs: must be a positive integer, got 0`); empty when valid. `name` names
 * the fields (default: the key; `deno task train` passes {@linkcode flagName}).
 */
export function validateConfig(cfg: TrainConfig, name: FieldName = keyName): string[] {
  const errors: string[] = [];
  for (const key of CONFIG_KEYS) {
    const check = CONFIG_FIELDS[key].check as ConfigField<typeof key>["check"];
    const problem = check?.(cfg[key], cfg, name);
    if (problem !== undefined) errors.push(`${name(key)}: ${problem}`);
  }
  return errors;
}

/**
 * Keys whose difference makes a resume invalid (all of them: any change alters the result). A key
 * missing on one side (a config.json written before the key existed) counts as its default.
 */
export function configDifferences(a: TrainConfig, b: TrainConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof TrainConfig>;
  const value = (c: TrainConfig, k: keyof TrainConfig) => k in c ? c[k] : DEFAULT_CONFIG[k];
  const diffs: string[] = [];
  for (const k of keys) {
    const [va, vb] = [JSON.stringify(value(a, k)), JSON.stringify(value(b, k))];
    if (va !== vb) diffs.push(`${k}: ${va} → ${vb}`);
  }
  return diffs;
}
