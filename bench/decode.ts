/**
 * Decode + resize throughput of the data pipeline on this machine: images/s through
 * `openDataset(...).getBatch` cold (no cache: decode, resize, normalise), while filling the pixel
 * cache, and from the cache; plus the per-image split between sharp's decode and the TS resize.
 *
 * Synthetic source images (smooth gradients plus noise, so PNG compression is realistic) are
 * written once to bench/out/decode/. Appends one row to bench/results/decode.csv and prints a
 * summary.
 *
 *     deno task bench:decode [--n 64] [--src 512] [--size 224] [--batch 32]
 *
 * @module
 */
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

async function pass(cacheDir: string | false): Promise<number> {
  const dir = `${OUT}/images_${SRC}`;
  const ds = await openDataset({
    csv: `${dir}/split.csv`,
    imageRoot: dir,
    split: "train",
    inputSize: SIZE,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    cacheDir,
  });
  const order = Array.from({ length: ds.items.length }, (_, i) => i);
  const t0 = performance.now();
  let n = 0;
  for await (const b of iterateBatches(ds, order, BATCH)) n += b.n;
  return n / ((performance.now() - t0) / 1000);
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

const cacheDir = `${OUT}/cache_${Date.now()}`;
await pass(false); // warm-up (JIT, sharp thread pool), not reported
const cold = await pass(false);
const fill = await pass(cacheDir);
const cached = await pass(cacheDir);
await Deno.remove(cacheDir, { recursive: true });

const row = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cpus: navigator.hardwareConcurrency,
  n: N,
  src: SRC,
  size: SIZE,
  batch: BATCH,
  decode_ms: decodeMs.toFixed(2),
  resize_ms: resizeMs.toFixed(2),
  cold_ips: cold.toFixed(1),
  fill_ips: fill.toFixed(1),
  cached_ips: cached.toFixed(1),
};
await Deno.mkdir("bench/results", { recursive: true });
let header = "";
try {
  await Deno.stat(RESULTS);
} catch {
  header = Object.keys(row).join(",") + "\n";
}
await Deno.writeTextFile(RESULTS, header + Object.values(row).join(",") + "\n", { append: true });
console.log(
  `decode+resize ${N} images ${SRC}x${SRC} -> ${SIZE}x${SIZE} (batch ${BATCH}, ` +
    `${row.cpus} cpus): per image decode ${row.decode_ms} ms + resize ${row.resize_ms} ms; ` +
    `cold ${row.cold_ips} img/s, cache fill ${row.fill_ips} img/s, cached ${row.cached_ips} img/s ` +
    `(x${(cached / cold).toFixed(1)}); appended to ${RESULTS}`,
);
