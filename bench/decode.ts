/**
 * Decode + resize throughput of the data pipeline on this machine: images/s through
 * `openDataset(...).getBatch` cold (no cache: decode, resize, normalise), while filling the pixel
 * cache, and from the cache; plus the per-image split between sharp's decode and the TS resize.
 *
 * Synthetic source images (smooth gradients plus noise, so PNG compression is realistic) are
 * written once to bench/out/decode/. Appends one row to bench/results/decode.csv and prints a
 * summary.
 *
 *     deno task bench:decode [--n 64] [--src 512] [--size 224] [--batch 32] [--workers 2]
 *
 * @module
 */
import { appendCsv, csvField } from "../lib/csv_out.ts";
import sharp from "sharp";
import { openDataset } from "../lib/data/dataset.ts";
import { decodeImage } from "../lib/data/image.ts";
import { resizeBilinearPil } from "../lib/data/resize.ts";
import { iterateBatches } from "../lib/data/loader.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(Deno.args[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`--${name}: must be a positive integer (got ${Deno.args[i + 1]})`);
  }
  return v;
}

const N = flag("n", 64);
const SRC = flag("src", 512);
const SIZE = flag("size", 224);
const BATCH = flag("batch", 32);
const OUT = "bench/out/decode";
const RESULTS = "bench/results/decode.csv";

async function makeImages(): Promise<string[]> {
  const dir = `${OUT}/images_${SRC}`;
  await Deno.mkdir(`${dir}/real`, { recursive: true });
  const rows: string[] = [];
  for (let i = 0; i < N; i++) {
    const jpeg = i % 4 === 3; // a quarter JPEG, like mixed real/synthetic sources
    const rel = `real/img_${i}.${jpeg ? "jpg" : "png"}`;
    const file = `${dir}/${rel}`;
    rows.push(`train,${i % 2 ? "Synthetic" : "Real"},/${rel}`);
    try {
      await Deno.stat(file);
      continue;
    } catch { /* make it */ }
    const px = new Uint8Array(SRC * SRC * 3);
    let s = i * 2654435761 >>> 0;
    for (let y = 0; y < SRC; y++) {
      for (let x = 0; x < SRC; x++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        const n = (s >>> 24) % 24;
        const o = (y * SRC + x) * 3;
        px[o] = (x * 255 / SRC + n) & 255;
        px[o + 1] = (y * 255 / SRC + n) & 255;
        px[o + 2] = (128 + 100 * Math.sin((x + y + i) / 17) + n) & 255;
      }
    }
    const img = sharp(px, { raw: { width: SRC, height: SRC, channels: 3 } });
    await Deno.writeFile(file, await (jpeg ? img.jpeg({ quality: 92 }) : img.png()).toBuffer());
  }
  await Deno.writeTextFile(`${dir}/split.csv`, rows.join("\n") + "\n");
  return rows;
}

/** Busy-waits `ms` on the main thread, like a synchronous (cpu backend) training step. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

interface PassResult {
  /** Images per second over the pass. */
  ips: number;
  /** Mean time per batch the consumer waited for data (after its step). */
  waitMs: number;
}

async function pass(
  cacheDir: string | false,
  opts: { prefetch?: number; stepMs?: number; async?: boolean; workers?: number } = {},
): Promise<PassResult> {
  const dir = `${OUT}/images_${SRC}`;
  const ds = await openDataset({
    csv: `${dir}/split.csv`,
    imageRoot: dir,
    split: "train",
    inputSize: SIZE,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    cacheDir,
    workers: opts.workers ?? 0,
  });
  const order = Array.from({ length: ds.items.length }, (_, i) => i);
  const t0 = performance.now();
  let n = 0;
  let batches = 0;
  let wait = 0;
  let asked = performance.now();
  for await (const b of iterateBatches(ds, order, BATCH, { prefetch: opts.prefetch ?? 1 })) {
    wait += performance.now() - asked;
    n += b.n;
    batches++;
    if (opts.stepMs && opts.async) await new Promise((r) => setTimeout(r, opts.stepMs));
    else if (opts.stepMs) busy(opts.stepMs);
    asked = performance.now();
  }
  const ips = n / ((performance.now() - t0) / 1000);
  ds.close();
  return { ips, waitMs: wait / batches };
}

