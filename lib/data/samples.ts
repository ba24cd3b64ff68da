/**
 * Browsing a data root in the paper's layout for figures: every image of `csvs/original.csv`,
 * `csvs/large_dataset_7x.csv` and `csvs/test_sets/*.csv` with its source (generator, real-face
 * source or test set), group, human map and segmentation mask when present. The embedded
 * benchmark's `manifest.csv` supplies sources, shortcut marks and artifacts; without it (the
 * paper's data) the source is the test set name, or `train Real`, `val Synthetic`, ... .
 *
 * @module
 */
import { readSplitCsv } from "./csv.ts";
import { resolveImagePath } from "./dataset.ts";
import { loadMapGray } from "./image.ts";
import type { Table } from "../report/html.ts";
import type { Label } from "./types.ts";

/** One image of a data root. */
export interface DataSample {
  /** Base name without extension (the key of its map and mask). */
  base: string;
  /** Path as written in the CSV. */
  csvPath: string;
  /** Image file. */
  image: string;
  /** 0 Real, 1 Synthetic. */
  label: Label;
  /** Generator / real source / test set. */
  source: string;
  /** `train`, `val` (validation rows), `large` (7× only) or `test`. */
  group: string;
  /** Human saliency map file, when the image has one. */
  map?: string;
  /** Segmentation mask file, when present. */
  mask?: string;
  /** Embedded benchmark only: the image carries the training shortcut. */
  shortcut?: boolean;
  /** Embedded benchmark only: artifact families of a fake. */
  artifacts?: string;
}

interface ManifestRow {
  source: string;
  group: string;
  shortcut: boolean;
  artifacts: string;
}

function baseName(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

async function readManifest(root: string): Promise<Map<string, ManifestRow> | undefined> {
  const file = `${root}/manifest.csv`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const lines = text.split("\n");
  const header = lines[0].trim().split(",");
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${file}:1: no "${name}" column`);
    return i;
  };
  const [iBase, iSource, iGroup, iShortcut, iArtifacts] = [
    "base",
    "source",
    "group",
    "shortcut",
    "artifacts",
  ].map(col);
  const out = new Map<string, ManifestRow>();
  lines.slice(1).forEach((line, i) => {
    if (!line.trim()) return;
    const p = line.split(",");
    if (p.length !== header.length) {
      throw new Error(`${file}:${i + 2}: ${p.length} fields, the header has ${header.length}`);
    }
    out.set(p[iBase], {
      source: p[iSource],
      group: p[iGroup],
      shortcut: p[iShortcut] === "1",
      artifacts: p[iArtifacts],
    });
  });
  return out;
}

async function pngNames(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".png")) out.add(e.name.slice(0, -4));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/**
 * Every image of a data root once (training and validation rows of `original.csv`, the extra
 * rows of `large_dataset_7x.csv`, every test set), in that order.
 */
export async function listSamples(root: string): Promise<DataSample[]> {
  const manifest = await readManifest(root);
  const maps = await pngNames(`${root}/heatmaps`);
  const masks = await pngNames(`${root}/masks`);
  const seen = new Set<string>();
  const out: DataSample[] = [];
  const add = (
    csvPath: string,
    label: Label,
    fallbackSource: string,
    fallbackGroup: string,
  ) => {
    const base = baseName(csvPath);
    if (seen.has(base)) return;
    seen.add(base);
    const m = manifest?.get(base);
    out.push({
      base,
      csvPath,
      image: resolveImagePath(root, csvPath),
      label,
      source: m?.source ?? fallbackSource,
      group: m?.group ?? fallbackGroup,
      map: maps.has(base) ? `${root}/heatmaps/${base}.png` : undefined,
      mask: masks.has(base) ? `${root}/masks/${base}.png` : undefined,
      ...(m ? { shortcut: m.shortcut, artifacts: m.artifacts } : {}),
    });
  };
  const cls = (l: Label) => (l === 0 ? "Real" : "Synthetic");
  for (const r of await readSplitCsv(`${root}/csvs/original.csv`)) {
    const group = r.split === "train" ? "train" : "val";
    add(r.path, r.label, `${group} ${cls(r.label)}`, group);
  }
  const large = `${root}/csvs/large_dataset_7x.csv`;
  if (await Deno.stat(large).then(() => true, () => false)) {
    for (const r of await readSplitCsv(large)) {
      add(r.path, r.label, `large ${cls(r.label)}`, r.split === "train" ? "large" : "val");
    }
  }
  const testDir = `${root}/csvs/test_sets`;
  const sets: string[] = [];
  for await (const e of Deno.readDir(testDir)) {
    if (e.isFile && e.name.endsWith(".csv")) sets.push(e.name);
  }
  for (const name of sets.sort()) {
    for (const r of await readSplitCsv(`${testDir}/${name}`)) {
      add(r.path, r.label, name.slice(0, -4), "test");
    }
  }
  return out;
}

/**
 * The first `n` samples of each source that pass `filter`, sources in order of first appearance
 * (real sources first when `realFirst`, the default).
 */
export function samplesBySource(
  samples: readonly DataSample[],
  n: number,
  filter: (s: DataSample) => boolean = () => true,
  realFirst = true,
): Map<string, DataSample[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`samplesBySource: n must be ≥ 1, got ${n}`);
  const groups = new Map<string, DataSample[]>();
  const ordered = realFirst
    ? [...samples.filter((s) => s.label === 0), ...samples.filter((s) => s.label === 1)]
    : samples;
  for (const s of ordered) {
    if (!filter(s)) continue;
    const g = groups.get(s.source) ?? [];
    if (g.length < n) g.push(s);
    groups.set(s.source, g);
  }
  return groups;
}

/**
 * Image counts per (group, source): Real / Synthetic, with a human map, with the shortcut mark
 * (embedded benchmark), one row each, in order of first appearance.
 */
export function sampleCountTable(samples: readonly DataSample[]): Table {
  const keys: string[] = [];
  const counts = new Map<string, { real: number; fake: number; maps: number; shortcut: number }>();
  for (const s of samples) {
    const k = `${s.group}\u0000${s.source}`;
    let c = counts.get(k);
    if (!c) {
      c = { real: 0, fake: 0, maps: 0, shortcut: 0 };
      counts.set(k, c);
      keys.push(k);
    }
    if (s.label === 0) c.real++;
    else c.fake++;
    if (s.map) c.maps++;
    if (s.shortcut) c.shortcut++;
  }
  return {
    columns: ["group", "source", "Real", "Synthetic", "with human map", "with shortcut mark"],
    rows: keys.map((k) => {
      const [group, source] = k.split("\u0000");
      const c = counts.get(k)!;
      return [group, source, c.real, c.fake, c.maps, c.shortcut];
    }),
    caption:
      "group: train / val (original.csv), large (extra rows of the 7× CSV), test (test sets).",
  };
}

/** Element-wise mean of grey map files resized to `grid × grid` (values in [0, 1]). */
export async function meanMapOfFiles(
  files: readonly string[],
  grid: number,
): Promise<{ data: Float64Array; height: number; width: number }> {
  if (!files.length) throw new Error("meanMapOfFiles: no files");
  const sum = new Float64Array(grid * grid);
  for (const f of files) {
    const m = await loadMapGray(f, grid).catch((e) => {
      throw new Error(`${f}: cannot read map (${(e as Error).message})`);
    });
    for (let j = 0; j < sum.length; j++) sum[j] += m[j] / 255 / files.length;
  }
  return { data: sum, height: grid, width: grid };
}
