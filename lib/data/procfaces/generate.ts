/**
 * Generates the procedural-faces benchmark: plans the items, renders them (in module workers when
 * asked), encodes PNGs with sharp, writes the shortcut variant (`<out>/procfaces/`) and/or the
 * control variant (`<out>/procfaces-control/`) with content-compared atomic writes, then the CSVs,
 * a manifest, a README and the completion marker. The two variants share every face (same seed):
 * they differ only by the training-only shortcut mark.
 *
 * @module
 */
import { datasetReadme } from "./dataset_readme.ts";
import {
  type Counts,
  csvLine,
  imagePath,
  PAPER_COUNTS,
  planDataset,
  type PlannedItem,
} from "./layout.ts";
import type { RenderRequest, RenderResponse } from "./render_worker.ts";
import { type RenderedItem, renderItem } from "./sample.ts";
import { DEFAULT_SHORTCUT, type ShortcutSpec } from "./shortcut.ts";
import {
  COMPLETE_MARKER,
  contentHash,
  DatasetWriter,
  encodePng,
  type WriteStats,
} from "./writer.ts";

/** Format tag written into the completion marker; bump when the output changes meaning. */
export const PROCFACES_FORMAT = "procfaces/1";

/** Which variants to write. */
export type VariantChoice = "both" | "shortcut" | "control";

/** Folder names of the two variants under the output folder. */
export const VARIANT_DIRS = { shortcut: "procfaces", control: "procfaces-control" } as const;

/** Options of {@linkcode generate}. */
export interface GenerateOptions {
  /** Dataset seed (default 1). */
  seed?: number;
  /** Image side in pixels (default 64). */
  size?: number;
  /** Parent folder of the variant folders (default `data`). */
  out?: string;
  /** Variants to write (default `both`). */
  variant?: VariantChoice;
  /** Image counts (default the paper's). */
  counts?: Counts;
  /** Render workers; 0 renders on the main thread (default: hardware concurrency, at most 4). */
  workers?: number;
  /** Items per worker request (default 24). */
  chunk?: number;
  /** The shortcut of the `procfaces` variant (default {@linkcode DEFAULT_SHORTCUT}). */
  shortcut?: ShortcutSpec;
  /** Progress lines (default silent). */
  log?: (line: string) => void;
  /**
   * Re-render and compare every file even when the completion marker says the folder is up to
   * date (default false: a folder whose marker matches these options and this generator's source,
   * and whose files all hash to the marker's digest, is left alone without rendering).
   */
  force?: boolean;
  /** Test hook: called before every real file write, with that writer's write count. */
  beforeWrite?: (count: number) => void;
}

/** What a run did. */
export interface GenerateReport {
  /** Wall time in seconds. */
  seconds: number;
  /** Number of images per variant. */
  images: number;
  /** Per variant: folder, write counters, and whether it was verified up to date (not rendered). */
  variants: {
    variant: "shortcut" | "control";
    root: string;
    stats: WriteStats;
    upToDate: boolean;
  }[];
}

function checkInt(name: string, v: number, min: number, max = Infinity): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`procfaces ${name}: expected an integer in [${min}, ${max}], got ${v}`);
  }
}

/**
 * Hash of the generator's own source (this folder's modules and the PRNG), recorded in the marker
 * so that a changed generator never takes the up-to-date shortcut; null when unreadable.
 */
export async function generatorSourceHash(): Promise<string | null> {
  try {
    const dir = new URL(".", import.meta.url);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ts")) names.push(e.name);
    }
    names.sort();
    const parts: string[] = [];
    for (const n of names) parts.push(n, contentHash(await Deno.readFile(new URL(n, dir))));
    parts.push(
      "rng.ts",
      contentHash(await Deno.readFile(new URL("../../rng.ts", import.meta.url))),
    );
    return contentHash(new TextEncoder().encode(parts.join("\n")));
  } catch {
    return null;
  }
}

/** Every file of a variant folder except the marker. */
export function expectedFiles(plan: ReturnType<typeof planDataset>): string[] {
  const out: string[] = [];
  for (const it of plan.items) {
    out.push(imagePath(it).slice(1), `masks/${it.base}.png`);
    if (it.hasMap) out.push(`heatmaps/${it.base}.png`);
  }
  out.push(...plan.csvs.map((c) => c.path), "manifest.csv", "README.md");
  return out;
}

