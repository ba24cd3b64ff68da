/**
 * Opens one split of a paper-layout dataset: a split CSV, the image root its paths are relative
 * to, and optionally a folder of human saliency maps (one grayscale map per image, under the
 * image's base name: `heatmaps/abc.png` for `images/real/abc.png`). Segmentation masks use the
 * same mechanism with another folder.
 *
 * Everything that can be checked cheaply is checked when the dataset is opened, so a bad CSV fails
 * before any training starts: the options, the split being non-empty, every image file existing
 * inside the image root (CSV paths are resolved through `..` and symbolic links; one leading
 * outside the root is an error), and (when maps are requested) every map existing inside its
 * folder. Errors name the CSV `file:line` and the
 * missing path. Decoding happens per batch (a corrupt image fails then, naming the file and the
 * CSV line); decoded uint8 pixels are cached on disk (lib/data/cache.ts) and converted to float32
 * only for the batch being built, so memory does not grow with the dataset.
 *
 * Missing maps with `allowMissing`: such samples get `hasMap = 0` and an all-zero map in the
 * batch; the CYBORG loss treats them as CE-only (their CAM term is dropped).
 *
 * @module
 */
import { basename, join, resolve, sep } from "node:path";
import { readSplitCsv } from "./csv.ts";
import { DEFAULT_CACHE_DIR, PixelCache } from "./cache.ts";
import { DecodePool } from "./decode_pool.ts";
import {
  loadImageRgb,
  loadMapGray,
  normalizeInto,
  normalizeMapInto,
  normalizeTable,
} from "./image.ts";
import type { Batch, Dataset, SampleRef } from "./types.ts";
import { Rng } from "../rng.ts";

/** Options of {@linkcode openDataset}. */
export interface OpenDatasetOptions {
  /** The split CSV (`train|test,Real|Synthetic,/relative/path`). */
  csv: string;
  /** The folder the CSV paths are relative to (a leading `/` in a CSV path is relative too). */
  imageRoot: string;
  /** Which rows to serve. */
  split: "train" | "test";
  /** Square input side (images are resized to `inputSize × inputSize`, no crop). */
  inputSize: number;
  /** Per-channel mean of `Normalize` (on the 0..1 scale). */
  mean: [number, number, number];
  /** Per-channel std of `Normalize`. */
  std: [number, number, number];
  /**
   * Saliency maps: folder, CAM grid side, whether a missing map is allowed (CE-only), and
   * `shuffleSeed`: when set, each image gets another same-class image's map instead of its own
   * ({@linkcode shuffleWithinClass}), a control that keeps the maps' class template and drops
   * their per-image content.
   */
  maps?: { dir: string; grid: number; allowMissing?: boolean; shuffleSeed?: number };
  /** Pixel cache folder (default `data/.cache`); `false` disables caching. */
  cacheDir?: string | false;
  /**
   * Decode/resize workers (lib/data/decode_pool.ts). Default 0: decode in this thread (sharp's
   * own threads still do the decoding proper). Workers keep cache misses off the main thread, so
   * they overlap with synchronous training steps; call `close()` when done (idle workers also
   * stop by themselves after 2 s).
   */
  workers?: number;
}

/** A {@linkcode Dataset} backed by image files, with per-sample file paths. */
export interface FileDataset extends Dataset {
  /** Absolute image path of each item. */
  readonly imagePaths: readonly string[];
  /** Absolute map path of each item (undefined where missing or without maps). */
  readonly mapPaths: readonly (string | undefined)[];
  /** Number of items that have a map. */
  readonly mapCount: number;
  /** The pixel cache in use, if any. */
  readonly cache?: PixelCache;
  /** The decode workers in use, if any. */
  readonly pool?: DecodePool;
  /** Stops the decode workers (if any) now. Safe to call more than once. */
  close(): void;
  /**
   * Decodes every image and map once (through the pixel cache, so training then reads them from
   * it) and returns one `csv:line: problem` per file that does not decode, in CSV order.
   */
  checkDecodes(): Promise<string[]>;
}

