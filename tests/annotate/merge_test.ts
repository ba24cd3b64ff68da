/**
 * `mergeAnnotations` against a hand-computed average, agreement and accuracy; the merged maps read
 * by the loader; existing maps protected unless `force`; the CLI's errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { decodeImage } from "../../lib/data/image.ts";
import { openDataset } from "../../lib/data/dataset.ts";
import { mergeAnnotations, mergeReport } from "../../lib/annotate/merge.ts";
import { saveJudgment, saveMap } from "../../lib/annotate/store.ts";
import { greyPng, makeFixture, treeSnapshot } from "./_fixture.ts";

// Spawned tools resolve against the project root, whatever the test process's cwd (another
// test module in this process may change it).
const PROJECT_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** A 40×30 map that is `v[i]` on pixel i (row 0, columns 0..7) and 0 elsewhere. */
const rowMap = (v: number[]) => greyPng(40, 30, (x, y) => (y === 0 && x < v.length ? v[x] : 0));

async function study(root: string): Promise<void> {
  // a.png: three annotators (hand-computed below); b.png: only ann1; c.jpg: nobody.
  await saveMap(root, "ann1", "a.png", await rowMap([255, 255, 0, 0, 0, 0, 0, 0]));
  await saveMap(root, "ann2", "a.png", await rowMap([255, 0, 255, 0, 0, 0, 0, 100]));
  await saveMap(root, "ann3", "a.png", await rowMap([255, 255, 255, 0, 0, 0, 0, 0]));
  await saveMap(root, "ann1", "b.png", await rowMap([0, 0, 0, 255, 255]));
  const at = "2026-01-01T00:00:00.000Z";
  await saveJudgment(root, "ann1", { image: "a.png", label: "Real", ms: 1000, answeredAt: at });
  await saveJudgment(root, "ann1", {
    image: "b.png",
    label: "Synthetic",
    ms: 2000,
    answeredAt: at,
  });
  await saveJudgment(root, "ann2", { image: "a.png", label: "Synthetic", ms: 500, answeredAt: at });
}

Deno.test("merge: the hand-computed average, coverage, IoU and accuracy; the loader reads it", async () => {
  const { root, csv } = await makeFixture();
  try {
    await study(root);
    const s = await mergeAnnotations({ data: root });
    const a = await decodeImage(join(root, "heatmaps/a.png"), "L");
    const meta = await sharp(join(root, "heatmaps/a.png")).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [40, 30, 1]);
    // round(mean): 255 = all three, 510/3 = 170, 100/3 = 33.33 -> 33.
    assert.deepEqual([...a.data.subarray(0, 8)], [255, 170, 170, 0, 0, 0, 0, 33]);
    assert.ok(a.data.subarray(8).every((v) => v === 0));
    const b = await decodeImage(join(root, "heatmaps/b.png"), "L");
    assert.deepEqual([...b.data.subarray(0, 6)], [0, 0, 0, 255, 255, 0]);

    assert.equal(s.total, 3);
    assert.equal(s.covered, 2);
    assert.equal(s.coverage, 2 / 3);
    // Binarised at 128: ann1 {0,1}, ann2 {0,2}, ann3 {0,1,2}: IoU 1/3, 2/3, 2/3.
    assert.equal(s.pairs, 3);
    assert.ok(Math.abs(s.meanIoU - 5 / 9) < 1e-12, `mean IoU ${s.meanIoU}`);
    const acc = Object.fromEntries(s.annotators.map((x) => [x.annotator, x]));
    assert.deepEqual([acc.ann1.correct, acc.ann1.judged, acc.ann1.meanMs], [2, 2, 1500]);
    assert.deepEqual([acc.ann2.correct, acc.ann2.judged], [0, 1]);
    assert.equal(acc.ann3.judged, 0);
    assert.deepEqual([acc.ann1.maps, acc.ann2.maps, acc.ann3.maps], [2, 1, 1]);
    const text = mergeReport(s);
    assert.match(text, /coverage: 2 \/ 3 .*66\.7%/);
    assert.match(text, /mean pairwise IoU 0\.556 over 3 pair/);
    assert.match(text, /ann2: 1 map\(s\), judgments 0\/1 correct \(0\.0%\)/);

    const ds = await openDataset({
      csv,
      imageRoot: root,
      split: "train",
      inputSize: 8,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      maps: { dir: join(root, "heatmaps"), grid: 4, allowMissing: true },
      cacheDir: false,
    });
    assert.equal(ds.mapCount, 2);
    const batch = await ds.getBatch([0, 1, 2]);
    assert.deepEqual([...batch.hasMap!], [1, 1, 0]);
    ds.close();

    // Merging again overwrites the merged maps (recorded in merged.json).
    await saveMap(root, "ann3", "b.png", await rowMap([0, 0, 0, 255, 0]));
    await mergeAnnotations({ data: root });
    const b2 = await decodeImage(join(root, "heatmaps/b.png"), "L");
    assert.deepEqual([...b2.data.subarray(0, 6)], [0, 0, 0, 255, 128, 0]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("merge: maps no merge wrote are kept unless force; nothing is half-written", async () => {
  const { root } = await makeFixture();
  try {
    await study(root);
    await Deno.mkdir(join(root, "heatmaps"), { recursive: true });
    const own = await greyPng(40, 30, () => 77);
    await Deno.writeFile(join(root, "heatmaps/b.png"), own);
    const before = await treeSnapshot(root);
    await assert.rejects(
      mergeAnnotations({ data: root }),
      (e: Error) =>
        /1 map\(s\) in .*heatmaps were not written by a merge/.test(e.message) &&
        e.message.includes(join(root, "heatmaps/b.png")) &&
        /Nothing was written\. Pass --force/.test(e.message),
    );
    assert.deepEqual(await treeSnapshot(root), before);

    // A merged map edited by hand counts as the user's too.
    await mergeAnnotations({ data: root, force: true });
    const b = await decodeImage(join(root, "heatmaps/b.png"), "L");
    assert.equal(b.data[3], 255);
    await Deno.writeFile(join(root, "heatmaps/a.png"), own);
    await assert.rejects(mergeAnnotations({ data: root }), /heatmaps\/a\.png/);
    assert.deepEqual(await Deno.readFile(join(root, "heatmaps/a.png")), own);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("merge: maps of one image with different sizes are refused before writing", async () => {
  const { root } = await makeFixture();
  try {
    await study(root);
    await Deno.writeFile(
      join(root, "heatmaps/annotators/ann3/a.png"),
      await greyPng(30, 40, () => 255),
    );
    await assert.rejects(mergeAnnotations({ data: root }), /ann3\/a\.png: 30×40, but ann1's map/);
    assert.equal(await Deno.stat(join(root, "heatmaps/b.png")).catch(() => undefined), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task annotate: clear errors, no stack trace; --merge prints the report", async () => {
  const { root } = await makeFixture();
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      cwd: PROJECT_ROOT,
      args: ["run", "-A", "tools/annotate.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  };
  try {
    const bad = await run(["--data", root, "--annotator", "../x"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^annotate: --annotator: "\.\.\/x" is not a valid annotator name/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
    const noCsv = await run(["--data", root, "--annotator", "x", "--csv", join(root, "no.csv")]);
    assert.equal(noCsv.code, 1);
    assert.match(noCsv.stderr, /^annotate: --csv: file not found: .*no\.csv\n$/);
    await study(root);
    const merged = await run(["--merge", "--data", root]);
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /coverage: 2 \/ 3/);
    assert.match(merged.stdout, /ann1: 2 map\(s\), judgments 2\/2 correct/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