/** Renders items, in order, through `workers` module workers (or inline with 0). */
async function* renderAll(
  items: PlannedItem[],
  seed: number,
  size: number,
  shortcut: ShortcutSpec | null,
  workers: number,
  chunk: number,
): AsyncGenerator<{ item: PlannedItem; index: number; result: RenderedItem }[]> {
  const chunks: number[][] = [];
  for (let i = 0; i < items.length; i += chunk) {
    chunks.push(Array.from({ length: Math.min(chunk, items.length - i) }, (_, k) => i + k));
  }
  if (workers === 0) {
    for (const idx of chunks) {
      yield idx.map((index) => ({
        item: items[index],
        index,
        result: renderItem(seed, items[index], size, shortcut),
      }));
    }
    return;
  }
  const pool = Array.from(
    { length: Math.min(workers, chunks.length) },
    () => new Worker(new URL("./render_worker.ts", import.meta.url), { type: "module" }),
  );
  const waiting = new Map<
    number,
    { resolve: (r: RenderedItem[]) => void; reject: (e: Error) => void }
  >();
  for (const w of pool) {
    w.onmessage = (e: MessageEvent<RenderResponse>) => {
      const p = waiting.get(e.data.id);
      if (!p) return;
      waiting.delete(e.data.id);
      if (e.data.error !== undefined) {
        p.reject(new Error(`procfaces render worker: ${e.data.error}`));
      } else p.resolve(e.data.results!);
    };
    w.onerror = (e) => {
      e.preventDefault();
      for (const p of waiting.values()) {
        p.reject(new Error(`procfaces render worker crashed: ${e.message}`));
      }
      waiting.clear();
    };
  }
  const request = (w: Worker, id: number): Promise<RenderedItem[]> =>
    new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      const msg: RenderRequest = {
        id,
        seed,
        size,
        shortcut,
        items: chunks[id].map((i) => items[i]),
      };
      w.postMessage(msg);
    });
  try {
    // Keep every worker busy with up to two requests; yield chunks in order.
    const inflight: Promise<RenderedItem[]>[] = [];
    let next = 0;
    const depth = pool.length * 2;
    while (next < chunks.length && inflight.length < depth) {
      inflight.push(request(pool[next % pool.length], next));
      next++;
    }
    for (let c = 0; c < chunks.length; c++) {
      const results = await inflight[c];
      if (next < chunks.length) {
        inflight.push(request(pool[next % pool.length], next));
        next++;
      }
      yield chunks[c].map((index, k) => ({ item: items[index], index, result: results[k] }));
    }
  } finally {
    for (const w of pool) w.terminate();
  }
}

