/**
 * The plan of the procedural-faces benchmark: which images exist, their unique base names,
 * folders, sources, splits and CSV rows, mirroring the paper's repository layout
 * (`csvs/original.csv`, `csvs/large_dataset_7x.csv`, `csvs/test_sets/<source>.csv`, `images/`,
 * `heatmaps/<basename>.png`) plus `masks/<basename>.png` for every image.
 *
 * @module
 */
import { SEEN_GENERATORS, UNSEEN_GENERATORS } from "./artifacts.ts";

/** How many images of each kind. */
export interface Counts {
  /** Training reals with maps (original.csv train rows). */
  trainReal: number;
  /** Training fakes with maps. */
  trainFake: number;
  /** Validation reals (labelled `test` in original.csv and large_dataset_7x.csv). */
  valReal: number;
  /** Validation fakes. */
  valFake: number;
  /** Reals of the 7× training set (a superset of the original training reals). */
  largeReal: number;
  /** Fakes of the 7× training set (a superset of the original training fakes). */
  largeFake: number;
  /** Images per test set (each unseen generator, each real source, the seen-generator set). */
  testPerSource: number;
}

/** The paper's counts (919/902 training with maps, 6,433/6,314 in the 7× set). */
export const PAPER_COUNTS: Counts = {
  trainReal: 919,
  trainFake: 902,
  valReal: 200,
  valFake: 200,
  largeReal: 6433,
  largeFake: 6314,
  testPerSource: 300,
};

/** Real test sources and their capture style. */
export const REAL_SOURCES = [
  {
    name: "real_same",
    style: "standard" as const,
    description: "held-out reals drawn like the training reals",
  },
  {
    name: "real_shifted",
    style: "shifted" as const,
    description:
      "reals from another capture: framing, harsher light, colour casts, textured backgrounds",
  },
];

/** Name of the test set of held-out images from the seen (training) generators. */
export const SEEN_TEST_SET = "seen_generators";

/** One image of the benchmark. */
export interface PlannedItem {
  /** Unique base name (no extension), also the heatmap and mask name. */
  base: string;
  /** Folder under `images/`. */
  folder: string;
  /** 0 Real, 1 Synthetic. */
  label: 0 | 1;
  /** Generator name (fakes) or capture style (reals). */
  source: string;
  /** Which part of the benchmark it belongs to. */
  group: "train" | "large" | "val" | "test";
  /** Whether it has a human-like saliency map (original.csv training rows). */
  hasMap: boolean;
  /** Whether the training-only shortcut may be applied (train, 7× and validation images). */
  shortcutEligible: boolean;
}

/** One CSV of the layout. */
export interface PlannedCsv {
  /** Path relative to the dataset root, e.g. `csvs/original.csv`. */
  path: string;
  /** Rows: split and item. */
  rows: { split: "train" | "test"; item: PlannedItem }[];
}

/** The whole plan. */
export interface Plan {
  /** Every image, each once. */
  items: PlannedItem[];
  /** Every CSV. */
  csvs: PlannedCsv[];
}

/** The CSV path of an item (`/images/<folder>/<base>.png`). */
export function imagePath(item: PlannedItem): string {
  return `/images/${item.folder}/${item.base}.png`;
}

/** The CSV line of a row (no newline). */
export function csvLine(split: "train" | "test", item: PlannedItem): string {
  return `${split},${item.label === 0 ? "Real" : "Synthetic"},${imagePath(item)}`;
}

/** Validates counts, naming the offending option. */
export function validateCounts(c: Counts): void {
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`procfaces counts.${k}: expected an integer >= 1, got ${v}`);
    }
  }
  if (c.largeReal < c.trainReal) {
    throw new Error(
      `procfaces counts.largeReal (${c.largeReal}) must be >= counts.trainReal (${c.trainReal})`,
    );
  }
  if (c.largeFake < c.trainFake) {
    throw new Error(
      `procfaces counts.largeFake (${c.largeFake}) must be >= counts.trainFake (${c.trainFake})`,
    );
  }
}

