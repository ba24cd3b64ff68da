/**
 * What an experiment runs ({@linkcode ExperimentSpec}, its data variants) and each run's folder
 * and training config.
 *
 * @module
 */
import { DEFAULT_CONFIG, type TrainConfig } from "../config.ts";
import type { Preset } from "../presets.ts";
import type { Strategy, StrategyName } from "./strategies.ts";

/** A data variant (e.g. the shortcut benchmark and its control). */
export interface DataVariant {
  /** Folder name under the experiment output. */
  name: string;
  /** Data root in the paper's layout. */
  root: string;
}

/** What to run. */
export interface ExperimentSpec {
  /** Preset (training overrides, seeds). */
  preset: Preset;
  /** Backbone (default: the preset's). */
  network?: string;
  /** Data variants. */
  variants: DataVariant[];
  /** Output folder, e.g. `results/quick`. */
  out: string;
  /** Strategies (default: all four). */
  strategies?: readonly StrategyName[];
  /** Number of seeds (default: the preset's). */
  seeds?: number;
  /** First seed: the runs use seeds firstSeed..firstSeed+seeds-1 (default 0). */
  firstSeed?: number;
}

/** The run folder of one (variant, strategy, seed). */
export function runPath(out: string, variant: string, strategy: string, seed: number): string {
  return `${out}/${variant}/${strategy}/s${seed}`;
}

/** The training config of one run. */
export function trainConfigFor(
  spec: ExperimentSpec,
  variant: DataVariant,
  strategy: Strategy,
  seed: number,
): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    ...spec.preset.train,
    ...(spec.network ? { network: spec.network } : {}),
    alpha: strategy.alpha,
    csv: `${variant.root}/${strategy.csv}`,
    dataset: variant.root,
    heatmaps: strategy.maps ? `${variant.root}/${strategy.maps}` : null,
    shuffleMaps: strategy.shuffleMaps ?? false,
    ...(strategy.camClass ? { camClass: strategy.camClass } : {}),
    seed,
    ...(strategy.name === "data7x" && spec.preset.data7xEqualSteps ? equalSteps(spec.preset) : {}),
  };
}

/** Epochs and StepLR step of the 7× strategy when it gets the others' number of steps. */
function equalSteps(preset: Preset): Partial<TrainConfig> {
  const epochs = preset.train.epochs ?? DEFAULT_CONFIG.epochs;
  const step = preset.train.lrStepSize ?? DEFAULT_CONFIG.lrStepSize;
  return {
    epochs: Math.max(1, Math.round(epochs / 7)),
    lrStepSize: Math.max(1, Math.round(step / 7)),
  };
}
