import assert from "node:assert/strict";
import {
  calibrationChecks,
  markReliance,
  positiveClaims,
  preregHypotheses,
  testAucs,
} from "../lib/positive_claims.ts";
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

Deno.test("preregHypotheses: the file's contrasts are tested, each on its own test set", () => {
  const specs = preregHypotheses(
    {
      hypotheses: [
        { id: "p.a", contrast: "shuffled - baseline", metric: "T1 AUC", expected: ">", test: "t" },
        { id: "p.b", contrast: "cyborg - shuffled", metric: "T2 AUC (no mark)", expected: "≈" },
        { id: "p.c", contrast: "cyborg - baseline", metric: "T3 AUC", expected: "<" },
      ],
    },
    "positive",
    "x.json",
  );
  assert.deepEqual(specs.map((s) => [s.a, s.b, s.expected]), [
    ["shuffled", "baseline", ">"],
    ["cyborg", "shuffled", "≈"],
    ["cyborg", "baseline", "<"],
  ]);
  const aucs = [
    ...rows("positive", "baseline", [0.1, 0.2, 0.15], [0.9, 0.91, 0.92]),
    ...rows("positive", "cyborg", [0.5, 0.6, 0.55], [0.95, 0.96, 0.97]),
    ...rows("positive", "shuffled", [0.3, 0.4, 0.35], [0.93, 0.94, 0.95]),
  ].map((r) => (r.generator === "t3_fake" && r.strategy === "cyborg" ? { ...r, auc: 0.4 } : r));
  const [a, b, c] = positiveClaims(aucs, "positive", 0.02, specs).hypotheses;
  assert.equal(a.contrast, "shuffled − baseline");
  assert.ok(Math.abs(a.estimate! - 0.2) < 1e-12, "T1: 0.35 − 0.15");
  assert.ok(Math.abs(b.estimate! - 0.02) < 1e-12, "T2: 0.96 − 0.94");
  assert.ok(Math.abs(c.estimate! - -0.1) < 1e-12, "T3: 0.4 − 0.5");
  for (
    const [bad, msg] of [
      [{}, /"hypotheses" must be a non-empty array/],
      [
        { hypotheses: [{ id: "x", contrast: "cyborg vs baseline", metric: "T1", expected: ">" }] },
        /x\.json: hypotheses\[0\]: "contrast" must read/,
      ],
      [
        { hypotheses: [{ id: "x", contrast: "a - b", metric: "AUC", expected: ">" }] },
        /"metric" must start with T1, T2, T3 or VAL/,
      ],
      [
        { hypotheses: [{ id: "x", contrast: "a - b", metric: "T1", expected: ">=" }] },
        /"expected" must be >, < or ≈/,
      ],
    ] as const
  ) assert.throws(() => preregHypotheses(bad, "positive", "x.json"), msg);
  // The option's key in the library, its flag from the command line.
  assert.throws(() => preregHypotheses({}, "positive", "x.json"), /^Error: prereg: x\.json: /);
  assert.throws(
    () => preregHypotheses({}, "positive", "x.json", "--prereg"),
    /^Error: --prereg: x\.json: /,
  );
});

Deno.test("markReliance: mean score change of each real when the mark is added, paired by name", () => {
  const r = markReliance(
    {
      paths: ["/images/test/t1_real/t1_real_00000.png", "/t1_real/t1_real_00001.png"],
      scores: [0.9, 0.5],
    },
    {
      paths: ["/images/test/t2_real/t2_real_00001.png", "/t2_real/t2_real_00000.png"],
      scores: [0.4, 0.1],
    },
  );
  assert.ok(Math.abs(r - 0.45) < 1e-12, `(0.9 − 0.1 + 0.5 − 0.4) / 2, got ${r}`);
  assert.throws(
    () =>
      markReliance({ paths: ["x/t1_real_00002.png"], scores: [1] }, {
        paths: ["y/t2_real_00000.png"],
        scores: [0],
      }),
    /x\/t1_real_00002\.png has no unmarked twin/,
  );
});
