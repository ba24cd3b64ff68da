import assert from "node:assert/strict";
import { calibrationChecks, positiveClaims, testAucs } from "../lib/positive_claims.ts";
import type { AucResult } from "../lib/results.ts";
import { tost, welchCi } from "../lib/stats.ts";

function rows(variant: string, strategy: string, t1: number[], t2: number[]): AucResult[] {
  return t1.flatMap((v, seed) => [
    { variant, strategy, seed, generator: "t1_fake", auc: v } as AucResult,
    { variant, strategy, seed, generator: "t2_fake", auc: t2[seed] } as AucResult,
    { variant, strategy, seed, generator: "t3_fake", auc: 0.5 } as AucResult,
  ]);
}

Deno.test("positive claims: CYBORG vs baseline on T1 (>) and T2 (≈), per seed", () => {
  const base1 = [0.2, 0.1, 0.3, 0.15];
  const cyb1 = [0.8, 0.7, 0.9, 0.75];
  const base2 = [0.98, 0.97, 0.985, 0.975];
  const cyb2 = [0.975, 0.98, 0.97, 0.985];
  const aucs = [
    ...rows("positive", "baseline", base1, base2),
    ...rows("positive", "cyborg", cyb1, cyb2),
  ];
  assert.deepEqual(testAucs(aucs, "positive", "cyborg", "t1"), cyb1);
  const c = positiveClaims(aucs, "positive");
  const [h1, h2] = c.hypotheses;
  assert.equal(h1.expected, ">");
  assert.deepEqual(h1.ci95, welchCi(cyb1, base1).ci);
  assert.equal(h1.verdict, "supported");
  assert.equal(h2.expected, "≈");
  assert.equal(h2.p_raw, tost(cyb2, base2, 0.02).p);
  assert.deepEqual(c.calibration.map((x) => x.passed), [true, true]);
  // A CYBORG that also uses the decoy: with this spread (sd ≈ 0.08) no verdict either way; with
  // tight seeds, equivalence within ±0.02 makes the hypothesis not supported.
  const same = (b: number[]) =>
    positiveClaims([
      ...rows("positive", "baseline", b, base2),
      ...rows("positive", "cyborg", b.map((v) => v + 0.001), cyb2),
    ], "positive").hypotheses[0].verdict;
  assert.equal(same(base1), "inconclusive");
  assert.equal(same([0.2, 0.201, 0.199, 0.2005]), "not supported");
});

Deno.test("positive calibration checks: the decoy is learned; without it, or masked, T1 >= 0.9", () => {
  const aucs = [
    ...rows("m", "baseline", [0.2, 0.25], [0.98, 0.98]),
    ...rows("n", "baseline", [0.95, 0.93], [0.98, 0.98]),
    ...rows("k", "baseline", [0.85, 0.9], [0.9, 0.9]),
  ];
  const c = calibrationChecks(aucs, { mark: "m", nomark: "n", masked: "k" });
  assert.deepEqual(c.map((x) => [x.id, x.passed]), [
    ["m.baseline_t1_max", true],
    ["n.baseline_t1_min", true],
    ["k.baseline_t1_min", false],
  ]);
  assert.ok(Math.abs(c[2].value! - 0.875) < 1e-12);
  assert.deepEqual(
    calibrationChecks([], { mark: "m", nomark: "n", masked: "k" }).map((x) => x.value),
    [null, null, null],
  );
});
