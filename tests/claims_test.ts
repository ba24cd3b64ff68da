import assert from "node:assert/strict";
import { type Claims, testHypotheses, verdict, writeClaims } from "../lib/claims.ts";
import { calibrationFor, experimentClaims, hypothesesFor } from "../lib/experiment_claims.ts";
import { claimsBlocks, conclusions } from "../lib/report/experiment.ts";
import type { AucResult } from "../lib/results.ts";
import { holm, minimumDetectableEffect, tost, welchCi } from "../lib/stats.ts";
import { sampleVariance } from "../lib/metrics.ts";

Deno.test("verdict: direction, equivalence and inconclusive cases", () => {
  // Directional: significant with the expected sign, significant against it, shown equivalent.
  assert.equal(verdict(">", 0.05, 0.01, 0.005, 0.9), "supported");
  assert.equal(verdict(">", -0.05, 0.01, 0.005, 0.9), "not supported");
  assert.equal(verdict("<", -0.05, 0.01, 0.005, 0.9), "supported");
  assert.equal(verdict(">", 0.001, 0.8, 0.7, 0.01), "not supported");
  assert.equal(verdict(">", 0.01, 0.3, 0.2, 0.3), "inconclusive");
  // Equivalence: TOST significant, a significant difference, neither.
  assert.equal(verdict("≈", 0.001, 0.01, 0.9, 0.01), "supported");
  assert.equal(verdict("≈", 0.05, 0.9, 0.001, 0.9), "not supported");
  assert.equal(verdict("≈", 0.01, 0.3, 0.4, 0.2), "inconclusive");
  assert.equal(verdict(">", null, null, null, null), "inconclusive");
});

const A = [0.62, 0.6, 0.64, 0.61];
const B = [0.55, 0.56, 0.54, 0.57];
const C = [0.551, 0.559, 0.541, 0.569];

Deno.test("testHypotheses: estimates, Welch CI, MDE and Holm over the family", () => {
  const data: Record<string, number[]> = { a: A, b: B, c: C };
  const hs = testHypotheses([
    { id: "h1", setting: "s", a: "a", b: "b", metric: "m", expected: ">", rationale: "r1" },
    { id: "h2", setting: "s", a: "c", b: "b", metric: "m", expected: "≈", rationale: "r2" },
    { id: "h3", setting: "s", a: "c", b: "b", metric: "m", expected: ">", rationale: "r3" },
  ], (s) => ({ a: data[s.a], b: data[s.b] }));
  const w1 = welchCi(A, B);
  const t2 = tost(C, B, 0.02);
  const w3 = welchCi(C, B);
  const adj = holm([w1.p, t2.p, w3.p]);
  assert.deepEqual(hs.map((h) => h.p_raw), [w1.p, t2.p, w3.p]);
  assert.deepEqual(hs.map((h) => h.p_holm), adj);
  assert.deepEqual(hs[0].ci95, w1.ci);
  assert.equal(hs[0].estimate, w1.estimate);
  assert.equal(hs[0].contrast, "a − b");
  assert.equal(hs[0].test, "welch");
  assert.equal(hs[1].test, "tost");
  const sd = Math.sqrt((sampleVariance(A) + sampleVariance(B)) / 2);
  assert.equal(hs[0].mde, minimumDetectableEffect({ sd, n: 4 }));
  assert.equal(hs[0].verdict, "supported");
  assert.equal(hs[1].verdict, adj[1] < 0.05 ? "supported" : "inconclusive");
  assert.deepEqual(hs[2].n, [4, 4]);
  assert.throws(
    () =>
      testHypotheses([
        { id: "x", setting: "s", a: "a", b: "b", metric: "m", expected: ">", rationale: "" },
        { id: "x", setting: "s", a: "a", b: "b", metric: "m", expected: ">", rationale: "" },
      ], (s) => ({ a: data[s.a], b: data[s.b] })),
    /duplicate hypothesis id "x"/,
  );
});

Deno.test("testHypotheses: an arm with one seed is inconclusive and leaves the Holm family", () => {
  const hs = testHypotheses([
    { id: "h1", setting: "s", a: "a", b: "b", metric: "m", expected: ">", rationale: "" },
    { id: "h2", setting: "s", a: "a", b: "b", metric: "m", expected: ">", rationale: "" },
  ], (s) => s.id === "h1" ? { a: [0.6], b: B } : { a: A, b: B });
  assert.equal(hs[0].verdict, "inconclusive");
  assert.deepEqual(hs[0].ci95, [null, null]);
  assert.equal(hs[0].p_holm, null);
  assert.equal(hs[0].mde, null);
  assert.equal(hs[1].p_holm, welchCi(A, B).p); // a family of one: no correction
});

function aucs(variant: string, strategy: string, unseen: number[], seen = 1): AucResult[] {
  return unseen.flatMap((u, seed) => [
    { variant, strategy, seed, generator: "seen_a", auc: seen } as AucResult,
    { variant, strategy, seed, generator: "unseen_x", auc: u - 0.01 } as AucResult,
    { variant, strategy, seed, generator: "unseen_y", auc: u + 0.01 } as AucResult,
  ]);
}

