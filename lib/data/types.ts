/**
 * Types shared by the data pipeline and its users (training, scoring, notebooks).
 *
 * @module
 */

/** Class index: 0 = Real, 1 = Synthetic (the paper's order; score = sigmoid(logit[1])). */
export type Label = 0 | 1;

/** Class names by index, as they appear in the paper's CSVs. */
export const CLASS_NAMES = ["Real", "Synthetic"] as const;

/** One CSV row `split,Real|Synthetic,/relative/path.png`. */
export interface SampleRef {
  /** `train` or `test` (the paper labels validation rows `test` in original.csv). */
  split: "train" | "test";
  /** 0 Real, 1 Synthetic. */
  label: Label;
  /** The path exactly as written in the CSV (relative to the image root). */
  path: string;
  /** The CSV file and 1-based line this row came from, for error messages. */
  csv: string;
  /** See {@linkcode SampleRef.csv}. */
  line: number;
}

/** A batch ready for the device: NHWC float32 normalised pixels, labels, and maps. */
export interface Batch {
  /** Number of samples. */
  n: number;
  /** [n, size, size, 3] normalised pixels. */
  x: Float32Array;
  /** [n] labels. */
  y: Int32Array;
  /** [n, grid, grid] maps in [0, 1] (zeros where `hasMap` is 0); absent without maps. */
  maps?: Float32Array;
  /** [n] 1 where the sample has a map. */
  hasMap?: Uint8Array;
  /** The samples' CSV paths, for error messages. */
  paths: string[];
}

/** A split of a CSV, decoded lazily (cached uint8 on disk), served as batches. */
export interface Dataset {
  /** The rows, in CSV order. */
  readonly items: readonly SampleRef[];
  /** Square input size of `x`. */
  readonly inputSize: number;
  /** Grid side of `maps`, when the dataset has maps. */
  readonly mapGrid?: number;
  /** Builds the batch of the given item indices (in that order). */
  getBatch(indices: readonly number[]): Promise<Batch>;
}
