import assert from "node:assert/strict";
import { assertRejects } from "./assert.ts";
import { iterateBatches } from "../../lib/data/loader.ts";
import type { Batch, Dataset, SampleRef } from "../../lib/data/types.ts";

/** An in-memory dataset whose getBatch records calls and resolves when the test lets it. */
class FakeDataset implements Dataset {
  readonly items: SampleRef[];
  readonly inputSize = 1;
  readonly calls: number[][] = [];
  failOn?: number;

  constructor(n: number) {
    this.items = Array.from({ length: n }, (_, i) => ({
      split: "train" as const,
      label: (i % 2) as 0 | 1,
      path: `/p${i}.png`,
      csv: "fake.csv",
      line: i + 1,
    }));
  }

  async getBatch(indices: readonly number[]): Promise<Batch> {
    this.calls.push([...indices]);
    await new Promise((r) => setTimeout(r, 2));
    if (this.failOn !== undefined && indices.includes(this.failOn)) {
      throw new Error(`fake.csv:${this.failOn + 1}: cannot decode /p${this.failOn}.png`);
    }
    return {
      n: indices.length,
      x: Float32Array.from(indices, (i) => i),
      y: Int32Array.from(indices, (i) => this.items[i].label),
      paths: indices.map((i) => this.items[i].path),
    };
  }
}

Deno.test("iterateBatches yields order in batchSize slices, the last one partial", async () => {
  const ds = new FakeDataset(7);
  const order = [6, 2, 0, 5, 1, 3, 4];
  const seen: number[][] = [];
  for await (const b of iterateBatches(ds, order, 3)) seen.push(Array.from(b.x));
  assert.deepEqual(seen, [[6, 2, 0], [5, 1, 3], [4]]);
  assert.deepEqual(ds.calls, [[6, 2, 0], [5, 1, 3], [4]]);
  const none: Batch[] = [];
  for await (const b of iterateBatches(ds, [], 3)) none.push(b);
  assert.equal(none.length, 0);
});

Deno.test("iterateBatches prefetches exactly `prefetch` batches ahead of the consumer", async () => {
  for (const prefetch of [0, 1, 2]) {
    const ds = new FakeDataset(10);
    const order = Array.from({ length: 10 }, (_, i) => i);
    let k = 0;
    for await (const _ of iterateBatches(ds, order, 2, { prefetch })) {
      // While the caller holds batch k, batches up to k + prefetch have been requested.
      assert.equal(ds.calls.length, Math.min(k + 1 + prefetch, 5), `prefetch ${prefetch}, k ${k}`);
      await new Promise((r) => setTimeout(r, 5)); // "training"
      k++;
    }
    assert.equal(k, 5);
  }
});

Deno.test("iterateBatches: a failing prefetched batch raises at that batch; break settles", async () => {
  const ds = new FakeDataset(6);
  ds.failOn = 4;
  const got: number[] = [];
  await assertRejects(
    async () => {
      for await (const b of iterateBatches(ds, [0, 1, 2, 3, 4, 5], 2)) got.push(b.n);
    },
    Error,
    "fake.csv:5: cannot decode /p4.png",
  );
  assert.deepEqual(got, [2, 2], "the batches before the bad one were delivered");

  const ds2 = new FakeDataset(6);
  for await (const _ of iterateBatches(ds2, [0, 1, 2, 3, 4, 5], 2, { prefetch: 2 })) break;
  // The test sanitizer would flag a getBatch timer still pending after the loop.
  assert.equal(ds2.calls.length, 3);
});

Deno.test("iterateBatches validates its arguments", async () => {
  const ds = new FakeDataset(3);
  const drain = async (it: AsyncGenerator<Batch>) => {
    for await (const _ of it);
  };
  await assertRejects(() => drain(iterateBatches(ds, [0], 0)), Error, "batchSize: must be");
  await assertRejects(
    () => drain(iterateBatches(ds, [0], 1, { prefetch: -1 })),
    Error,
    "prefetch: must be",
  );
  await assertRejects(
    () => drain(iterateBatches(ds, [0, 3], 1)),
    Error,
    "order[1]: 3 is not an item index in [0, 3)",
  );
  assert.equal(ds.calls.length, 0);
});
