import assert from "node:assert/strict";
import { openDataset } from "../../../lib/data/dataset.ts";
import { generate } from "../../../lib/data/procfaces/generate.ts";

// The contract with the paper-layout loader (lib/data/dataset.ts): a generated folder opens like
// the paper's repository, with maps for every training row of original.csv.
Deno.test("procfaces output opens with the paper-layout loader, maps included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "procfaces_loader_" });
  try {
    const counts = {
      trainReal: 4,
      trainFake: 4,
      valReal: 2,
      valFake: 2,
      largeReal: 6,
      largeFake: 6,
      testPerSource: 2,
    };
    await generate({ seed: 2, size: 32, out: dir, counts, workers: 0, variant: "control" });
    const root = `${dir}/procfaces-control`;
    const common = {
      imageRoot: root,
      inputSize: 32,
      mean: [0.5, 0.5, 0.5] as [number, number, number],
      std: [0.5, 0.5, 0.5] as [number, number, number],
      cacheDir: false as const,
    };
    const train = await openDataset({
      ...common,
      csv: `${root}/csvs/original.csv`,
      split: "train",
      maps: { dir: `${root}/heatmaps`, grid: 8 },
    });
    assert.equal(train.items.length, 8);
    const batch = await train.getBatch([0, 1, 4, 5]);
    assert.deepEqual(Array.from(batch.y), [0, 0, 1, 1]);
    assert.equal(batch.x.length, 4 * 32 * 32 * 3);
    assert.deepEqual(Array.from(batch.hasMap!), [1, 1, 1, 1]);
    assert.ok(batch.maps!.some((v) => v > 0));
    const val = await openDataset({ ...common, csv: `${root}/csvs/original.csv`, split: "test" });
    assert.equal(val.items.length, 4);
    const unseen = await openDataset({
      ...common,
      csv: `${root}/csvs/test_sets/unseen_teeth.csv`,
      split: "test",
    });
    assert.equal(unseen.items.length, 2);
    const large = await openDataset({
      ...common,
      csv: `${root}/csvs/large_dataset_7x.csv`,
      split: "train",
      maps: { dir: `${root}/heatmaps`, grid: 8, allowMissing: true },
    });
    assert.equal(large.items.length, 12);
    assert.equal(large.mapCount, 8);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
