import assert from "node:assert/strict";
import { assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { parseSplitCsv, readSplitCsv, splitCsvLine } from "../../lib/data/csv.ts";
import { tempDir } from "./tmp_images.ts";

Deno.test("parseSplitCsv reads the paper's rows, with CRLF, blank lines, BOM and quoting", () => {
  const text = "\uFEFFtrain,Real,/real/a.png\r\n\r\ntest , Synthetic , /fake/b.png\r\n" +
    'train,Synthetic,"/fake/with,comma ""q"".png"\n\n';
  const rows = parseSplitCsv(text, "x.csv");
  assertEquals(rows, [
    { split: "train", label: 0, path: "/real/a.png", csv: "x.csv", line: 1 },
    { split: "test", label: 1, path: "/fake/b.png", csv: "x.csv", line: 3 },
    { split: "train", label: 1, path: '/fake/with,comma "q".png', csv: "x.csv", line: 4 },
  ]);
});

Deno.test("parseSplitCsv errors name file:line for each kind of bad row", () => {
  assertThrows(
    () => parseSplitCsv("train,Real,/a.png\ntrain,Real\n", "s.csv"),
    Error,
    "s.csv:2: expected 3 columns (split,label,path), found 2",
  );
  assertThrows(
    () => parseSplitCsv("train,Real,/a.png,extra\n", "s.csv"),
    Error,
    "s.csv:1: expected 3 columns",
  );
  assertThrows(
    () => parseSplitCsv("\nval,Real,/a.png\n", "s.csv"),
    Error,
    's.csv:2: unknown split "val" (expected "train" or "test")',
  );
  assertThrows(
    () => parseSplitCsv("train,Real,/a.png\r\ntest,fake,/b.png\r\n", "s.csv"),
    Error,
    's.csv:2: unknown label "fake" (expected "Real" or "Synthetic")',
  );
  assertThrows(() => parseSplitCsv("train,Real,\n", "s.csv"), Error, "s.csv:1: empty image path");
  assertThrows(
    () => parseSplitCsv('train,Real,"/a.png\n', "s.csv"),
    Error,
    "s.csv:1: unterminated quoted field",
  );
});

Deno.test("splitCsvLine keeps empty fields", () => {
  assertEquals(splitCsvLine("a,,b,", "w"), ["a", "", "b", ""]);
});

Deno.test("readSplitCsv reads a file and names it in errors", async () => {
  const { dir, cleanup } = await tempDir("csv_test_");
  try {
    const f = `${dir}/original.csv`;
    await Deno.writeTextFile(f, "train,Real,/r/1.png\ntest,Synthetic,/s/2.png\n");
    const rows = await readSplitCsv(f);
    assertEquals(rows.map((r) => [r.split, r.label, r.path, r.csv, r.line]), [
      ["train", 0, "/r/1.png", f, 1],
      ["test", 1, "/s/2.png", f, 2],
    ]);
    await Deno.writeTextFile(f, "train,Real,/r/1.png\ntrain,Real,/r/2.png,\n");
    await assertRejects(() => readSplitCsv(f), Error, `${f}:2: expected 3 columns`);
    await assertRejects(
      () => readSplitCsv(`${dir}/nope.csv`),
      Error,
      `${dir}/nope.csv: cannot read the split CSV`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("parseSplitCsv lists every bad line at once, each with file:line", () => {
  const text =
    "train,Real,/a.png\nval,Real,/b.png\ntrain,Fake,/c.png\n\ntest,Real\ntest,Real,/d.png\n";
  assert.throws(
    () => parseSplitCsv(text, "s.csv"),
    (e: Error) => {
      assert.match(e.message, /^s\.csv: 3 bad lines:/);
      assert.match(e.message, /s\.csv:2: unknown split "val"/);
      assert.match(e.message, /s\.csv:3: unknown label "Fake"/);
      assert.match(e.message, /s\.csv:5: expected 3 columns/);
      return true;
    },
  );
});
