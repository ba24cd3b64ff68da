import assert from "node:assert/strict";
import { assertRejects } from "./assert.ts";
import {
  openDataset,
  type OpenDatasetOptions,
  shuffleWithinClass,
} from "../../lib/data/dataset.ts";
import {
  loadImageRgb,
  loadMapGray,
  normalizeMapInto,
  normalizeTable,
} from "../../lib/data/image.ts";
import { pattern, tempDir, writePng } from "./tmp_images.ts";

const MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const STD: [number, number, number] = [0.229, 0.224, 0.225];

/** root/images/{real,fake}/*.png, root/heatmaps/*.png, root/split.csv (train: 3 rows, test: 1). */
async function makeLayout(dir: string): Promise<OpenDatasetOptions> {
  await writePng(`${dir}/images/real/r0.png`, pattern(20, 12, 3, 1), 20, 12, 3);
  await writePng(`${dir}/images/real/r1.png`, pattern(9, 9, 1, 2), 9, 9, 1);
  await writePng(`${dir}/images/fake/f0.png`, pattern(16, 24, 4, 3), 16, 24, 4);
  await writePng(`${dir}/images/fake/f1.png`, pattern(10, 10, 3, 4), 10, 10, 3);
  await writePng(`${dir}/heatmaps/r0.png`, pattern(14, 14, 1, 5), 14, 14, 1);
  await writePng(`${dir}/heatmaps/r1.png`, new Uint8Array(49), 7, 7, 1);
  await writePng(`${dir}/heatmaps/f0.png`, pattern(30, 20, 3, 6), 30, 20, 3);
  await Deno.writeTextFile(
    `${dir}/split.csv`,
    "train,Real,/images/real/r0.png\r\ntrain,Synthetic,images/fake/f0.png\r\n\r\n" +
      "test,Synthetic,/images/fake/f1.png\r\ntrain,Real,/images/real/r1.png\r\n",
  );
  return {
    csv: `${dir}/split.csv`,
    imageRoot: dir,
    split: "train",
    inputSize: 8,
    mean: MEAN,
    std: STD,
    maps: { dir: `${dir}/heatmaps`, grid: 4 },
    cacheDir: `${dir}/cache`,
  };
}