/** How many files are checked or decoded at once. */
const IO_CONCURRENCY = 32;

/**
 * Runs `fn` over `items` with at most `limit` promises in flight; results in input order. After a
 * failure no new item starts, and the first error is thrown once the started ones have settled.
 */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return out;
}

/**
 * Where `path` really is when it is a file inside `root` (both resolved through `..` and symbolic
 * links): `"missing"` when there is no file, `"outside"` when it resolves outside `root`.
 */
async function locate(path: string, realRoot: string): Promise<"ok" | "missing" | "outside"> {
  let real: string;
  try {
    real = await Deno.realPath(path);
    if (!(await Deno.stat(real)).isFile) return "missing";
  } catch {
    return "missing";
  }
  return isInside(real, realRoot) ? "ok" : "outside";
}

/** True when `path` is `root` or lies below it (both absolute, resolved). */
export function isInside(path: string, root: string): boolean {
  const r = root.endsWith(sep) ? root : root + sep;
  return path === root || path.startsWith(r);
}

async function requireDir(path: string, option: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    throw new Error(`${option}: folder not found: ${path}`);
  }
  if (!st.isDirectory) throw new Error(`${option}: not a folder: ${path}`);
}

function requirePositiveInt(v: unknown, option: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new Error(`${option}: must be a positive integer (got ${JSON.stringify(v)})`);
  }
}

function requireTriple(v: unknown, option: string): void {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isFinite(x))) {
    throw new Error(`${option}: must be three finite numbers (got ${JSON.stringify(v)})`);
  }
}

/** Resolves a CSV path against the image root (a leading `/` is relative to the root). */
export function resolveImagePath(imageRoot: string, csvPath: string): string {
  return resolve(imageRoot, csvPath.replace(/^[/\\]+/, ""));
}

/** The map file of an image: the image's base name inside `mapDir`. */
export function mapPathFor(mapDir: string, csvPath: string): string {
  return resolve(join(mapDir, basename(csvPath)));
}

function listProblems(lines: string[], what: string): string {
  const shown = lines.slice(0, 5).join("\n  ");
  const more = lines.length > 5 ? `\n  ... and ${lines.length - 5} more` : "";
  return `${lines.length} ${what}:\n  ${shown}${more}`;
}

/**
 * Gives every item that has a map the map of another item of the same label: within each label,
 * the items with a map are put in a random cyclic order (seeded by `seed`) and each takes the map
 * of the next one, so no item keeps its own map (a class with a single map keeps it). Items
 * without a map stay without.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shuffleWithinClass } from "./dataset.ts";
 * const maps = shuffleWithinClass(["a", "b", "c", "x", undefined], [0, 0, 0, 1, 1], 7);
 * assert.ok(maps[0] !== "a" && ["b", "c"].includes(maps[0]!));
 * assert.ok(maps[3] === "x" && maps[4] === undefined);
 * ```
 */
export function shuffleWithinClass<T>(
  maps: readonly (T | undefined)[],
  labels: readonly number[],
  seed: number,
): (T | undefined)[] {
  const out = maps.slice();
  const rng = new Rng(seed).fork("shuffle-maps");
  for (const label of [...new Set(labels)].sort((a, b) => a - b)) {
    const idx = maps.flatMap((m, i) => (m !== undefined && labels[i] === label ? [i] : []));
    const order = rng.fork(label).permutation(idx.length).map((k) => idx[k]);
    order.forEach((i, k) => (out[i] = maps[order[(k + 1) % order.length]]));
  }
  return out;
}

/**
 * Opens `opts.split` of the CSV, validating options, files and maps up front (see the module doc).
 */