await makeImages();
const dir = `${OUT}/images_${SRC}`;
const files = [...Deno.readDirSync(`${dir}/real`)].map((e) => `${dir}/real/${e.name}`);

// Per-image split: sharp decode (+ Pillow mode conversion) vs the TS Pillow resize.
let decodeMs = 0;
let resizeMs = 0;
for (const f of files) {
  const t0 = performance.now();
  const img = await decodeImage(f, "RGB");
  const t1 = performance.now();
  resizeBilinearPil(img.data, img.width, img.height, 3, SIZE, SIZE);
  resizeMs += performance.now() - t1;
  decodeMs += t1 - t0;
}
decodeMs /= files.length;
resizeMs /= files.length;

const WORKERS = flag("workers", 2);
await pass(false); // warm-up (JIT, sharp thread pool), not reported
const cold = await pass(false);
const coldWorkers = await pass(false, { workers: WORKERS });
const cacheDir = `${OUT}/cache_${Date.now()}`;
const fill = await pass(cacheDir);
const cached = await pass(cacheDir);
await Deno.remove(cacheDir, { recursive: true });
// Overlap with a training step as long as a cold batch load: how long the consumer still waits
// for data per batch. "async": the step awaits (webgpu: the main thread is free while the device
// computes); "sync": the step blocks the main thread (cpu backend), where only workers overlap.
const stepMs = (BATCH / cold.ips) * 1000;
const a0 = await pass(false, { prefetch: 0, stepMs, async: true });
const a1 = await pass(false, { prefetch: 1, stepMs, async: true });
const p0 = await pass(false, { prefetch: 0, stepMs });
const p1 = await pass(false, { prefetch: 1, stepMs });
const p1w = await pass(false, { prefetch: 1, stepMs, workers: WORKERS });

const row = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cpus: navigator.hardwareConcurrency,
  load1: Deno.loadavg()[0].toFixed(1),
  n: N,
  src: SRC,
  size: SIZE,
  batch: BATCH,
  workers: WORKERS,
  decode_ms: decodeMs.toFixed(2),
  resize_ms: resizeMs.toFixed(2),
  cold_ips: cold.ips.toFixed(1),
  cold_ips_workers: coldWorkers.ips.toFixed(1),
  fill_ips: fill.ips.toFixed(1),
  cached_ips: cached.ips.toFixed(1),
  step_ms: stepMs.toFixed(0),
  wait_ms_async_prefetch0: a0.waitMs.toFixed(0),
  wait_ms_async_prefetch1: a1.waitMs.toFixed(0),
  wait_ms_sync_prefetch0: p0.waitMs.toFixed(0),
  wait_ms_sync_prefetch1: p1.waitMs.toFixed(0),
  wait_ms_sync_prefetch1_workers: p1w.waitMs.toFixed(0),
};
await appendCsv(RESULTS, Object.keys(row).join(","), [Object.values(row).map(csvField).join(",")]);
console.log(
  `decode+resize ${N} images ${SRC}x${SRC} -> ${SIZE}x${SIZE}, batch ${BATCH}, ${row.cpus} cpus ` +
    `(load ${row.load1}):\n` +
    `  per image: sharp decode ${row.decode_ms} ms + Pillow resize ${row.resize_ms} ms\n` +
    `  cold ${row.cold_ips} img/s (${WORKERS} workers: ${row.cold_ips_workers}), cache fill ` +
    `${row.fill_ips} img/s, cached ${row.cached_ips} img/s (x${
      (cached.ips / cold.ips).toFixed(1)
    })\n` +
    `  data wait per batch behind a ${row.step_ms} ms step: async step: prefetch 0 ` +
    `${row.wait_ms_async_prefetch0} ms, prefetch 1 ${row.wait_ms_async_prefetch1} ms; sync step: ` +
    `prefetch 0 ${row.wait_ms_sync_prefetch0} ms, prefetch 1 ${row.wait_ms_sync_prefetch1} ms, ` +
    `prefetch 1 + ${WORKERS} workers ${row.wait_ms_sync_prefetch1_workers} ms\n` +
    `  appended to ${RESULTS}`,
);
