/**
 * Experiment presets as data: how big a network, how many epochs and seeds, which image size.
 * `smoke` proves the pipeline end to end in minutes; `quick` is the default on a CPU-only machine;
 * `full` is `quick` powered: 10 seeds per strategy and every control at its pre-registered seeds;
 * `paper` is the paper's protocol (ResNet50 at 224 px, 50 epochs, 10 seeds).
 *
 * @module
 */
import type { TrainConfig } from "./config.ts";

/** Preset names. */
export type PresetName = "smoke" | "quick" | "full" | "paper";

/** A preset: training overrides plus the experiment's size. */
export interface Preset {
  /** Its name. */
  name: PresetName;
  /** One line for `--help` and reports. */
  description: string;
  /** Overrides of the training config (the rest is the paper's recipe). */
  train: Partial<TrainConfig>;
  /** Seeds per strategy. */
  seeds: number;
  /** Image size the embedded data is generated at. */
  dataSize: number;
  /** Multiplier of the embedded data's image counts (1 = the paper's counts). */
  dataScale: number;
  /**
   * Train the 7× strategy for 1/7 of the epochs (same number of steps as the others) instead of
   * the paper's same number of epochs (7× the compute). A CPU-budget compromise, stated in reports.
   */
  data7xEqualSteps?: boolean;
  /**
   * The controls the main job also runs on the embedded data (`tools/positive_control.ts
   * evaluate`): each a pre-registration (`prereg/*.json`, its recipe this preset's), into
   * `<out>/<setting>/`, optionally with only the first `seeds` of its seeds.
   */
  controls?: readonly ControlRun[];
  /**
   * The controls the notebooks show (`ensureControls` in `lib/notebook.ts`) when they differ from
   * {@linkcode Preset.controls} (default: those). `smoke` keeps its main job free of controls (a
   * control adds seconds to every smoke job the tests run) and gives the notebooks pipeline checks.
   */
  notebookControls?: readonly ControlRun[];
}

/** One control of a preset's main job. */
export interface ControlRun {
  /** The pre-registration file. */
  prereg: string;
  /** Run only its first N seeds (a stated deviation), to fit the preset's budget. */
  seeds?: number;
}

/** The recipe of `quick` and `full`: minicnn at 32 px from random init. */
const QUICK_RECIPE: Partial<TrainConfig> = {
  network: "minicnn",
  inputSize: 32,
  epochs: 14,
  lrStepSize: 10,
  batchSize: 20,
  lr: 0.05,
};

/** All presets by name. */
export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  smoke: {
    name: "smoke",
    description: "pipeline check: minicnn at 32 px, 1 epoch capped at 20 steps, 1 seed",
    train: { network: "minicnn", inputSize: 32, epochs: 1, maxSteps: 20, batchSize: 20, lr: 0.05 },
    seeds: 1,
    dataSize: 32,
    dataScale: 0.1,
    notebookControls: [
      { prereg: "prereg/smoke_positive.json" },
      { prereg: "prereg/smoke_paper_like.json" },
    ],
  },
  quick: {
    name: "quick",
    description: "CPU default: minicnn at 32 px, lr 0.05 (random init), 14 epochs (StepLR every " +
      "10), 3 seeds; the 7x strategy gets the same number of steps",
    train: QUICK_RECIPE,
    seeds: 3,
    dataSize: 32,
    dataScale: 1,
    data7xEqualSteps: true,
    controls: [
      { prereg: "prereg/positive_control.json" },
      { prereg: "prereg/negative_control.json", seeds: 4 },
      { prereg: "prereg/paper_like.json", seeds: 4 },
      { prereg: "prereg/paper_like_twin.json", seeds: 4 },
    ],
  },
  full: {
    name: "full",
    description: "the quick recipe powered: 10 seeds per strategy (the paper's count), and every " +
      "control at all its pre-registered seeds",
    train: QUICK_RECIPE,
    seeds: 10,
    dataSize: 32,
    dataScale: 1,
    data7xEqualSteps: true,
    controls: [
      { prereg: "prereg/positive_control.json" },
      { prereg: "prereg/negative_control_v2.json" },
      { prereg: "prereg/paper_like.json" },
      { prereg: "prereg/paper_like_twin.json" },
    ],
  },
  paper: {
    name: "paper",
    description: "the paper: resnet50 at 224 px, 50 epochs, batch 20, lr 0.005, 10 seeds",
    train: { network: "resnet50", inputSize: 224, epochs: 50, batchSize: 20 },
    seeds: 10,
    dataSize: 224,
    dataScale: 1,
  },
};

/**
 * Looks a preset up by name, with an error naming where the name came from (`source`, default
 * `preset`; the command-line tools pass `--preset`).
 */
export function getPreset(name: string, source = "preset"): Preset {
  const p = (PRESETS as Record<string, Preset>)[name];
  if (!p) {
    throw new Error(
      `${source}: unknown preset "${name}" (known: ${Object.keys(PRESETS).join(", ")})`,
    );
  }
  return p;
}

/** The recipe keys a pre-registration or `calibrate` may set on top of its preset. */
export const RECIPE_KEYS = ["epochs", "lrStepSize", "lr"] as const;

/** A recipe override: some of {@linkcode RECIPE_KEYS}. */
export type RecipeOverride = Partial<Pick<TrainConfig, (typeof RECIPE_KEYS)[number]>>;

/**
 * The preset with some of its recipe replaced (`epochs` and `lrStepSize` positive integers, `lr`
 * a positive number); an unknown key or a bad value is an error naming `source`.
 *
 * @example A longer schedule on top of the `quick` preset
 * ```ts
 * import assert from "node:assert";
 * import { getPreset, withRecipe } from "./presets.ts";
 *
 * const p = withRecipe(getPreset("quick"), { epochs: 28, lrStepSize: 20 }, "train");
 * assert.equal(p.train.epochs, 28);
 * assert.equal(p.train.lr, 0.05);
 * assert.throws(() => withRecipe(p, { momentum: 0.5 } as never, "train"), /train: unknown key/);
 * ```
 */
export function withRecipe(preset: Preset, override: unknown, source: string): Preset {
  if (override === undefined) return preset;
  if (override === null || typeof override !== "object" || Array.isArray(override)) {
    throw new Error(`${source}: expected an object of ${RECIPE_KEYS.join(", ")}`);
  }
  const train: Partial<TrainConfig> = { ...preset.train };
  for (const [k, v] of Object.entries(override)) {
    if (!(RECIPE_KEYS as readonly string[]).includes(k)) {
      throw new Error(`${source}: unknown key "${k}" (known: ${RECIPE_KEYS.join(", ")})`);
    }
    const ok = typeof v === "number" && Number.isFinite(v) && v > 0 &&
      (k === "lr" || Number.isInteger(v));
    if (!ok) {
      throw new Error(
        `${source}: ${k} must be a positive ${k === "lr" ? "number" : "integer"}, got ${
          JSON.stringify(v)
        }`,
      );
    }
    (train as Record<string, number>)[k] = v as number;
  }
  return { ...preset, train };
}
