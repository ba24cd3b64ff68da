/**
 * The backbone registry as a table: what each network is, its input sizes, parameter count
 * (counted on a freshly built model), feature width, CAM grid and CAM taps.
 *
 * @module
 */
import type { Table } from "../report/html.ts";
import { BACKBONES, getBackbone } from "./registry.ts";

/** Facts about one backbone, with its trainable parameter count. */
export interface BackboneSummary {
  /** Registry name. */
  name: string;
  /** One line. */
  description: string;
  /** Default input size. */
  inputSize: number;
  /** Smallest input size. */
  minInputSize: number;
  /** Classifier input channels (= CAM channels). */
  featureDim: number;
  /** CAM grid side at the default input size. */
  camGrid: number;
  /** Trainable parameters of the 2-class model. */
  params: number;
  /** The `paper` CAM tap. */
  paperTap: string;
  /** The `standard` CAM tap. */
  standardTap: string;
}

/**
 * Summaries of the named backbones (default: all), building each once at its smallest input size
 * to count parameters (the count does not depend on the input size) and disposing it.
 */
export function backboneSummaries(
  names: readonly string[] = Object.keys(BACKBONES),
): BackboneSummary[] {
  return names.map((name) => {
    const e = getBackbone(name);
    const model = e.build({ seed: 0, inputSize: e.spec.minInputSize });
    try {
      return {
        name,
        description: e.spec.description,
        inputSize: e.spec.inputSize,
        minInputSize: e.spec.minInputSize,
        featureDim: e.spec.featureDim,
        camGrid: e.spec.camGrid(e.spec.inputSize),
        params: model.store.countTrainable(),
        paperTap: e.spec.camTaps.paper,
        standardTap: e.spec.camTaps.standard,
      };
    } finally {
      model.store.dispose();
    }
  });
}

/** Parameter count as `11.18 M` / `97.9 k` / `1030`. */
export function formatParams(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** The registry table: name, description, sizes, parameters, feature width, CAM grid. */
export function backboneTable(rows: readonly BackboneSummary[]): Table {
  return {
    columns: [
      "network",
      "description",
      "input (default)",
      "input (min)",
      "parameters",
      "features",
      "CAM grid at default input",
    ],
    rows: rows.map((r) => [
      r.name,
      r.description,
      r.inputSize,
      r.minInputSize,
      formatParams(r.params),
      r.featureDim,
      `${r.camGrid}×${r.camGrid}`,
    ]),
    caption: "Parameters counted on the 2-class model the kit trains (torchvision names).",
  };
}

/** The CAM taps table: which activation each tap reads, per backbone. */
export function camTapTable(rows: readonly BackboneSummary[]): Table {
  return {
    columns: ["network", "paper tap (the paper's code)", "standard tap (Zhou et al. CAM)"],
    rows: rows.map((r) => [r.name, r.paperTap, r.standardTap]),
    caption: "TrainConfig.camTap selects the tap (default: paper).",
  };
}