Deno.test("openDataset serves the split's rows as normalised NHWC batches with maps", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    const ds = await openDataset(opts);
    assert.deepEqual(ds.items.map((r) => [r.path, r.label, r.line]), [
      ["/images/real/r0.png", 0, 1],
      ["images/fake/f0.png", 1, 2],
      ["/images/real/r1.png", 0, 5],
    ]);
    assert.equal(ds.inputSize, 8);
    assert.equal(ds.mapGrid, 4);
    assert.equal(ds.mapCount, 3);
    const b = await ds.getBatch([2, 0]);
    assert.equal(b.n, 2);
    assert.deepEqual(Array.from(b.y), [0, 0]);
    assert.deepEqual(b.paths, ["/images/real/r1.png", "/images/real/r0.png"]);
    assert.equal(b.x.length, 2 * 8 * 8 * 3);
    // Each sample equals decode -> resize -> normalise of its own file.
    const table = normalizeTable(MEAN, STD);
    const r0 = await loadImageRgb(`${dir}/images/real/r0.png`, 8);
    for (let i = 0; i < r0.length; i++) {
      assert.equal(b.x[192 + i], table[(i % 3) * 256 + r0[i]], `x[${192 + i}]`);
    }
    const m0 = new Float32Array(16);
    normalizeMapInto(await loadMapGray(`${dir}/heatmaps/r0.png`, 4), m0, 0);
    assert.deepEqual(b.maps!.subarray(16, 32), m0);
    assert.ok(b.maps!.subarray(0, 16).every((v) => v === 0), "all-zero map stays zeros");
    assert.deepEqual(Array.from(b.hasMap!), [1, 1]);

    const test = await openDataset({ ...opts, split: "test", maps: undefined });
    assert.deepEqual(test.items.map((r) => r.path), ["/images/fake/f1.png"]);
    const tb = await test.getBatch([0]);
    assert.equal(tb.maps, undefined);
    assert.equal(tb.hasMap, undefined);
    assert.deepEqual(Array.from(tb.y), [1]);
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset caches decoded pixels on disk and serves identical batches from it", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    const first = await openDataset(opts);
    const a = await first.getBatch([0, 1, 2]);
    assert.deepEqual(first.cache!.stats, { hits: 0, misses: 6 });
    const second = await openDataset(opts);
    const b = await second.getBatch([0, 1, 2]);
    assert.deepEqual(second.cache!.stats, { hits: 6, misses: 0 });
    assert.deepEqual(b, a);
    const none = await openDataset({ ...opts, cacheDir: false });
    assert.equal(none.cache, undefined);
    assert.deepEqual(await none.getBatch([0, 1, 2]), a);
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset with decode workers serves the same batches; errors still name lines", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    const inline = await openDataset({ ...opts, cacheDir: false });
    const pooled = await openDataset({ ...opts, cacheDir: false, workers: 2 });
    try {
      assert.equal(pooled.pool!.size, 2);
      assert.deepEqual(await pooled.getBatch([1, 2, 0]), await inline.getBatch([1, 2, 0]));
      await Deno.writeTextFile(`${dir}/images/real/r1.png`, "garbage");
      await assertRejects(
        () => pooled.getBatch([2]),
        Error,
        `${dir}/split.csv:5: image: cannot decode ${dir}/images/real/r1.png`,
      );
    } finally {
      pooled.close();
      inline.close();
    }
    await assertRejects(() => openDataset({ ...opts, workers: -1 }), Error, "workers: must be");
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset: missing image names CSV file:line and path", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    await Deno.remove(`${dir}/images/fake/f0.png`);
    await assertRejects(
      () => openDataset(opts),
      Error,
      `${dir}/split.csv:2: image not found: ${dir}/images/fake/f0.png`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset: missing map is an error unless allowMissing (then hasMap 0, CE only)", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    await Deno.remove(`${dir}/heatmaps/f0.png`);
    await assertRejects(
      () => openDataset(opts),
      Error,
      `${dir}/split.csv:2: map not found: ${dir}/heatmaps/f0.png`,
    );
    const ds = await openDataset({ ...opts, maps: { ...opts.maps!, allowMissing: true } });
    assert.equal(ds.mapCount, 2);
    const b = await ds.getBatch([0, 1]);
    assert.deepEqual(Array.from(b.hasMap!), [1, 0]);
    assert.ok(b.maps!.subarray(16).every((v) => v === 0));
    assert.ok(b.maps!.subarray(0, 16).some((v) => v > 0));
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset: empty split, bad options and folders are errors naming them", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    await Deno.writeTextFile(`${dir}/only_test.csv`, "test,Real,/images/real/r0.png\n");
    await assertRejects(
      () => openDataset({ ...opts, csv: `${dir}/only_test.csv` }),
      Error,
      `${dir}/only_test.csv: the "train" split is empty`,
    );
    await assertRejects(() => openDataset({ ...opts, inputSize: 0 }), Error, "inputSize: must be");
    await assertRejects(
      () => openDataset({ ...opts, std: [1, 0, 1] }),
      Error,
      "std: must not contain 0",
    );
    await assertRejects(
      () => openDataset({ ...opts, mean: [1, 2] as unknown as [number, number, number] }),
      Error,
      "mean: must be three finite numbers",
    );
    await assertRejects(
      () => openDataset({ ...opts, imageRoot: `${dir}/nope` }),
      Error,
      `imageRoot: folder not found: ${dir}/nope`,
    );
    await assertRejects(
      () => openDataset({ ...opts, maps: { dir: `${dir}/split.csv`, grid: 7 } }),
      Error,
      `maps.dir: not a folder: ${dir}/split.csv`,
    );
    await assertRejects(
      () => openDataset({ ...opts, maps: { dir: `${dir}/heatmaps`, grid: 2.5 } }),
      Error,
      "maps.grid: must be a positive integer",
    );
    await Deno.writeTextFile(`${dir}/bad.csv`, "train,Real,/images/real/r0.png\ntrain,Fake,/x\n");
    await assertRejects(
      () => openDataset({ ...opts, csv: `${dir}/bad.csv` }),
      Error,
      `${dir}/bad.csv:2: unknown label "Fake"`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("getBatch: a corrupt image or map names the file and the CSV line", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    await Deno.writeTextFile(`${dir}/images/fake/f0.png`, "definitely not a png");
    const ds = await openDataset(opts);
    await assertRejects(
      () => ds.getBatch([0, 1]),
      Error,
      `${dir}/split.csv:2: image: cannot decode ${dir}/images/fake/f0.png`,
    );
    await Deno.writeTextFile(`${dir}/heatmaps/r1.png`, "");
    await assertRejects(
      () => ds.getBatch([2]),
      Error,
      `${dir}/split.csv:5: map: image: cannot decode ${dir}/heatmaps/r1.png`,
    );
    await assertRejects(() => ds.getBatch([3]), Error, "index 3 out of range [0, 3)");
    await Deno.remove(`${dir}/images/real/r0.png`);
    await assertRejects(
      () => ds.getBatch([0]),
      Error,
      `${dir}/split.csv:1: cannot read ${dir}/images/real/r0.png`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("openDataset: CSV paths leading outside the image root (.., symlinks) name file:line", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const root = `${dir}/root`;
    const opts = await makeLayout(root);
    // A real image outside the root, reached by `..` and by a symbolic link under images/.
    await Deno.copyFile(`${root}/images/real/r0.png`, `${dir}/OUTSIDE.png`);
    await Deno.symlink(`${dir}/OUTSIDE.png`, `${root}/images/real/link.png`);
    for (const [row, line] of [["/../OUTSIDE.png", 2], ["/images/real/link.png", 2]] as const) {
      await Deno.writeTextFile(opts.csv, `train,Real,/images/real/r0.png\ntrain,Real,${row}\n`);
      await assertRejects(
        () => openDataset({ ...opts, maps: undefined }),
        Error,
        `${opts.csv}:${line}: image path "${row}" leads outside ${root}`,
      );
    }
    // A symbolic link that stays inside the root is followed.
    await Deno.symlink(`${root}/images/real/r1.png`, `${root}/images/real/inside.png`);
    await Deno.writeTextFile(opts.csv, "train,Real,/images/real/inside.png\n");
    const ds = await openDataset({ ...opts, maps: undefined });
    assert.equal(ds.items.length, 1);
    // A map that is a link to a file outside the map folder.
    await Deno.symlink(`${dir}/OUTSIDE.png`, `${root}/heatmaps/inside.png`);
    await assertRejects(
      () => openDataset(opts),
      Error,
      `map ${root}/heatmaps/inside.png leads outside`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("checkDecodes lists every image and map that does not decode, by CSV line", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    const ds = await openDataset(opts);
    assert.deepEqual(await ds.checkDecodes(), []);
    const png = await Deno.readFile(`${dir}/images/real/r0.png`);
    await Deno.writeFile(`${dir}/images/real/r0.png`, png.subarray(0, png.length - 12));
    await Deno.writeFile(`${dir}/heatmaps/r1.png`, new TextEncoder().encode("not an image"));
    const again = await openDataset(opts);
    const problems = await again.checkDecodes();
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0], /split\.csv:1: image: cannot decode .*r0\.png: PNG ends before IEND/);
    assert.match(problems[1], /split\.csv:5: map: image: cannot decode .*heatmaps\/r1\.png/);
  } finally {
    await cleanup();
  }
});

Deno.test("shuffleWithinClass: every map moves to another item of its class; seeded; no map stays none", () => {
  const labels = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const maps = labels.map((_, i) => (i === 7 || i === 9 ? undefined : `m${i}`));
  const a = shuffleWithinClass(maps, labels, 3);
  assert.deepEqual(shuffleWithinClass(maps, labels, 3), a, "same seed, same pairing");
  assert.notDeepEqual(shuffleWithinClass(maps, labels, 4), a, "another seed, another pairing");
  assert.deepEqual(
    [...a].filter((m) => m).sort(),
    [...maps].filter((m) => m).sort(),
    "a permutation",
  );
  a.forEach((m, i) => {
    if (maps[i] === undefined) return assert.equal(m, undefined, `item ${i} has no map`);
    assert.notEqual(m, maps[i], `item ${i} kept its own map`);
    assert.equal(labels[Number(m!.slice(1))], labels[i], `item ${i} got a map of the other class`);
  });
  assert.deepEqual(shuffleWithinClass(["only", "x"], [0, 1], 1), ["only", "x"], "single map kept");
});

Deno.test("openDataset with maps.shuffleSeed serves another same-class image's map", async () => {
  const { dir, cleanup } = await tempDir("dataset_test_");
  try {
    const opts = await makeLayout(dir);
    const ds = await openDataset({ ...opts, maps: { ...opts.maps!, shuffleSeed: 0 } });
    // r0 and r1 are the two reals: each gets the other's map; f0 is the only fake.
    assert.deepEqual(ds.mapPaths, [
      `${dir}/heatmaps/r1.png`,
      `${dir}/heatmaps/f0.png`,
      `${dir}/heatmaps/r0.png`,
    ]);
    const b = await ds.getBatch([0]);
    assert.ok(b.maps!.every((v) => v === 0), "r0 trains on r1's all-zero map");
  } finally {
    await cleanup();
  }
});
