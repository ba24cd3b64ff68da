import assert from "node:assert/strict";
import {
  listSamples,
  meanMapOfFiles,
  sampleCountTable,
  samplesBySource,
} from "../../lib/data/samples.ts";
import { readSplitCsv } from "../../lib/data/csv.ts";
import { loadMapGray } from "../../lib/data/image.ts";
import { tinyDataRoot } from "../_support/tiny_data.ts";

Deno.test("listSamples: every image once, with sources, groups, maps and masks from the layout", async () => {
  const root = await tinyDataRoot();
  const samples = await listSamples(root);
  const original = await readSplitCsv(`${root}/csvs/original.csv`);
  const bases = new Set(samples.map((s) => s.base));
  assert.equal(bases.size, samples.length, "no duplicates");
  // Every training row of original.csv has a human map, in group "train".
  const train = samples.filter((s) => s.group === "train");
  assert.equal(train.length, original.filter((r) => r.split === "train").length);
  assert.ok(train.every((s) => s.map && s.mask));
  assert.ok(samples.filter((s) => s.group === "test").every((s) => !s.map && s.mask));
  const large = samples.filter((s) => s.group === "large");
  assert.ok(large.length > 0 && large.every((s) => !s.map));
  // Sources come from the manifest: training generators and unseen generators.
  const sources = new Set(samples.filter((s) => s.label === 1).map((s) => s.source));
  for (const g of ["gen_checker", "gen_lines", "gen_grid", "unseen_dots"]) {
    assert.ok(sources.has(g), g);
  }
  assert.ok(samples.some((s) => s.shortcut), "the shortcut variant marks some images");
  for (const s of samples.slice(0, 5)) await Deno.stat(s.image);
});

Deno.test("listSamples without a manifest falls back to test set names and split labels", async () => {
  const root = await tinyDataRoot();
  const copy = await Deno.makeTempDir({ prefix: "cyborg-samples-" });
  try {
    await Deno.mkdir(`${copy}/csvs/test_sets`, { recursive: true });
    await Deno.copyFile(`${root}/csvs/original.csv`, `${copy}/csvs/original.csv`);
    await Deno.copyFile(
      `${root}/csvs/test_sets/unseen_dots.csv`,
      `${copy}/csvs/test_sets/unseen_dots.csv`,
    );
    const samples = await listSamples(copy);
    const sources = [...new Set(samples.map((s) => s.source))].sort();
    assert.deepEqual(sources, [
      "train Real",
      "train Synthetic",
      "unseen_dots",
      "val Real",
      "val Synthetic",
    ]);
    assert.ok(samples.every((s) => s.map === undefined && s.shortcut === undefined));
    assert.ok(samples[0].image.startsWith(`${copy}/images/`));
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("samplesBySource: at most n per source, reals first, filter applied; bad n throws", async () => {
  const samples = await listSamples(await tinyDataRoot());
  const groups = samplesBySource(samples, 2, (s) => s.group !== "large");
  const keys = [...groups.keys()];
  assert.ok(keys.indexOf("standard") < keys.indexOf("gen_checker"));
  for (const g of groups.values()) assert.ok(g.length >= 1 && g.length <= 2);
  assert.ok([...groups.values()].flat().every((s) => s.group !== "large"));
  assert.throws(() => samplesBySource(samples, 0), /n must be ≥ 1, got 0/);
});

Deno.test("sampleCountTable counts per group and source add up to the samples", async () => {
  const samples = await listSamples(await tinyDataRoot());
  const t = sampleCountTable(samples);
  const total = t.rows.reduce((a, r) => a + (r[2] as number) + (r[3] as number), 0);
  assert.equal(total, samples.length);
  const maps = t.rows.reduce((a, r) => a + (r[4] as number), 0);
  assert.equal(maps, samples.filter((s) => s.map).length);
  const trainStd = t.rows.find((r) => r[0] === "train" && r[1] === "standard")!;
  assert.equal(trainStd[3], 0, "standard reals have no fakes");
});

Deno.test("meanMapOfFiles is the mean of the resized maps; unreadable files are named", async () => {
  const samples = await listSamples(await tinyDataRoot());
  const files = samples.filter((s) => s.map).slice(0, 3).map((s) => s.map!);
  const m = await meanMapOfFiles(files, 4);
  const maps = await Promise.all(files.map((f) => loadMapGray(f, 4)));
  for (let j = 0; j < 16; j++) {
    const want = maps.reduce((a, x) => a + x[j] / 255, 0) / 3;
    assert.ok(Math.abs(m.data[j] - want) < 1e-12);
  }
  await assert.rejects(() => meanMapOfFiles([], 4), /no files/);
  await assert.rejects(
    () => meanMapOfFiles(["/nonexistent/x.png"], 4),
    /\/nonexistent\/x\.png: cannot read map/,
  );
});
