/**
 * Storage of the annotation study: the items (training rows of a split CSV), each annotator's
 * saliency maps and judgments, all under the data root:
 *
 *     heatmaps/annotators/<name>/<map file>      8-bit grayscale PNG at the image's size
 *     heatmaps/annotators/<name>/judgments.csv   image,label,ms,answered_at (one row per image)
 *
 * An item is named by its image's base name (`abc.png` for `/fakes/abc.png`), the key the loader
 * uses for `heatmaps/` (lib/data/dataset.ts `mapPathFor`). The map file is the base name when it
 * ends in `.png`, else the base name plus `.png`. Every write is atomic (a temporary file in the
 * same folder, then a rename); writes to one file are serialised within the process.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import sharp from "sharp";
import { CLASS_NAMES } from "../data/types.ts";
import { readSplitCsv } from "../data/csv.ts";
import { resolveImagePath } from "../data/dataset.ts";
import { csvField } from "../csv_out.ts";
import { splitCsvLine } from "../data/csv.ts";

/** Allowed annotator names. */
export const ANNOTATOR_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The judgment labels (the CSV's label names). */
export type JudgmentLabel = (typeof CLASS_NAMES)[number];

/** One image to annotate. */
export interface AnnotationItem {
  /** The image's base name: the item's key in the API and in `heatmaps/`. */
  name: string;
  /** Absolute image path (inside the data root). */
  image: string;
  /** The CSV label. */
  label: JudgmentLabel;
  /** `file:line` of the CSV row. */
  where: string;
}

/** One recorded judgment. */
export interface Judgment {
  /** Item name. */
  image: string;
  /** What the annotator answered. */
  label: JudgmentLabel;
  /** Response time in milliseconds (image shown → answer). */
  ms: number;
  /** ISO time of the answer. */
  answeredAt: string;
}

/** Header of `judgments.csv`. */
export const JUDGMENTS_HEADER = "image,label,ms,answered_at";

/** Throws unless `name` is an allowed annotator name (`[A-Za-z0-9_-]{1,64}`). */
export function checkAnnotatorName(name: string, option = "--annotator"): void {
  if (!ANNOTATOR_RE.test(name)) {
    throw new Error(
      `${option}: "${name}" is not a valid annotator name (letters, digits, _ and -, 1-64 chars)`,
    );
  }
}

/** The map file name of an item: the base name, with `.png` added unless it ends in `.png`. */
export function mapFileName(item: string): string {
  return /\.png$/i.test(item) ? item : `${item}.png`;
}

/** `heatmaps/annotators` of a data root. */
export function annotatorsDir(root: string): string {
  return join(root, "heatmaps", "annotators");
}

/** One annotator's folder. */
export function annotatorDir(root: string, annotator: string): string {
  checkAnnotatorName(annotator);
  return join(annotatorsDir(root), annotator);
}

/**
 * Reads the `train` rows of a split CSV as annotation items, rejecting paths that leave the data
 * root (`..`, absolute escapes) and base names used twice (their maps would collide in
 * `heatmaps/`). Errors name the CSV `file:line`.
 */
export async function loadItems(root: string, csv: string): Promise<AnnotationItem[]> {
  const rootAbs = resolve(root);
  const rows = (await readSplitCsv(csv)).filter((r) => r.split === "train");
  if (rows.length === 0) throw new Error(`${csv}: no "train" rows to annotate`);
  const seen = new Map<string, string>();
  const items: AnnotationItem[] = [];
  for (const r of rows) {
    const where = `${r.csv}:${r.line}`;
    if (r.path.split(/[/\\]/).includes("..")) {
      throw new Error(`${where}: image path "${r.path}" contains ".." (must stay in --data)`);
    }
    const image = resolveImagePath(rootAbs, r.path);
    if (!image.startsWith(rootAbs + "/")) {
      throw new Error(`${where}: image path "${r.path}" is outside --data ${rootAbs}`);
    }
    const name = basename(image);
    const prev = seen.get(name);
    if (prev) {
      throw new Error(`${where}: base name "${name}" already used at ${prev} (maps would collide)`);
    }
    seen.set(name, where);
    items.push({ name, image, label: CLASS_NAMES[r.label], where });
  }
  return items;
}

/** True when `path` is `dir` or inside it (both absolute, normalised). */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

/**
 * The real path of `path`, checked to lie inside the real path of `root` (symlinks resolved).
 * Throws `NotFound` when missing and an error naming both when it escapes.
 */
export async function confinedRealPath(root: string, path: string): Promise<string> {
  const realRoot = await Deno.realPath(root);
  const real = await Deno.realPath(path);
  if (!isInside(real, realRoot)) throw new Error(`${path} resolves outside the data root`);
  return real;
}

/**
 * Creates (if needed) and returns an annotator's folder, refusing one that resolves outside the
 * data root (a symlinked `heatmaps/` or annotator folder pointing elsewhere).
 */
export async function ensureAnnotatorDir(root: string, annotator: string): Promise<string> {
  const dir = annotatorDir(root, annotator);
  // Each level is checked before the next is created, so nothing is created outside the root.
  for (const level of [join(root, "heatmaps"), annotatorsDir(root), dir]) {
    try {
      await confinedRealPath(root, level);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await Deno.mkdir(level).catch((err) => {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      });
    }
  }
  return dir;
}

let tmpCounter = 0;
const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier `withFileLock` of the same path (in this process) settled. */
export function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(path) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  locks.set(path, tail);
  tail.then(() => {
    if (locks.get(path) === tail) locks.delete(path);
  });
  return next;
}

