import assert from "node:assert/strict";
import { assertRejects } from "./assert.ts";
import { type CacheKey, PixelCache } from "../../lib/data/cache.ts";
import { tempDir } from "./tmp_images.ts";

Deno.test("PixelCache: put/get round trip; another mtime, size or variant misses", async () => {
  const { dir, cleanup } = await tempDir("cache_test_");
  try {
    const cache = new PixelCache(`${dir}/cache`);
    const key: CacheKey = { path: "/data/a.png", mtimeMs: 1000, size: 42, variant: "rgb:8" };
    assert.equal(await cache.get(key), undefined);
    const payload = Uint8Array.from({ length: 192 }, (_, i) => (i * 7) % 256);
    await cache.put(key, payload);
    assert.deepEqual(await cache.get(key), payload);
    assert.equal(await cache.get({ ...key, mtimeMs: 1001 }), undefined);
    assert.equal(await cache.get({ ...key, size: 43 }), undefined);
    assert.equal(await cache.get({ ...key, variant: "rgb:16" }), undefined);
    assert.equal(await cache.get({ ...key, path: "/data/b.png" }), undefined);
    // No temporary files are left next to the entry.
    const file = await cache.entryPath(key);
    const names = [...Deno.readDirSync(file.slice(0, file.lastIndexOf("/")))].map((e) => e.name);
    assert.deepEqual(names, [file.slice(file.lastIndexOf("/") + 1)]);
  } finally {
    await cleanup();
  }
});

Deno.test("PixelCache: truncated or corrupted entries are misses and get rewritten", async () => {
  const { dir, cleanup } = await tempDir("cache_test_");
  try {
    const cache = new PixelCache(dir);
    const key: CacheKey = { path: "/x.png", mtimeMs: 5, size: 9, variant: "L:7" };
    const payload = new Uint8Array(49).fill(3);
    await cache.put(key, payload);
    const file = await cache.entryPath(key);
    const bytes = await Deno.readFile(file);
    await Deno.writeFile(file, bytes.subarray(0, bytes.length - 1));
    assert.equal(await cache.get(key), undefined, "truncated");
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    await Deno.writeFile(file, flipped);
    assert.equal(await cache.get(key), undefined, "checksum mismatch");
    await cache.put(key, payload);
    assert.deepEqual(await cache.get(key), payload);
  } finally {
    await cleanup();
  }
});

Deno.test("PixelCache.getOrCompute: computes once, then hits; re-computes after the file changes", async () => {
  const { dir, cleanup } = await tempDir("cache_test_");
  try {
    const src = `${dir}/src.bin`;
    await Deno.writeFile(src, new Uint8Array([1, 2, 3]));
    const cache = new PixelCache(`${dir}/c`);
    let calls = 0;
    const compute = () => {
      calls++;
      return Promise.resolve(new Uint8Array(4).fill(calls));
    };
    assert.deepEqual(await cache.getOrCompute(src, "v", 4, compute), new Uint8Array(4).fill(1));
    assert.deepEqual(await cache.getOrCompute(src, "v", 4, compute), new Uint8Array(4).fill(1));
    assert.equal(calls, 1);
    assert.deepEqual(cache.stats, { hits: 1, misses: 1 });
    await Deno.writeFile(src, new Uint8Array([1, 2, 3, 4]));
    assert.deepEqual(await cache.getOrCompute(src, "v", 4, compute), new Uint8Array(4).fill(2));
    assert.equal(calls, 2);
    await assertRejects(
      () => cache.getOrCompute(src, "w", 5, compute),
      Error,
      `${src} (w) produced 4 bytes, expected 5`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("PixelCache: an unwritable cache folder is an error naming it; bad keys rejected", async () => {
  const { dir, cleanup } = await tempDir("cache_test_");
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    const cache = new PixelCache(`${dir}/file`);
    const key: CacheKey = { path: "/a.png", mtimeMs: 0, size: 0, variant: "rgb:2" };
    await assertRejects(
      () => cache.put(key, new Uint8Array(12)),
      Error,
      `cacheDir: cannot write ${dir}/file/`,
    );
    await assertRejects(() => cache.get({ ...key, path: "rel.png" }), Error, "must be absolute");
  } finally {
    await cleanup();
  }
});
