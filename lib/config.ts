/**
 * Training configuration as a plain typed object. {@linkcode DEFAULT_CONFIG} is the paper's
 * recipe (train_cam.py): SGD lr 0.005, momentum 0.9, weight decay 1e-6, StepLR(12, 0.1) per
 * epoch, 50 epochs, batch 20, keep the checkpoint with the best validation accuracy.
 *
 * @module
 */
import { getBackbone } from "./backbones/registry.ts";
import type { CamTap } from "./backbones/types.ts";
import type { CamClass } from "./cam.ts";
import { checkAlpha } from "./loss.ts";

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
 * Checks a config and returns the list of problems as messages naming the option; empty when
 * valid. Files are checked for existence here, content later by the loaders.
 */
export function validateConfig(cfg: TrainConfig): string[] {
  const errors: string[] = [];
  const guard = (f: () => void) => {
    try {
      f();
    } catch (e) {
      errors.push((e as Error).message);
    }
  };
  guard(() => checkAlpha(cfg.alpha));
  guard(() => {
    const spec = getBackbone(cfg.network).spec;
    if (cfg.transformInput !== null && spec.transformInputDefault === undefined) {
      throw new Error(
        `--transform-input: ${cfg.network} has no transform_input (InceptionV3 only)`,
      );
    }
  });
  const positiveInt = (name: string, v: number | null, allowNull = false) => {
    if (v === null && allowNull) return;
    if (v === null || !Number.isInteger(v) || v <= 0) {
      errors.push(`--${name}: must be a positive integer, got ${v}`);
    }
  };
  positiveInt("epochs", cfg.epochs);
  positiveInt("batch-size", cfg.batchSize);
  positiveInt("max-steps", cfg.maxSteps, true);
  positiveInt("input-size", cfg.inputSize, true);
  positiveInt("lr-step-size", cfg.lrStepSize);
  positiveInt("log-every", cfg.logEvery);
  for (
    const [name, v] of [["lr", cfg.lr], ["momentum", cfg.momentum], [
      "weight-decay",
      cfg.weightDecay,
    ], ["lr-gamma", cfg.lrGamma]] as const
  ) {
    if (!Number.isFinite(v) || v < 0) {
      errors.push(`--${name}: must be a finite number >= 0, got ${v}`);
    }
  }
  if (!["paper", "standard"].includes(cfg.camTap)) {
    errors.push(`--cam-tap: must be paper or standard, got ${cfg.camTap}`);
  }
  if (!["pred", "true", "diff"].includes(cfg.camClass)) {
    errors.push(`--cam-class: must be pred, true or diff, got ${cfg.camClass}`);
  }
  const mustExist = (flag: string, path: string | null, kind: "file" | "dir") => {
    if (path === null) return;
    if (path === "") {
      errors.push(`--${flag}: required`);
      return;
    }
    try {
      const st = Deno.statSync(path);
      if (kind === "file" && !st.isFile) errors.push(`--${flag}: ${path} is not a file`);
      if (kind === "dir" && !st.isDirectory) errors.push(`--${flag}: ${path} is not a folder`);
    } catch {
      errors.push(`--${flag}: ${path} does not exist`);
    }
  };
  mustExist("csv", cfg.csv, "file");
  mustExist("dataset", cfg.dataset, "dir");
  mustExist("heatmaps", cfg.heatmaps, "dir");
  mustExist("val-csv", cfg.valCsv, "file");
  mustExist("init-weights", cfg.initWeights, "file");
  if (cfg.alpha < 1 && cfg.heatmaps === null) {
    errors.push(`--heatmaps: required when --alpha < 1 (got alpha ${cfg.alpha})`);
  }
  if (cfg.shuffleMaps && cfg.alpha >= 1) {
    errors.push(`--shuffle-maps: needs --alpha < 1 (with alpha ${cfg.alpha} no map is used)`);
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