/** Writes bytes atomically: a temporary file in the same folder, then a rename over `path`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${Deno.pid}.${++tmpCounter}.tmp`);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Saves an annotator's map (already validated, encoded as 8-bit grayscale PNG). */
export async function saveMap(
  root: string,
  annotator: string,
  item: string,
  png: Uint8Array,
): Promise<string> {
  const dir = await ensureAnnotatorDir(root, annotator);
  const path = join(dir, mapFileName(item));
  await withFileLock(path, () => writeFileAtomic(path, png));
  return path;
}

/** The path of an annotator's map of `item`, or undefined when there is none. */
export async function mapPath(
  root: string,
  annotator: string,
  item: string,
): Promise<string | undefined> {
  const path = join(annotatorDir(root, annotator), mapFileName(item));
  try {
    return (await Deno.stat(path)).isFile ? path : undefined;
  } catch {
    return undefined;
  }
}

/** The map files present in an annotator's folder. */
export async function listMapFiles(root: string, annotator: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir(annotatorDir(root, annotator))) {
      if (e.isFile && !e.name.startsWith(".") && /\.png$/i.test(e.name)) out.add(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** The annotators with a folder under `heatmaps/annotators` (valid names only), sorted. */
export async function listAnnotators(root: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(annotatorsDir(root))) {
      if (e.isDirectory && ANNOTATOR_RE.test(e.name)) out.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Parses `judgments.csv` (errors name `file:line`). */
export function parseJudgments(text: string, file: string): Judgment[] {
  const lines = text.replace(/^\uFEFF/, "").split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines[0] !== JUDGMENTS_HEADER) {
    throw new Error(`${file}:1: expected the header "${JUDGMENTS_HEADER}"`);
  }
  const out: Judgment[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const where = `${file}:${i + 1}`;
    const f = splitCsvLine(lines[i], where);
    if (f.length !== 4) throw new Error(`${where}: expected 4 columns, found ${f.length}`);
    const [image, label, ms, answeredAt] = f;
    if (!(CLASS_NAMES as readonly string[]).includes(label)) {
      throw new Error(`${where}: unknown label "${label}"`);
    }
    const n = Number(ms);
    if (ms === "" || !Number.isFinite(n) || n < 0) throw new Error(`${where}: bad ms "${ms}"`);
    out.push({ image, label: label as JudgmentLabel, ms: n, answeredAt });
  }
  return out;
}

/** An annotator's judgments by item (an empty map when there is no `judgments.csv`). */
export async function readJudgments(
  root: string,
  annotator: string,
): Promise<Map<string, Judgment>> {
  const path = join(annotatorDir(root, annotator), "judgments.csv");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Map();
    throw e;
  }
  return new Map(parseJudgments(text, path).map((j) => [j.image, j]));
}

/**
 * Records a judgment: `judgments.csv` is rewritten atomically, one row per image (answering again
 * replaces the earlier row), under a lock (in this process, and an OS file lock on
 * `.judgments.lock` across processes).
 */
export async function saveJudgment(root: string, annotator: string, j: Judgment): Promise<void> {
  const dir = await ensureAnnotatorDir(root, annotator);
  const path = join(dir, "judgments.csv");
  await withFileLock(path, async () => {
    // Also an OS lock, for two servers writing the same annotator's judgments.
    const lock = await Deno.open(join(dir, ".judgments.lock"), { create: true, write: true });
    try {
      await lock.lock(true);
      const all = await readJudgments(root, annotator);
      all.set(j.image, j);
      const rows = [...all.values()].map((r) =>
        [csvField(r.image), r.label, String(r.ms), csvField(r.answeredAt)].join(",")
      );
      await writeFileAtomic(path, [JUDGMENTS_HEADER, ...rows].join("\n") + "\n");
    } finally {
      lock.close();
    }
  });
}

/** Encodes a uint8 `width × height` map as an 8-bit grayscale PNG (one channel, no alpha). */
export async function encodeGreyPng(
  data: Uint8Array,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const b = await sharp(data, { raw: { width, height, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
