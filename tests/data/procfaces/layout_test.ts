import assert from "node:assert/strict";
import {
  csvLine,
  PAPER_COUNTS,
  planDataset,
  REAL_SOURCES,
  scaleCounts,
  SEEN_TEST_SET,
} from "../../../lib/data/procfaces/layout.ts";
import { SEEN_GENERATORS, UNSEEN_GENERATORS } from "../../../lib/data/procfaces/artifacts.ts";

Deno.test("layout: paper counts, unique base names, 7x is a superset, validation rows labelled test", () => {
  const plan = planDataset(PAPER_COUNTS);
  const bases = new Set(plan.items.map((i) => i.base));
  assert.equal(bases.size, plan.items.length);
  const byPath = new Map(plan.csvs.map((c) => [c.path, c]));
  const orig = byPath.get("csvs/original.csv")!;
  const large = byPath.get("csvs/large_dataset_7x.csv")!;
  const count = (rows: typeof orig.rows, split: string, label: number) =>
    rows.filter((r) => r.split === split && r.item.label === label).length;
  assert.equal(count(orig.rows, "train", 0), 919);
  assert.equal(count(orig.rows, "train", 1), 902);
  assert.equal(count(orig.rows, "test", 0), 200);
  assert.equal(count(orig.rows, "test", 1), 200);
  assert.equal(count(large.rows, "train", 0), 6433);
  assert.equal(count(large.rows, "train", 1), 6314);
  const largeBases = new Set(large.rows.map((r) => r.item.base));
  for (const r of orig.rows) assert.ok(largeBases.has(r.item.base), r.item.base);
  // Every original training row has a map; nothing else does.
  const origTrain = new Set(orig.rows.filter((r) => r.split === "train").map((r) => r.item));
  for (const it of plan.items) assert.equal(it.hasMap, origTrain.has(it), it.base);
  // Test sets: seen generators + each unseen generator (fakes) + each real source (reals).
  const testNames = plan.csvs.filter((c) => c.path.startsWith("csvs/test_sets/")).map((c) =>
    c.path.replace(/^csvs\/test_sets\/(.*)\.csv$/, "$1")
  );
  assert.deepEqual(
    testNames.sort(),
    [
      SEEN_TEST_SET,
      ...UNSEEN_GENERATORS.map((g) => g.name),
      ...REAL_SOURCES.map((r) => r.name),
    ].sort(),
  );
  for (const c of plan.csvs.filter((c) => c.path.startsWith("csvs/test_sets/"))) {
    assert.equal(c.rows.length, 300);
    for (const r of c.rows) {
      assert.equal(r.split, "test");
      assert.equal(r.item.shortcutEligible, false);
      assert.equal(r.item.label, c.path.includes("real_") ? 0 : 1);
    }
  }
  // Training fakes only come from seen generators; unseen generators only in their test sets.
  const seen = new Set(SEEN_GENERATORS.map((g) => g.name));
  for (const r of large.rows) if (r.item.label === 1) assert.ok(seen.has(r.item.source));
});

Deno.test("layout: CSV line format", () => {
  const plan = planDataset(scaleCounts(PAPER_COUNTS, 0.01));
  for (const c of plan.csvs) {
    for (const r of c.rows) {
      assert.match(
        csvLine(r.split, r.item),
        /^(train|test),(Real|Synthetic),\/images\/[a-z0-9_/]+\.png$/,
      );
    }
  }
});

Deno.test("layout: bad counts name the option", () => {
  assert.throws(() => planDataset({ ...PAPER_COUNTS, valFake: 0 }), /counts\.valFake/);
  assert.throws(() => planDataset({ ...PAPER_COUNTS, largeReal: 10 }), /counts\.largeReal/);
  assert.throws(() => scaleCounts(PAPER_COUNTS, -1), /scale/);
  const tiny = scaleCounts(PAPER_COUNTS, 0.0001);
  assert.ok(Object.values(tiny).every((v) => v >= 1));
});
