/**
 * The hypotheses and calibration checks of the reproduce job on the embedded benchmark (variants
 * `shortcut` and `control`) or on a data root in the paper's layout (variant `data`), stated here
 * before any run and evaluated from the per-run AUCs into `results/<preset>/claims.json`.
 *
 * Metric: per seed, the mean ROC AUC over the unseen-generator test sets (each generator's fakes
 * against the pooled real test faces).
 *
 * @module
 */
import {
  type CalibrationCheck,
  type Claims,
  type HypothesisSpec,
  testHypotheses,
  type TestOptions,
} from "./claims.ts";
import type { StrategyName } from "./experiment/strategies.ts";
import { mean, sampleVariance } from "./metrics.ts";
import { type AucResult, isUnseen, meanAucPerRun } from "./results.ts";
import { minimumDetectableEffect } from "./stats.ts";

/** The metric the hypotheses compare. */
export const UNSEEN_METRIC = "mean AUC over unseen generators (per seed)";

/** Smallest effect on the metric the design should detect; also the TOST margin. */
export const EFFECT_OF_INTEREST = 0.02;

const ARMS: readonly StrategyName[] = ["cyborg", "segmentation", "data7x"];

/**
 * Pre-stated hypotheses per variant. `shortcut` (a training-only shortcut mark): each strategy
 * that adds guidance or data is expected to beat the baseline on unseen generators. `control`
 * (no shortcut): no difference expected. Any other variant (the paper's data): the paper's
 * direction, strategy above baseline.
 */
export function hypothesesFor(variant: string): HypothesisSpec[] {
  return ARMS.map((s) => {
    const expected = variant === "control" ? "≈" as const : ">" as const;
    const rationale = variant === "control"
      ? "no shortcut to avoid: guidance or more data is not expected to change unseen AUC by " +
        `±${EFFECT_OF_INTEREST} or more`
      : variant === "shortcut"
      ? "the shortcut mark is predictive in training only; guidance (or 7× data) is expected " +
        "to reduce reliance on it"
      : "the paper's direction (strategy above the baseline on unseen generators)";
    return {
      id: `${variant}.${s}_vs_baseline`,
      setting: variant,
      a: s,
      b: "baseline",
      metric: UNSEEN_METRIC,
      expected,
      rationale,
    };
  });
}

function perSeed(aucs: readonly AucResult[], variant: string, include: (g: string) => boolean) {
  const rows = meanAucPerRun(aucs.filter((a) => a.variant === variant), include);
  return (s: StrategyName) =>
    rows.filter((r) => r.strategy === s).sort((x, y) => x.seed - y.seed).map((r) => r.auc);
}

/**
 * Calibration checks of one variant: on the baselines, the task is learned (seen-generator AUC ≥
 * 0.95) and unseen generators leave room to improve (≤ 0.90); and the design can detect the
 * effect of interest (MDE at 80 % power ≤ 0.02, from the seed sd pooled over the strategies and
 * the baseline's seed count).
 */
export function calibrationFor(aucs: readonly AucResult[], variant: string): CalibrationCheck[] {
  const seen = perSeed(aucs, variant, (g) => !isUnseen(g))("baseline");
  const unseen = perSeed(aucs, variant, isUnseen)("baseline");
  const seenMean = seen.length ? mean(seen) : null;
  const unseenMean = unseen.length ? mean(unseen) : null;
  // Seed sd pooled over every strategy with >= 2 seeds (the spread any contrast will face).
  const bySeed = perSeed(aucs, variant, isUnseen);
  const present = [...new Set(aucs.filter((a) => a.variant === variant).map((a) => a.strategy))];
  const variances = present.map(bySeed).filter((v) => v.length >= 2).map(sampleVariance);
  const mde = unseen.length >= 2 && variances.length
    ? minimumDetectableEffect({
      sd: Math.sqrt(variances.reduce((x, y) => x + y, 0) / variances.length),
      n: unseen.length,
    })
    : null;
  return [
    {
      id: `${variant}.baseline_seen_auc`,
      criterion: "baseline mean AUC on seen-generator test fakes >= 0.95 (the task is learned)",
      value: seenMean,
      passed: seenMean !== null && seenMean >= 0.95,
    },
    {
      id: `${variant}.baseline_unseen_headroom`,
      criterion: "baseline mean AUC on unseen generators <= 0.90 (room for a method to improve)",
      value: unseenMean,
      passed: unseenMean !== null && unseenMean <= 0.9,
    },
    {
      id: `${variant}.design_mde`,
      criterion: `minimum detectable effect on unseen AUC (80 % power, two-sided alpha 0.05, ` +
        `seed sd pooled over the strategies, ${unseen.length} seed(s) per arm) <= ` +
        `${EFFECT_OF_INTEREST}`,
      value: mde,
      passed: mde !== null && mde <= EFFECT_OF_INTEREST,
    },
  ];
}

/** Claims of a reproduce job from its per-run AUCs (every variant present, one Holm family). */
export function experimentClaims(aucs: readonly AucResult[], options: TestOptions = {}): Claims {
  const variants = [...new Set(aucs.map((a) => a.variant))].sort();
  const specs = variants.flatMap((v) => {
    const present = new Set(aucs.filter((a) => a.variant === v).map((a) => a.strategy));
    return present.has("baseline")
      ? hypothesesFor(v).filter((h) => present.has(h.a as StrategyName))
      : [];
  });
  const hypotheses = testHypotheses(specs, (spec) => {
    const get = perSeed(aucs, spec.setting, isUnseen);
    return { a: get(spec.a as StrategyName), b: get(spec.b as StrategyName) };
  }, { margin: EFFECT_OF_INTEREST, ...options });
  return { hypotheses, calibration: variants.flatMap((v) => calibrationFor(aucs, v)) };
}
