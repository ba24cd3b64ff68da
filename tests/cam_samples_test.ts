import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { camSampleCells, camSamples, mapsIn, readMapFile } from "../lib/cam_samples.ts";
import { predict } from "../lib/evaluate.ts";
import { openDataset } from "../lib/data/dataset.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";

Deno.test("camSamples: chosen rows, scores equal predict's, CAMs normalised at the grid", async () => {
  await initBackend("cpu");
  const root = await tinyDataRoot();
  const csv = `${root}/csvs/test_sets/unseen_dots.csv`;
  const entry = getBackbone("tinycnn");
  const model = entry.build({ seed: 3, inputSize: 16 });
  try {
    const got = await camSamples(model, { csv, imageRoot: root, indices: [2, 0] });
    assert.equal(got.length, 2);
    const ds = await openDataset({
      csv,
      imageRoot: root,
      split: "test",
      inputSize: 16,
      mean: entry.spec.mean,
      std: entry.spec.std,
      cacheDir: false,
    });
    const all = await predict(model, ds);
    assert.equal(got[0].csvPath, ds.items[2].path);
    assert.ok(Math.abs(got[0].score - all.scores[2]) < 1e-6);
    assert.ok(Math.abs(got[1].score - all.scores[0]) < 1e-6);
    const g = entry.spec.camGrid(16);
    for (const s of got) {
      assert.equal(s.label, 1);
      assert.equal(s.cam.height, g);
      assert.equal(s.cam.data.length, g * g);
      assert.ok(Array.from(s.cam.data).every((v) => v >= -1e-6 && v <= 1 + 1e-6));
      assert.equal(s.pixels.size, 16);
      assert.equal(s.pixels.data.length, 16 * 16 * 3);
    }
    await assert.rejects(
      () => camSamples(model, { csv, imageRoot: root, indices: [999] }),
      /indices\[0\]: 999 is not a row of .*unseen_dots\.csv/,
    );
  } finally {
    model.store.dispose();
  }
});

Deno.test("camSampleCells: 2 or 3 PNG cells per sample; mapsIn finds masks by base name", async () => {
  await initBackend("cpu");
  const root = await tinyDataRoot();
  const model = getBackbone("tinycnn").build({ seed: 0, inputSize: 16 });
  try {
    const samples = await camSamples(model, {
      csv: `${root}/csvs/test_sets/real_same.csv`,
      imageRoot: root,
      indices: [0],
    });
    const masks = mapsIn(`${root}/masks`, "mask");
    const m = await masks(samples[0]);
    assert.equal(m?.title, "mask");
    assert.ok(m!.file.endsWith(".png"));
    assert.equal(
      await mapsIn(`${root}/heatmaps`, "human")(samples[0]),
      undefined,
      "test images have no human map",
    );
    const three = await camSampleCells(samples, masks);
    assert.equal(three.length, 3);
    assert.ok(three.every((c) => c.src.startsWith("data:image/png;base64,")));
    assert.match(three[2].title!, /^CAM \((Real|Synthetic)\)$/);
    assert.equal((await camSampleCells(samples)).length, 2);
    const none = await camSampleCells(samples, () => undefined);
    assert.equal(none[1].title, "no map");
    const map = await readMapFile(m!.file);
    assert.equal(map.data.length, map.height * map.width);
    assert.ok(Array.from(map.data).every((v) => v >= 0 && v <= 1));
  } finally {
    model.store.dispose();
  }
});