export async function openDataset(opts: OpenDatasetOptions): Promise<FileDataset> {
  if (typeof opts.csv !== "string" || opts.csv === "") throw new Error("csv: must be a file path");
  if (opts.split !== "train" && opts.split !== "test") {
    throw new Error(`split: must be "train" or "test" (got ${JSON.stringify(opts.split)})`);
  }
  requirePositiveInt(opts.inputSize, "inputSize");
  requireTriple(opts.mean, "mean");
  if (opts.workers !== undefined && opts.workers !== 0) requirePositiveInt(opts.workers, "workers");
  requireTriple(opts.std, "std");
  if (opts.std.some((s) => s === 0)) throw new Error("std: must not contain 0");
  await requireDir(opts.imageRoot, "imageRoot");
  if (opts.maps) {
    requirePositiveInt(opts.maps.grid, "maps.grid");
    await requireDir(opts.maps.dir, "maps.dir");
  }

  const rows = (await readSplitCsv(opts.csv)).filter((r) => r.split === opts.split);
  if (rows.length === 0) {
    throw new Error(`${opts.csv}: the "${opts.split}" split is empty (no rows with that split)`);
  }

  // Every path must resolve (through `..` and symbolic links) to a file inside its root.
  const realRoot = await Deno.realPath(opts.imageRoot);
  const imagePaths = rows.map((r) => resolveImagePath(opts.imageRoot, r.path));
  const found = await mapLimit(imagePaths, IO_CONCURRENCY, (p) => locate(p, realRoot));
  const outside = rows.flatMap((r, i) =>
    found[i] === "outside"
      ? [`${r.csv}:${r.line}: image path ${JSON.stringify(r.path)} leads outside ${opts.imageRoot}`]
      : []
  );
  if (outside.length) throw new Error(listProblems(outside, "image path(s) outside the data root"));
  const missing = rows.flatMap((r, i) =>
    found[i] === "ok" ? [] : [`${r.csv}:${r.line}: image not found: ${imagePaths[i]}`]
  );
  if (missing.length) throw new Error(listProblems(missing, "missing image file(s)"));

  let mapPaths: (string | undefined)[] = rows.map(() => undefined);
  if (opts.maps) {
    const dir = opts.maps.dir;
    const realDir = await Deno.realPath(dir);
    const candidates = rows.map((r) => mapPathFor(dir, r.path));
    const have = await mapLimit(candidates, IO_CONCURRENCY, (p) => locate(p, realDir));
    const away = rows.flatMap((r, i) =>
      have[i] === "outside" ? [`${r.csv}:${r.line}: map ${candidates[i]} leads outside ${dir}`] : []
    );
    if (away.length) throw new Error(listProblems(away, "map(s) outside the map folder"));
    const absent = rows.flatMap((r, i) =>
      have[i] === "ok" ? [] : [`${r.csv}:${r.line}: map not found: ${candidates[i]}`]
    );
    if (absent.length && !opts.maps.allowMissing) {
      throw new Error(
        listProblems(absent, "missing map(s)") +
          "\n(pass allowMissing / --allow-missing-maps to train those samples with CE only)",
      );
    }
    mapPaths = candidates.map((p, i) => (have[i] === "ok" ? p : undefined));
    if (opts.maps.shuffleSeed !== undefined) {
      mapPaths = shuffleWithinClass(mapPaths, rows.map((r) => r.label), opts.maps.shuffleSeed);
    }
  }

  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const cache = cacheDir === false ? undefined : new PixelCache(cacheDir);
  const pool = opts.workers ? new DecodePool(opts.workers) : undefined;
  return new FolderDataset(rows, imagePaths, mapPaths, opts, cache, pool);
}

class FolderDataset implements FileDataset {
  readonly items: readonly SampleRef[];
  readonly imagePaths: readonly string[];
  readonly mapPaths: readonly (string | undefined)[];
  readonly mapCount: number;
  readonly inputSize: number;
  readonly mapGrid?: number;
  readonly cache?: PixelCache;
  readonly pool?: DecodePool;
  readonly #table: Float32Array;