/** Counts scaled by `f` (each at least 1; the 7× sets stay supersets). */
export function scaleCounts(c: Counts, f: number): Counts {
  if (!(f > 0)) throw new Error(`procfaces scale: expected a positive number, got ${f}`);
  const s = (n: number) => Math.max(1, Math.round(n * f));
  const out: Counts = {
    trainReal: s(c.trainReal),
    trainFake: s(c.trainFake),
    valReal: s(c.valReal),
    valFake: s(c.valFake),
    largeReal: s(c.largeReal),
    largeFake: s(c.largeFake),
    testPerSource: s(c.testPerSource),
  };
  out.largeReal = Math.max(out.largeReal, out.trainReal);
  out.largeFake = Math.max(out.largeFake, out.trainFake);
  return out;
}

function pad(i: number): string {
  return String(i).padStart(5, "0");
}

/**
 * Builds the plan. Fakes of training, 7× and validation sets cycle through the seen generators;
 * the 7× set is the original training set plus more images without maps.
 */
export function planDataset(c: Counts): Plan {
  validateCounts(c);
  const items: PlannedItem[] = [];
  const seen = SEEN_GENERATORS.map((g) => g.name);
  const train: PlannedItem[] = [], large: PlannedItem[] = [], val: PlannedItem[] = [];
  for (let i = 0; i < c.largeReal; i++) {
    const it: PlannedItem = {
      base: `train_real_${pad(i)}`,
      folder: "train",
      label: 0,
      source: "standard",
      group: i < c.trainReal ? "train" : "large",
      hasMap: i < c.trainReal,
      shortcutEligible: true,
    };
    (i < c.trainReal ? train : large).push(it);
  }
  for (let i = 0; i < c.largeFake; i++) {
    const it: PlannedItem = {
      base: `train_fake_${pad(i)}`,
      folder: "train",
      label: 1,
      source: seen[i % seen.length],
      group: i < c.trainFake ? "train" : "large",
      hasMap: i < c.trainFake,
      shortcutEligible: true,
    };
    (i < c.trainFake ? train : large).push(it);
  }
  for (let i = 0; i < c.valReal; i++) {
    val.push({
      base: `val_real_${pad(i)}`,
      folder: "val",
      label: 0,
      source: "standard",
      group: "val",
      hasMap: false,
      shortcutEligible: true,
    });
  }
  for (let i = 0; i < c.valFake; i++) {
    val.push({
      base: `val_fake_${pad(i)}`,
      folder: "val",
      label: 1,
      source: seen[i % seen.length],
      group: "val",
      hasMap: false,
      shortcutEligible: true,
    });
  }
  items.push(...train, ...large, ...val);
  type Row = PlannedCsv["rows"][number];
  const valRows: Row[] = val.map((item) => ({ split: "test", item }));
  const trainRows = (list: PlannedItem[]): Row[] => list.map((item) => ({ split: "train", item }));
  const csvs: PlannedCsv[] = [
    { path: "csvs/original.csv", rows: [...trainRows(train), ...valRows] },
    {
      path: "csvs/large_dataset_7x.csv",
      rows: [...trainRows(train), ...trainRows(large), ...valRows],
    },
  ];
  const testSet = (name: string, label: 0 | 1, source: (i: number) => string) => {
    const rows: Row[] = [];
    for (let i = 0; i < c.testPerSource; i++) {
      const item: PlannedItem = {
        base: `${name}_${pad(i)}`,
        folder: `test/${name}`,
        label,
        source: source(i),
        group: "test",
        hasMap: false,
        shortcutEligible: false,
      };
      items.push(item);
      rows.push({ split: "test", item });
    }
    csvs.push({ path: `csvs/test_sets/${name}.csv`, rows });
  };
  testSet(SEEN_TEST_SET, 1, (i) => seen[i % seen.length]);
  for (const g of UNSEEN_GENERATORS) testSet(g.name, 1, () => g.name);
  for (const r of REAL_SOURCES) testSet(r.name, 0, () => r.style);
  return { items, csvs };
}
