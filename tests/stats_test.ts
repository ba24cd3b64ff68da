import assert from "node:assert/strict";
import {
  holm,
  minimumDetectableEffect,
  seedsForEffect,
  studentTQuantile,
  tost,
  welchCi,
} from "../lib/stats.ts";
import { welchTTest } from "../lib/metrics.ts";

// Golden values from SciPy 1.10 (tools/fixtures/make_stats_fixture.py). Tolerances are 10× the
// largest deviation measured on these cases: quantiles 4.6e-9 relative (the deviation of
// metrics.ts's t CDF from SciPy's, up to 7.4e-10 in probability, divided by the density), CI
// bounds 4.0e-11 absolute, Welch p 4.6e-15 and TOST p 1.3e-14 relative, MDE 1.3e-9 relative.
interface Golden {
  t_quantiles: { p: number; df: number; t: number }[];
  cases: {
    name: string;
    a: number[];
    b: number[];
    welch95: { estimate: number; se: number; df: number; ci: [number, number]; p: number };
    welch90: { ci: [number, number] };
    tost: Record<string, { pLower: number; pUpper: number; p: number; ci90: [number, number] }>;
  }[];
  mde: { sd: number; n: number; alpha: number; power: number; mde: number }[];
}
const golden: Golden = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/stats/stats_golden.json", import.meta.url)),
);

function rel(actual: number, expected: number, tol: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(err <= tol, `${what}: ${actual} vs ${expected} (relative error ${err} > ${tol})`);
}
function abs(actual: number, expected: number, tol: number, what: string): void {
  const err = Math.abs(actual - expected);
  assert.ok(err <= tol, `${what}: ${actual} vs ${expected} (error ${err} > ${tol})`);
}

Deno.test("studentTQuantile matches scipy.stats.t.ppf", () => {
  for (const q of golden.t_quantiles) {
    rel(studentTQuantile(q.p, q.df), q.t, 5e-8, `t.ppf(${q.p}, ${q.df})`);
  }
  assert.equal(studentTQuantile(0.5, 3), 0);
  assert.throws(() => studentTQuantile(1, 3), /p=1/);
  assert.throws(() => studentTQuantile(0.9, 0), /df=0/);
});

Deno.test("welchCi: 95 % and 90 % intervals and p match SciPy", () => {
  for (const c of golden.cases) {
    const w = welchCi(c.a, c.b);
    rel(w.estimate, c.welch95.estimate, 1e-12, `${c.name} estimate`);
    rel(w.se, c.welch95.se, 1e-12, `${c.name} se`);
    rel(w.df, c.welch95.df, 1e-12, `${c.name} df`);
    abs(w.ci[0], c.welch95.ci[0], 4e-10, `${c.name} ci95 lo`);
    abs(w.ci[1], c.welch95.ci[1], 4e-10, `${c.name} ci95 hi`);
    rel(w.p, c.welch95.p, 5e-14, `${c.name} p`);
    // The same p as the existing Welch test.
    rel(w.p, welchTTest(c.a, c.b).p, 1e-12, `${c.name} p vs welchTTest`);
    const w90 = welchCi(c.a, c.b, 0.9);
    abs(w90.ci[0], c.welch90.ci[0], 4e-10, `${c.name} ci90 lo`);
    abs(w90.ci[1], c.welch90.ci[1], 4e-10, `${c.name} ci90 hi`);
  }
});

Deno.test("welchCi: no spread, too few values, non-finite values", () => {
  assert.deepEqual(welchCi([0.5, 0.5], [0.5, 0.5]).ci, [0, 0]);
  assert.equal(welchCi([0.5, 0.5], [0.5, 0.5]).p, 1);
  assert.equal(welchCi([0.6, 0.6], [0.5, 0.5]).p, 0);
  assert.throws(() => welchCi([0.5], [0.5, 0.6]), /each group needs >= 2 values \(got 1 and 2\)/);
  assert.throws(() => welchCi([0.5, NaN], [0.5, 0.6]), /non-finite value NaN/);
  assert.throws(() => welchCi([0.5, 0.6], [0.5, 0.6], 1), /level=1/);
});

