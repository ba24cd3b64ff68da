/**
 * The store's writes: each replaces its file whole (maps, judgments, merged maps), and the
 * judgments file under concurrent writers in two processes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { mergeAnnotations } from "../../lib/annotate/merge.ts";
import { readJudgments, saveJudgment, saveMap } from "../../lib/annotate/store.ts";
import { greyPng, makeFixture } from "./_fixture.ts";

/**
 * Opens `path`, runs `write`, and returns the bytes the handle opened before reads afterwards: the
 * old file whole when `write` put a new file in its place, else what `write` left in it.
 */
async function readThroughEarlierHandle(
  path: string,
  write: () => Promise<unknown>,
): Promise<Uint8Array> {
  const f = await Deno.open(path);
  try {
    await write();
    const bytes: number[] = [];
    const buf = new Uint8Array(4096);
    for (let n = await f.read(buf); n !== null; n = await f.read(buf)) {
      bytes.push(...buf.subarray(0, n));
    }
    return new Uint8Array(bytes);
  } finally {
    f.close();
  }
}

/** Names of the temporary files left in `dir`. */
async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".tmp")) out.push(e.name);
  return out;
}

Deno.test("every write replaces its file whole: a reader of the old file reads it unchanged", async () => {
  const { root } = await makeFixture();
  try {
    const dir = join(root, "heatmaps/annotators/ann");
    const at = "2026-01-01T00:00:00.000Z";

    // A map saved again.
    const map = join(dir, "a.png");
    const old = await greyPng(40, 30, (x) => (x < 10 ? 255 : 0));
    const next = await greyPng(40, 30, (x) => (x >= 30 ? 255 : 0));
    await saveMap(root, "ann", "a.png", old);
    const seenMap = await readThroughEarlierHandle(map, () => saveMap(root, "ann", "a.png", next));
    assert.deepEqual(seenMap, old, "a saved map was rewritten in place");
    assert.deepEqual(await Deno.readFile(map), next);

    // judgments.csv with a row added.
    const csv = join(dir, "judgments.csv");
    await saveJudgment(root, "ann", { image: "a.png", label: "Real", ms: 700, answeredAt: at });
    const oldCsv = await Deno.readFile(csv);
    const seenCsv = await readThroughEarlierHandle(
      csv,
      () => saveJudgment(root, "ann", { image: "b.png", label: "Real", ms: 80, answeredAt: at }),
    );
    assert.deepEqual(seenCsv, oldCsv, "judgments.csv was rewritten in place");
    assert.equal((await readJudgments(root, "ann")).size, 2);

    // A merged map merged again.
    await mergeAnnotations({ data: root });
    const merged = join(root, "heatmaps/a.png");
    const oldMerged = await Deno.readFile(merged);
    await saveMap(root, "ann", "a.png", old);
    const seenMerged = await readThroughEarlierHandle(
      merged,
      () => mergeAnnotations({ data: root }),
    );
    assert.deepEqual(seenMerged, oldMerged, "a merged map was rewritten in place");
    assert.notDeepEqual(await Deno.readFile(merged), oldMerged);

    assert.deepEqual(await leftovers(dir), []);
    assert.deepEqual(await leftovers(join(root, "heatmaps")), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("judgments.csv: two processes writing one annotator's judgments lose no row", async () => {
  const root = await Deno.makeTempDir({ prefix: "cyborg-annot-store-" });
  try {
    const store = new URL("../../lib/annotate/store.ts", import.meta.url).href;
    const start = Date.now() + 2500; // both processes begin writing at the same moment
    const n = 40;
    const child = (k: number) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { saveJudgment } from ${JSON.stringify(store)};
          await new Promise((r) => setTimeout(r, Math.max(0, ${start} - Date.now())));
          for (let i = 0; i < ${n}; i++) {
            await saveJudgment(${JSON.stringify(root)}, "ann", {
              image: "p${k}_" + i + ".png", label: "Real", ms: i, answeredAt: "t" });
          }`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const outs = await Promise.all([child(0), child(1)]);
    for (const o of outs) assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    const j = await readJudgments(root, "ann");
    assert.equal(j.size, 2 * n, `${2 * n - j.size} judgment(s) lost`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
