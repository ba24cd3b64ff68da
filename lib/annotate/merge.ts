/**
 * Merging the annotators' maps into the maps the loader reads: for every training image with at
 * least one annotator map, `heatmaps/<image base name>` (lib/data/dataset.ts `mapPathFor`) becomes
 * the per-pixel mean of the annotators' maps, `round(Σ v / k)` over the k maps, as an 8-bit
 * grayscale PNG: 255 where every annotator marked the pixel fully.
 *
 * Maps written by a merge are recorded with their SHA-256 in `heatmaps/annotators/merged.json`; a
 * later merge overwrites those freely, but any other existing file in `heatmaps/` (maps that came
 * with the data, or a merged map edited since) is refused unless `force`, and then nothing is
 * written.
 *
 * Reported: coverage (images with ≥ 1 map / training images), inter-annotator agreement (the mean
 * over images with ≥ 2 maps of every annotator pair's IoU of the maps binarised at ≥ 128; a pair
 * where both marked nothing is left out) and each annotator's judgment accuracy against the CSV.
 *
 * @module
 */
import { join } from "node:path";
import { decodeImage } from "../data/image.ts";
import { mapPathFor } from "../data/dataset.ts";
import {
  annotatorDir,
  annotatorsDir,
  encodeGreyPng,
  listAnnotators,
  listMapFiles,
  loadItems,
  mapFileName,
  readJudgments,
  writeFileAtomic,
} from "./store.ts";

/** Options of {@linkcode mergeAnnotations}. */
export interface MergeOptions {
  /** The data root. */
  data: string;
  /** The split CSV (default `<data>/csvs/original.csv`). */
  csv?: string;
  /** Overwrite existing maps that no merge wrote. */
  force?: boolean;
  /** False: only measure (coverage, agreement, accuracy); write nothing (default true). */
  write?: boolean;
}

/** One annotator's judgment accuracy. */
export interface AnnotatorAccuracy {
  /** Annotator name. */
  annotator: string;
  /** Maps saved by this annotator (for images of the CSV). */
  maps: number;
  /** Judgments of images of the CSV. */
  judged: number;
  /** Judgments equal to the CSV label. */
  correct: number;
  /** `correct / judged` (NaN without judgments). */
  accuracy: number;
  /** Mean response time in ms (NaN without judgments). */
  meanMs: number;
}

/** What a merge did and measured. */
export interface MergeSummary {
  /** Training images of the CSV. */
  total: number;
  /** Images with at least one annotator map. */
  covered: number;
  /** `covered / total`. */
  coverage: number;
  /** Files written under `heatmaps/`. */
  written: string[];
  /** Mean pairwise IoU of the binarised maps (NaN when no pair exists). */
  meanIoU: number;
  /** Annotator pairs the IoU is averaged over. */
  pairs: number;
  /** Per-annotator accuracy. */
  annotators: AnnotatorAccuracy[];
  /** Map files in annotator folders that match no training image. */
  unknownMaps: string[];
}

/** Threshold of the binarisation used for agreement. */
export const BINARY_THRESHOLD = 128;

/** The manifest of merged maps: file name under `heatmaps/` → SHA-256 hex of its bytes. */
export function mergedManifestPath(root: string): string {
  return join(annotatorsDir(root), "merged.json");
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** IoU of two binarised maps; undefined when both are empty. */
export function binaryIoU(
  a: Uint8Array,
  b: Uint8Array,
  threshold = BINARY_THRESHOLD,
): number | undefined {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] >= threshold;
    const y = b[i] >= threshold;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? undefined : inter / union;
}

/** The per-pixel mean `round(Σ v / k)` of equally sized uint8 maps. */
export function averageMaps(maps: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(maps[0].length);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (const m of maps) s += m[i];
    out[i] = Math.round(s / maps.length);
  }
  return out;
}

/**
 * Averages the annotators' maps into `heatmaps/` (module doc). Throws, writing nothing, when an
 * existing map would be overwritten without `force`, or when an annotator's map has another size
 * than the others' of the same image.
 */