  constructor(
    items: SampleRef[],
    imagePaths: string[],
    mapPaths: (string | undefined)[],
    opts: OpenDatasetOptions,
    cache: PixelCache | undefined,
    pool: DecodePool | undefined,
  ) {
    this.items = items;
    this.imagePaths = imagePaths;
    this.mapPaths = mapPaths;
    this.mapCount = mapPaths.filter((p) => p !== undefined).length;
    this.inputSize = opts.inputSize;
    this.mapGrid = opts.maps?.grid;
    this.cache = cache;
    this.pool = pool;
    this.#table = normalizeTable(opts.mean, opts.std);
  }

  close(): void {
    this.pool?.close();
  }

  async #pixels(
    path: string,
    variant: string,
    length: number,
    load: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    if (!this.cache) return await load();
    return await this.cache.getOrCompute(path, variant, length, load);
  }

  async getBatch(indices: readonly number[]): Promise<Batch> {
    const n = indices.length;
    if (n === 0) throw new Error("getBatch: no indices");
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.items.length) {
        throw new Error(`getBatch: index ${i} out of range [0, ${this.items.length})`);
      }
    }
    const s = this.inputSize;
    const g = this.mapGrid;
    const px = s * s * 3;
    const x = new Float32Array(n * px);
    const y = new Int32Array(n);
    const maps = g !== undefined ? new Float32Array(n * g * g) : undefined;
    const hasMap = g !== undefined ? new Uint8Array(n) : undefined;
    const paths = indices.map((i) => this.items[i].path);
    await mapLimit(indices, IO_CONCURRENCY, async (idx, k) => {
      normalizeInto(await this.#rgb(idx), this.#table, x, k * px);
      y[k] = this.items[idx].label;
      if (g !== undefined && this.mapPaths[idx] !== undefined) {
        normalizeMapInto(await this.#map(idx, g), maps!, k * g * g);
        hasMap![k] = 1;
      }
    });
    return { n, x, y, maps, hasMap, paths };
  }

  /** The resized pixels of item `idx` (errors name the CSV line and the file). */
  async #rgb(idx: number): Promise<Uint8Array> {
    const s = this.inputSize;
    const ref = this.items[idx];
    const file = this.imagePaths[idx];
    try {
      const load = this.pool ? () => this.pool!.loadRgb(file, s) : () => loadImageRgb(file, s);
      return await this.#pixels(file, `rgb:${s}`, s * s * 3, load);
    } catch (e) {
      throw new Error(`${ref.csv}:${ref.line}: ${describe(e, file)}`);
    }
  }

  /** The map of item `idx` at the `g × g` grid (errors name the CSV line and the file). */
  async #map(idx: number, g: number): Promise<Uint8Array> {
    const ref = this.items[idx];
    const mapFile = this.mapPaths[idx]!;
    try {
      const load = this.pool ? () => this.pool!.loadMap(mapFile, g) : () => loadMapGray(mapFile, g);
      return await this.#pixels(mapFile, `L:${g}`, g * g, load);
    } catch (e) {
      throw new Error(`${ref.csv}:${ref.line}: map: ${describe(e, mapFile)}`);
    }
  }

  async checkDecodes(): Promise<string[]> {
    const g = this.mapGrid;
    const found = await mapLimit(this.items, IO_CONCURRENCY, async (_, idx) => {
      const problems: string[] = [];
      try {
        await this.#rgb(idx);
      } catch (e) {
        problems.push((e as Error).message);
      }
      if (g !== undefined && this.mapPaths[idx] !== undefined) {
        try {
          await this.#map(idx, g);
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      return problems;
    });
    return found.flat();
  }
}

/** An error message that names `file` (decode errors already do; stat/read errors may not). */
function describe(e: unknown, file: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.includes(file) ? msg : `${file}: ${msg}`;
}
