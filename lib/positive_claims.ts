/**
 * The positive-control experiment's numbers (data: `lib/data/procfaces/positive_control.ts`):
 * per run the AUC of each paired test set (T1 reversed mark, T2 no mark, T3 random mark), the
 * baseline calibration checks, and the pre-registered hypotheses as `claims.json`.
 *
 * @module
 */
import {
  type CalibrationCheck,
  type Claims,
  type HypothesisSpec,
  testHypotheses,
} from "./claims.ts";
import { mean, sampleVariance } from "./metrics.ts";
import type { AucResult } from "./results.ts";

/** The paired test sets. */
export const POSITIVE_TESTS = ["t1", "t2", "t3"] as const;
/** One of {@linkcode POSITIVE_TESTS}. */
export type PositiveTest = typeof POSITIVE_TESTS[number];

/** Per-seed AUC of one test set for one (variant, strategy), sorted by seed. */
export function testAucs(
  aucs: readonly AucResult[],
  variant: string,
  strategy: string,
  test: PositiveTest,
): number[] {
  return aucs.filter((a) =>
    a.variant === variant && a.strategy === strategy && a.generator === `${test}_fake`
  ).sort((a, b) => a.seed - b.seed).map((a) => a.auc);
}

/** Mean, sample sd and n of a list (sd null below 2 values, mean null when empty). */
export function summary(
  v: readonly number[],
): { mean: number | null; sd: number | null; n: number } {
  return {
    mean: v.length ? mean(v) : null,
    sd: v.length >= 2 ? Math.sqrt(sampleVariance(v)) : null,
    n: v.length,
  };
}

/**
 * Acceptance criteria of the calibration (baselines, α = 1): with the mark, T1 AUC ≤ 0.3 (the
 * decoy is learned); trained without the mark, T1 ≥ 0.9; with the mark's region masked, T1 ≥ 0.9
 * (the artifacts alone carry the task). `variants` names the three folders' variants.
 */
export function calibrationChecks(
  aucs: readonly AucResult[],
  variants: { mark: string; nomark: string; masked: string },
): CalibrationCheck[] {
  const m = (v: string) => summary(testAucs(aucs, v, "baseline", "t1")).mean;
  const mark = m(variants.mark);
  const nomark = m(variants.nomark);
  const masked = m(variants.masked);
  return [
    {
      id: `${variants.mark}.baseline_t1_max`,
      criterion: "baseline with the mark: mean T1 AUC <= 0.3 (the decoy is learned)",
      value: mark,
      passed: mark !== null && mark <= 0.3,
    },
    {
      id: `${variants.nomark}.baseline_t1_min`,
      criterion: "baseline trained without the mark: mean T1 AUC >= 0.9",
      value: nomark,
      passed: nomark !== null && nomark >= 0.9,
    },
    {
      id: `${variants.masked}.baseline_t1_min`,
      criterion: "baseline with the mark's region masked: mean T1 AUC >= 0.9",
      value: masked,
      passed: masked !== null && masked >= 0.9,
    },
  ];
}

/** The pre-registered hypotheses of the evaluation, on the `variant` folder. */
export function positiveHypotheses(variant: string): HypothesisSpec[] {
  return [
    {
      id: `${variant}.cyborg_vs_baseline.t1`,
      setting: variant,
      a: "cyborg",
      b: "baseline",
      metric: "T1 AUC (mark on reals only; per seed)",
      expected: ">",
      rationale: "the human maps never mark the decoy, so the CAM term penalises using it",
    },
    {
      id: `${variant}.cyborg_vs_baseline.t2`,
      setting: variant,
      a: "cyborg",
      b: "baseline",
      metric: "T2 AUC (no mark; per seed)",
      expected: "≈",
      rationale: "without the mark both models see only the learnable artifacts",
    },
  ];
}

/**
 * Tests {@linkcode positiveHypotheses} (one Holm family) and adds the evaluation baselines'
 * checks: T1 ≤ 0.3 (the decoy is used, so there is something to correct) and T2 ≥ 0.9.
 */
export function positiveClaims(
  aucs: readonly AucResult[],
  variant: string,
  margin = 0.02,
): Claims {
  const metricTest = (metric: string): PositiveTest => metric.startsWith("T1") ? "t1" : "t2";
  const hypotheses = testHypotheses(positiveHypotheses(variant), (s) => ({
    a: testAucs(aucs, s.setting, s.a, metricTest(s.metric)),
    b: testAucs(aucs, s.setting, s.b, metricTest(s.metric)),
  }), { margin });
  const t1 = summary(testAucs(aucs, variant, "baseline", "t1")).mean;
  const t2 = summary(testAucs(aucs, variant, "baseline", "t2")).mean;
  return {
    hypotheses,
    calibration: [
      {
        id: `${variant}.eval_baseline_t1_max`,
        criterion: "evaluation baselines: mean T1 AUC <= 0.3 (they use the decoy)",
        value: t1,
        passed: t1 !== null && t1 <= 0.3,
      },
      {
        id: `${variant}.eval_baseline_t2_min`,
        criterion: "evaluation baselines: mean T2 AUC >= 0.9 (the artifacts are learned)",
        value: t2,
        passed: t2 !== null && t2 >= 0.9,
      },
    ],
  };
}
