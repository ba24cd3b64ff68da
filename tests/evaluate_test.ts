import assert from "node:assert/strict";
import { type Predictions, scoresCsv } from "../lib/evaluate.ts";
import { parseScoresCsv } from "../lib/results.ts";
import { splitCsvLine } from "../lib/data/csv.ts";

Deno.test("scoresCsv writes valid CSV (paths with commas or quotes are quoted) that results.ts reads back", () => {
  const p = {
    paths: ["/images/a.png", "/images/b,c.png", '/images/say "d".png'],
    labels: Int32Array.from([0, 1, 1]),
    scores: Float64Array.from([0.25, 0.5, 0.875]),
  } as unknown as Predictions;
  const text = scoresCsv(p);
  const lines = text.trim().split("\n");
  assert.equal(lines[0], "path,label,score");
  assert.equal(lines[2], '"/images/b,c.png",1,0.5');
  assert.deepEqual(splitCsvLine(lines[3], "t:4"), ['/images/say "d".png', "1", "0.875"]);
  const back = parseScoresCsv(text, "t");
  assert.deepEqual(back.labels, [0, 1, 1]);
  assert.deepEqual(back.scores, [0.25, 0.5, 0.875]);
});
