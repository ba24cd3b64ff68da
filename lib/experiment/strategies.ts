/**
 * The training strategies: the paper's four (baseline, CYBORG, segmentation masks, 7× data), the
 * shuffled-maps control and CYBORG on the decision CAM.
 *
 * @module
 */

import type { CamClass } from "../cam.ts";

/** Names of the training strategies: the paper's four and two variants of CYBORG. */
export type StrategyName =
  | "baseline"
  | "cyborg"
  | "segmentation"
  | "data7x"
  | "shuffled"
  | "decision";

/** A training strategy: α, which CSV, which maps. */
export interface Strategy {
  /** Folder and key name. */
  name: StrategyName;
  /** Label in figures and tables. */
  label: string;
  /** CYBORG α. */
  alpha: number;
  /** Split CSV relative to the data root. */
  csv: string;
  /** Map folder relative to the data root (null for α = 1). */
  maps: string | null;
  /** Each image trains on another same-class image's map (`TrainConfig.shuffleMaps`). */
  shuffleMaps?: boolean;
  /** The CAM the map term pulls (`TrainConfig.camClass`; default the preset's). */
  camClass?: CamClass;
}

/**
 * Every strategy: the paper's four ({@linkcode PAPER_STRATEGIES}); `shuffled`, CYBORG with
 * each image's map replaced by another same-class image's (tells a class-template prior from
 * per-image content); `decision`, CYBORG with the map term on the decision CAM
 * `(W_fake − W_real)·features` instead of the predicted class's (with two classes only that
 * difference decides, so the term reaches the decision).
 */
export const STRATEGIES: readonly Strategy[] = [
  { name: "baseline", label: "CE only (α=1)", alpha: 1, csv: "csvs/original.csv", maps: null },
  {
    name: "cyborg",
    label: "CYBORG (α=0.5, human maps)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "heatmaps",
  },
  {
    name: "segmentation",
    label: "Segmentation masks (α=0.5)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "masks",
  },
  {
    name: "data7x",
    label: "7× data (α=1)",
    alpha: 1,
    csv: "csvs/large_dataset_7x.csv",
    maps: null,
  },
  {
    name: "shuffled",
    label: "CYBORG, shuffled maps (α=0.5)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "heatmaps",
    shuffleMaps: true,
  },
  {
    name: "decision",
    label: "CYBORG, decision CAM (α=0.5)",
    alpha: 0.5,
    csv: "csvs/original.csv",
    maps: "heatmaps",
    camClass: "diff",
  },
];

/** The strategies a run gets when it names none: the paper's four (not the CYBORG variants). */
export const PAPER_STRATEGIES: readonly StrategyName[] = [
  "baseline",
  "cyborg",
  "segmentation",
  "data7x",
];

/**
 * The strategies named in `names` (default {@linkcode PAPER_STRATEGIES}), in
 * {@linkcode STRATEGIES} order.
 */
export function chosenStrategies(names: readonly StrategyName[] | undefined): Strategy[] {
  const wanted = names ?? PAPER_STRATEGIES;
  return STRATEGIES.filter((s) => wanted.includes(s.name));
}