Deno.test("minimumDetectableEffect matches the t-approximation from scipy.stats.t.ppf", () => {
  for (const d of golden.mde) {
    rel(minimumDetectableEffect(d), d.mde, 1.5e-8, `mde sd=${d.sd} n=${d.n} a=${d.alpha}`);
  }
  // sd 0.012 with 3 seeds per arm: (2.7764 + 0.9410) · 0.012 · √(2/3) = 0.036423.
  rel(minimumDetectableEffect({ sd: 0.012, n: 3 }), 0.036423, 1e-5, "sd 0.012, n 3");
  assert.equal(minimumDetectableEffect({ sd: 0, n: 3 }), 0);
  assert.throws(() => minimumDetectableEffect({ sd: 0.01, n: 1 }), /n=1/);
  assert.throws(() => minimumDetectableEffect({ sd: -1, n: 3 }), /sd=-1/);
});

Deno.test("seedsForEffect: the smallest n whose MDE is at most the effect", () => {
  const n = seedsForEffect(0.02, 0.012);
  assert.ok(minimumDetectableEffect({ sd: 0.012, n }) <= 0.02);
  assert.ok(minimumDetectableEffect({ sd: 0.012, n: n - 1 }) > 0.02);
  assert.equal(n, 7);
  assert.throws(() => seedsForEffect(1e-6, 1, { maxN: 50 }), /more than 50 seeds/);
});

Deno.test("holm: step-down adjusted p-values in input order, monotone and capped at 1", () => {
  // Sorted 0.005, 0.01, 0.03, 0.04 → 4·0.005, 3·0.01, max(0.03, 2·0.03), max(0.06, 1·0.04).
  const adj = holm([0.01, 0.04, 0.03, 0.005]);
  const want = [0.03, 0.06, 0.06, 0.02];
  adj.forEach((p, i) => abs(p, want[i], 1e-15, `holm[${i}]`));
  assert.deepEqual(holm([0.5, 0.2]), [0.5, 0.4]);
  assert.deepEqual(holm([0.6, 0.7, 0.01]), [1, 1, 0.03]);
  assert.deepEqual(holm([0.2]), [0.2]);
  assert.deepEqual(holm([]), []);
  assert.throws(() => holm([0.1, 1.5]), /p-value 1.5 not in \[0, 1\]/);
});

Deno.test("tost: one-sided p-values match SciPy; p < 0.05 exactly when the 90 % CI is inside the margin", () => {
  for (const c of golden.cases) {
    for (const [m, r] of Object.entries(c.tost)) {
      const t = tost(c.a, c.b, Number(m));
      rel(t.pLower, r.pLower, 1.5e-13, `${c.name} m=${m} pLower`);
      rel(t.pUpper, r.pUpper, 1.5e-13, `${c.name} m=${m} pUpper`);
      abs(t.ci90[0], r.ci90[0], 4e-10, `${c.name} m=${m} ci90 lo`);
      abs(t.ci90[1], r.ci90[1], 4e-10, `${c.name} m=${m} ci90 hi`);
      const inside = t.ci90[0] > -Number(m) && t.ci90[1] < Number(m);
      assert.equal(t.p < 0.05, inside, `${c.name} m=${m}: p ${t.p}, ci90 ${t.ci90}`);
    }
  }
  // Identical tight groups are equivalent; far-apart ones are not.
  assert.ok(tost([0.5, 0.501, 0.499], [0.5, 0.5005, 0.4995]).p < 0.05);
  assert.ok(tost([0.7, 0.71, 0.69], [0.5, 0.51, 0.49]).p > 0.5);
  assert.throws(() => tost([0.5, 0.6], [0.5, 0.6], 0), /margin=0/);
});