Deno.test("experimentClaims: the stated hypotheses per variant, on the per-seed unseen mean", () => {
  const rows = [
    ...aucs("shortcut", "baseline", B),
    ...aucs("shortcut", "cyborg", A),
    ...aucs("control", "baseline", B),
    ...aucs("control", "cyborg", C),
  ];
  const c = experimentClaims(rows);
  assert.deepEqual(c.hypotheses.map((h) => [h.id, h.expected]), [
    ["control.cyborg_vs_baseline", "≈"],
    ["shortcut.cyborg_vs_baseline", ">"],
  ]);
  const h = c.hypotheses[1];
  assert.ok(Math.abs(h.estimate! - welchCi(A, B).estimate) < 1e-12);
  assert.equal(h.verdict, "supported");
  assert.equal(hypothesesFor("shortcut").length, 3);
  const cal = calibrationFor(rows, "shortcut");
  assert.deepEqual(cal.map((x) => [x.id, x.passed]), [
    ["shortcut.baseline_seen_auc", true],
    ["shortcut.baseline_unseen_headroom", true],
    ["shortcut.design_mde", false],
  ]);
  // Seed sd pooled over baseline (B) and CYBORG (A).
  const sd = Math.sqrt((sampleVariance(B) + sampleVariance(A)) / 2);
  assert.ok(Math.abs(cal[2].value! - minimumDetectableEffect({ sd, n: 4 })) < 1e-12);
  // A variant without a baseline gets no hypotheses; calibration says it could not measure.
  const none = experimentClaims(aucs("shortcut", "cyborg", A));
  assert.deepEqual(none.hypotheses, []);
  assert.deepEqual(none.calibration.map((x) => [x.value, x.passed]), [
    [null, false],
    [null, false],
    [null, false],
  ]);
});

Deno.test("writeClaims: writes the JSON, refuses malformed claims without writing", async () => {
  const dir = await Deno.makeTempDir();
  const claims: Claims = experimentClaims([
    ...aucs("shortcut", "baseline", B),
    ...aucs("shortcut", "cyborg", A),
  ]);
  await writeClaims(`${dir}/claims.json`, claims);
  const back = JSON.parse(await Deno.readTextFile(`${dir}/claims.json`));
  assert.deepEqual(back, JSON.parse(JSON.stringify(claims)));
  for (
    const k of [
      "id",
      "setting",
      "contrast",
      "metric",
      "expected",
      "estimate",
      "ci95",
      "p_holm",
      "mde",
      "verdict",
    ]
  ) {
    assert.ok(k in back.hypotheses[0], k);
  }
  const bad = structuredClone(claims);
  bad.hypotheses[0].ci95 = [0.2, 0.1];
  await assert.rejects(writeClaims(`${dir}/bad.json`, bad), /ci95 \[0.2, 0.1\]/);
  const dup = structuredClone(claims);
  dup.calibration.push(dup.calibration[0]);
  await assert.rejects(writeClaims(`${dir}/bad.json`, dup), /duplicate calibration id/);
  await assert.rejects(Deno.stat(`${dir}/bad.json`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("conclusions and claimsBlocks: every hypothesis with its CI, Holm p, MDE and verdict", () => {
  const rows = [
    ...aucs("shortcut", "baseline", B),
    ...aucs("shortcut", "cyborg", A),
    ...aucs("shortcut", "segmentation", [0.6]),
  ];
  const claims = experimentClaims(rows);
  const text = conclusions(rows, claims);
  const h = claims.hypotheses.find((x) => x.id === "shortcut.cyborg_vs_baseline")!;
  assert.ok(
    text.includes(
      `shortcut.cyborg_vs_baseline: cyborg − baseline = +${h.estimate!.toFixed(3)}, 95 % CI ` +
        `[+${h.ci95[0]!.toFixed(3)}, +${h.ci95[1]!.toFixed(3)}]`,
    ),
    text,
  );
  assert.ok(text.includes(`MDE ${h.mde!.toFixed(3)} at 80 % power with 4 seeds per arm`), text);
  assert.ok(text.includes("expected >: supported"), text);
  assert.ok(
    text.includes(
      "shortcut.segmentation_vs_baseline (segmentation − baseline >): " +
        "untestable with 1 and 4 seed(s); inconclusive.",
    ),
    text,
  );
  assert.ok(text.includes("Calibration checks not passed: shortcut.design_mde"), text);
  assert.ok(!/significant at 5%/.test(text));
  const blocks = claimsBlocks(claims);
  assert.equal(blocks.length, 2);
  const t = blocks[0].kind === "table" ? blocks[0].table : undefined;
  assert.ok(t);
  assert.deepEqual(t.rows.map((r) => r.at(-1)), claims.hypotheses.map((x) => x.verdict));
  assert.ok(t.columns.includes("MDE, 80 % power"));
  assert.match(t.caption!, /Stated before the runs \(lib\/experiment_claims\.ts\)/);
  const pre = claimsBlocks(claims, "prereg/x.json")[0];
  assert.ok(pre.kind === "table" && pre.table.caption!.includes("(prereg/x.json)"));
});
