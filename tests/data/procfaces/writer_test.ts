import assert from "node:assert/strict";
import { exists } from "../../../lib/run_dir.ts";
import {
  COMPLETE_MARKER,
  DatasetWriter,
  decodePng,
  encodePng,
} from "../../../lib/data/procfaces/writer.ts";

const enc = new TextEncoder();

Deno.test("writer: PNG round trip (RGB and grayscale), deterministic bytes", async () => {
  const rgb = new Uint8Array(8 * 8 * 3).map((_, i) => (i * 37) & 255);
  const gray = new Uint8Array(8 * 8).map((_, i) => (i * 11) & 255);
  const a = await encodePng(rgb, 8, 3), b = await encodePng(rgb, 8, 3);
  assert.deepEqual(a, b);
  assert.deepEqual((await decodePng(a, 3)).pixels, rgb);
  const g = await encodePng(gray, 8, 1);
  assert.equal(g[25], 0, "PNG colour type 0 (grayscale)");
  assert.deepEqual((await decodePng(g, 1)).pixels, gray);
  await assert.rejects(() => encodePng(rgb, 9, 3), /expected 243 bytes/);
});

Deno.test("writer: identical content is not rewritten; changes drop marker and CSVs first; stale files go", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = `${dir}/ds`;
    const w1 = new DatasetWriter(root);
    await w1.begin();
    await w1.put("images/a.png", enc.encode("A"));
    await w1.put("images/old.png", enc.encode("O"));
    await w1.put("csvs/x.csv", enc.encode("x"));
    await w1.put(COMPLETE_MARKER, enc.encode("{}"));
    await w1.end();
    assert.deepEqual(w1.stats, { written: 4, unchanged: 0, removed: 0 });
    assert.equal(await exists(w1.tmpDir), false);
    const mtime = (await Deno.stat(`${root}/images/a.png`)).mtime!.getTime();

    // Same content: nothing written, marker kept.
    const w2 = new DatasetWriter(root);
    await w2.begin();
    await w2.put("images/a.png", enc.encode("A"));
    assert.equal(w2.changed, false);
    assert.equal(await exists(`${root}/${COMPLETE_MARKER}`), true);
    assert.equal((await Deno.stat(`${root}/images/a.png`)).mtime!.getTime(), mtime);

    // A change removes the marker and the CSV entry points before writing.
    await w2.put("images/b.png", enc.encode("B"));
    assert.equal(w2.changed, true);
    assert.equal(await exists(`${root}/${COMPLETE_MARKER}`), false);
    assert.equal(await exists(`${root}/csvs`), false);
    w2.expect("csvs/x.csv");
    await w2.removeStale();
    assert.equal(await exists(`${root}/images/old.png`), false);
    assert.equal(w2.stats.removed, 1);
    assert.equal(await exists(`${root}/images/a.png`), true);
    await w2.end();
    assert.equal(await exists(w2.tmpDir), false);
    await assert.rejects(() => w2.put("../evil", enc.encode("x")), /bad path/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