/** Generates the benchmark; see the module doc. */
export async function generate(opts: GenerateOptions = {}): Promise<GenerateReport> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const size = opts.size ?? 64;
  const out = (opts.out ?? "data").replace(/\/+$/, "");
  const variant = opts.variant ?? "both";
  const counts = opts.counts ?? PAPER_COUNTS;
  const workers = opts.workers ?? Math.min(4, navigator.hardwareConcurrency ?? 1);
  const chunk = opts.chunk ?? 24;
  const spec = opts.shortcut ?? DEFAULT_SHORTCUT;
  const log = opts.log ?? (() => {});
  checkInt("--seed", seed, 0, 0xffffffff);
  checkInt("--size", size, 8, 1024);
  checkInt("workers", workers, 0, 64);
  checkInt("chunk", chunk, 1, 10000);
  if (!["both", "shortcut", "control"].includes(variant)) {
    throw new Error(`procfaces --variant: expected both, shortcut or control, got "${variant}"`);
  }
  const plan = planDataset(counts);
  const kinds = variant === "both" ? (["shortcut", "control"] as const) : ([variant] as const);
  const genHash = await generatorSourceHash();
  const markerBase = (v: "shortcut" | "control") => ({
    format: PROCFACES_FORMAT,
    variant: v,
    seed,
    size,
    counts,
    shortcut: v === "shortcut" ? spec : null,
    images: plan.items.length,
    generator: genHash,
  });
  const files = expectedFiles(plan);
  const all = kinds.map((v) => ({
    variant: v,
    w: new DatasetWriter(`${out}/${VARIANT_DIRS[v]}`),
    upToDate: false,
  }));
  for (const entry of all) {
    const { variant: v, w } = entry;
    if (opts.force || genHash === null) continue;
    let marker: Record<string, unknown>;
    try {
      marker = JSON.parse(await Deno.readTextFile(`${w.root}/${COMPLETE_MARKER}`));
    } catch {
      continue;
    }
    const { digest, ...rest } = marker;
    if (JSON.stringify(rest) !== JSON.stringify(markerBase(v)) || typeof digest !== "string") {
      continue;
    }
    if (await w.verify(files, digest)) {
      entry.upToDate = true;
      w.stats.unchanged = files.length + 1;
      log(`procfaces: ${w.root} (${v}) is up to date (all ${files.length} files verified)`);
    }
  }
  const writers = all.filter((e) => !e.upToDate);
  for (const { w } of writers) {
    w.beforeWrite = opts.beforeWrite;
    await w.begin();
  }
  const manifest: string[][] = writers.map(() => new Array<string>(plan.items.length));
  const shortcutOn = writers.some((e) => e.variant === "shortcut") ? spec : null;
  const itemsToRender = writers.length ? plan.items : [];
  let done = 0, lastLog = performance.now();

  for await (const batch of renderAll(itemsToRender, seed, size, shortcutOn, workers, chunk)) {
    await Promise.all(batch.map(async ({ item, index, result }) => {
      const [rgb, rgbS, mask, heat] = await Promise.all([
        encodePng(result.rgb, size, 3),
        result.rgbShortcut ? encodePng(result.rgbShortcut, size, 3) : undefined,
        encodePng(result.mask, size, 1),
        result.heatmap ? encodePng(result.heatmap, size, 1) : undefined,
      ]);
      const fams = [...new Set(result.artifacts.map((a) => a.family))].join(";");
      const strength = result.artifacts.length
        ? Math.max(...result.artifacts.map((a) => a.strength)).toFixed(3)
        : "";
      await Promise.all(writers.map(async ({ variant: v, w }, k) => {
        const marked = v === "shortcut" && rgbS !== undefined;
        await w.put(imagePath(item).slice(1), marked ? rgbS : rgb);
        await w.put(`masks/${item.base}.png`, mask);
        if (heat) await w.put(`heatmaps/${item.base}.png`, heat);
        manifest[k][index] = [
          item.base,
          item.label === 0 ? "Real" : "Synthetic",
          item.source,
          item.group,
          item.hasMap ? "1" : "0",
          marked ? "1" : "0",
          fams,
          strength,
        ].join(",");
      }));
    }));
    done += batch.length;
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(
        `procfaces: ${done}/${plan.items.length} images (${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s)`,
      );
    }
  }

  const enc = new TextEncoder();
  for (const [k, { variant: v, w }] of writers.entries()) {
    const meta = [...plan.csvs.map((c) => c.path), "manifest.csv", "README.md", COMPLETE_MARKER];
    for (const p of meta) w.expect(p);
    await w.removeStale();
    for (const c of plan.csvs) {
      await w.put(
        c.path,
        enc.encode(c.rows.map((r) => csvLine(r.split, r.item)).join("\n") + "\n"),
      );
    }
    const header = "base,label,source,group,has_map,shortcut,artifacts,strength";
    await w.put("manifest.csv", enc.encode([header, ...manifest[k]].join("\n") + "\n"));
    await w.put(
      "README.md",
      enc.encode(
        datasetReadme({
          variant: v,
          seed,
          size,
          counts,
          plan,
          shortcut: v === "shortcut" ? spec : null,
        }),
      ),
    );
    const marker = { ...markerBase(v), digest: w.digest() };
    await w.put(COMPLETE_MARKER, enc.encode(JSON.stringify(marker, null, 2) + "\n"));
    await w.end();
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const { variant: v, w } of writers) {
    log(
      `procfaces: ${w.root} (${v}): ${w.stats.written} written, ${w.stats.unchanged} unchanged, ${w.stats.removed} removed`,
    );
  }
  return {
    seconds,
    images: plan.items.length,
    variants: all.map(({ variant: v, w, upToDate }) => ({
      upToDate,
      variant: v,
      root: w.root,
      stats: { ...w.stats },
    })),
  };
}