export async function mergeAnnotations(opts: MergeOptions): Promise<MergeSummary> {
  const root = opts.data;
  try {
    if (!(await Deno.stat(root)).isDirectory) throw new Error();
  } catch {
    throw new Error(`--data: folder not found: ${root}`);
  }
  const csv = opts.csv ?? join(root, "csvs", "original.csv");
  const items = await loadItems(root, csv);
  const annotators = await listAnnotators(root);
  const heatDir = join(root, "heatmaps");
  const manifestPath = mergedManifestPath(root);
  let manifest: Record<string, string> = {};
  try {
    manifest = JSON.parse(await Deno.readTextFile(manifestPath));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${manifestPath}: cannot read: ${(e as Error).message}`);
    }
  }

  const files = new Map<string, Set<string>>();
  for (const a of annotators) files.set(a, await listMapFiles(root, a));
  const known = new Set(items.map((it) => mapFileName(it.name)));
  const unknownMaps = annotators.flatMap((a) =>
    [...files.get(a)!].filter((f) => !known.has(f)).map((f) => `${a}/${f}`)
  );

  // Read and average everything first: nothing is written before every check passed.
  const merged: { name: string; out: string; png: Uint8Array }[] = [];
  let iouSum = 0;
  let pairs = 0;
  for (const it of items) {
    const who = annotators.filter((a) => files.get(a)!.has(mapFileName(it.name)));
    if (!who.length) continue;
    const maps: Uint8Array[] = [];
    let size: { width: number; height: number; by: string } | undefined;
    for (const a of who) {
      const path = join(annotatorDir(root, a), mapFileName(it.name));
      const m = await decodeImage(path, "L");
      if (size && (m.width !== size.width || m.height !== size.height)) {
        throw new Error(
          `${path}: ${m.width}×${m.height}, but ${size.by}'s map of the same image is ` +
            `${size.width}×${size.height}`,
        );
      }
      size ??= { width: m.width, height: m.height, by: a };
      maps.push(m.data);
    }
    for (let i = 0; i < maps.length; i++) {
      for (let j = i + 1; j < maps.length; j++) {
        const iou = binaryIoU(maps[i], maps[j]);
        if (iou !== undefined) {
          iouSum += iou;
          pairs++;
        }
      }
    }
    const png = await encodeGreyPng(averageMaps(maps), size!.width, size!.height);
    merged.push({ name: it.name, out: mapPathFor(heatDir, it.name), png });
  }

  const write = opts.write ?? true;
  const conflicts: string[] = [];
  for (const m of write ? merged : []) {
    let existing: Uint8Array;
    try {
      existing = await Deno.readFile(m.out);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    if (manifest[m.name] !== (await sha256(existing))) conflicts.push(m.out);
  }
  if (conflicts.length && !opts.force) {
    const shown = conflicts.slice(0, 5).join("\n  ");
    const more = conflicts.length > 5 ? `\n  ... and ${conflicts.length - 5} more` : "";
    throw new Error(
      `${conflicts.length} map(s) in ${heatDir} were not written by a merge and would be ` +
        `overwritten:\n  ${shown}${more}\nNothing was written. Pass --force to overwrite them.`,
    );
  }

  const written: string[] = [];
  if (write) await Deno.mkdir(heatDir, { recursive: true });
  for (const m of write ? merged : []) {
    await writeFileAtomic(m.out, m.png);
    manifest[m.name] = await sha256(m.png);
    written.push(m.out);
  }
  if (written.length) {
    await Deno.mkdir(annotatorsDir(root), { recursive: true });
    await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  }

  const labels = new Map(items.map((it) => [it.name, it.label]));
  const accuracy: AnnotatorAccuracy[] = [];
  for (const a of annotators) {
    const js = [...(await readJudgments(root, a)).values()].filter((j) => labels.has(j.image));
    const correct = js.filter((j) => j.label === labels.get(j.image)).length;
    accuracy.push({
      annotator: a,
      maps: [...files.get(a)!].filter((f) => known.has(f)).length,
      judged: js.length,
      correct,
      accuracy: js.length ? correct / js.length : NaN,
      meanMs: js.length ? js.reduce((s, j) => s + j.ms, 0) / js.length : NaN,
    });
  }
  return {
    total: items.length,
    covered: merged.length,
    coverage: merged.length / items.length,
    written,
    meanIoU: pairs ? iouSum / pairs : NaN,
    pairs,
    annotators: accuracy,
    unknownMaps,
  };
}

/** A plain-text report of a merge. */
export function mergeReport(s: MergeSummary): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a");
  const lines = [
    `merged maps written: ${s.written.length}`,
    `coverage: ${s.covered} / ${s.total} training images have at least one map (${
      pct(s.coverage)
    })`,
    `inter-annotator agreement: mean pairwise IoU ${
      Number.isFinite(s.meanIoU) ? s.meanIoU.toFixed(3) : "n/a"
    } over ${s.pairs} pair(s) (maps binarised at >= ${BINARY_THRESHOLD})`,
  ];
  if (!s.annotators.length) lines.push("no annotators under heatmaps/annotators/");
  for (const a of s.annotators) {
    lines.push(
      `  ${a.annotator}: ${a.maps} map(s), judgments ${a.correct}/${a.judged} correct (${
        pct(a.accuracy)
      })${Number.isFinite(a.meanMs) ? `, mean response ${Math.round(a.meanMs)} ms` : ""}`,
    );
  }
  if (s.unknownMaps.length) {
    lines.push(
      `ignored ${s.unknownMaps.length} map file(s) matching no training image: ${
        s.unknownMaps.slice(0, 3).join(", ")
      }${s.unknownMaps.length > 3 ? ", ..." : ""}`,
    );
  }
  if (s.covered < s.total) {
    lines.push(
      `${s.total - s.covered} training image(s) have no map: train with --allow-missing-maps ` +
        `or annotate them`,
    );
  }
  return lines.join("\n");
}
