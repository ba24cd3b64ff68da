/**
 * The positive-control experiment's numbers (data: `lib/data/procfaces/positive_control.ts`):
 * per run the AUC of each paired test set (T1 reversed mark, T2 no mark, T3 random mark), the
 * baseline calibration checks, and the pre-registered hypotheses as `claims.json`. The negative
 * control and the paper-like setting (T1 the unseen generator's fingerprint, T2 none, T3 the seen
 * generators'; validation from shifted sources) use the same machinery with their own checks.
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
import type { AucResult, RunResult } from "./results.ts";

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

/**
 * Per-seed mean validation accuracy over all epochs (the Figure 3 analog's area, divided by the
 * epochs) for one (variant, strategy), sorted by seed.
 */
export function valAccuracies(
  runs: readonly RunResult[],
  variant: string,
  strategy: string,
): number[] {
  return runs.filter((r) => r.variant === variant && r.strategy === strategy && r.epochs.length > 0)
    .sort((a, b) => a.seed - b.seed).map((r) => mean(r.epochs.map((e) => e.val_acc)));
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

/**
 * Acceptance criteria of the paper-like calibration (baselines, α = 1): with the seen
 * generators' fingerprint in training, fakes carrying it score higher than the same fakes
 * without it (mean T3 − T2 AUC ≥ 0.05: the fingerprint is used, so there is something to
 * correct); trained without fingerprints (the twin), mean T2 AUC ≥ 0.9 (the in-face artifacts
 * alone carry the task). T1 (the unseen generator's dark disc) is reported, not checked: baselines
 * answer the disc much as they answer the ring (data/README.md, paper-like calibration log).
 */
export function paperCalibrationChecks(
  aucs: readonly AucResult[],
  variants: { paper: string; twin: string },
): CalibrationCheck[] {
  const m = (v: string, t: PositiveTest) => summary(testAucs(aucs, v, "baseline", t)).mean;
  const t2 = m(variants.paper, "t2"), t3 = m(variants.paper, "t3");
  const gap = t2 === null || t3 === null ? null : t3 - t2;
  const twin = m(variants.twin, "t2");
  return [
    {
      id: `${variants.paper}.baseline_t3_minus_t2_min`,
      criterion: "baseline with the seen fingerprint: mean T3 − T2 AUC >= 0.05 (it is used)",
      value: gap,
      passed: gap !== null && gap >= 0.05,
    },
    {
      id: `${variants.twin}.baseline_t2_min`,
      criterion: "baseline trained without fingerprints: mean T2 AUC >= 0.9",
      value: twin,
      passed: twin !== null && twin >= 0.9,
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
 * The hypotheses a pre-registration file fixes (its `hypotheses` array: `id`, `contrast` as
 * `"<a> - <b>"` with strategy names, `metric` starting with `T1`, `T2` or `T3` (that test set's
 * AUC) or `VAL` ({@linkcode valAccuracies}), `expected` one of `>`, `<`, `≈`), tested on the
 * `variant` folder. Errors name the option (default `prereg`; the command-line tools pass
 * `--prereg`), the file and the entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preregHypotheses } from "./positive_claims.ts";
 * const [h] = preregHypotheses({
 *   hypotheses: [{ id: "p.t1", contrast: "cyborg - baseline", metric: "T1 AUC", expected: ">" }],
 * }, "positive", "prereg/x.json");
 * assert.deepEqual([h.a, h.b, h.expected], ["cyborg", "baseline", ">"]);
 * ```
 */
export function preregHypotheses(
  prereg: { hypotheses?: unknown },
  variant: string,
  file: string,
  option = "prereg",
): HypothesisSpec[] {
  const list = prereg.hypotheses;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`${option}: ${file}: "hypotheses" must be a non-empty array`);
  }
  return list.map((h, i) => {
    const where = `${option}: ${file}: hypotheses[${i}]`;
    if (typeof h !== "object" || h === null) throw new Error(`${where} is not an object`);
    const { id, contrast, metric, expected, rationale, test } = h as Record<string, unknown>;
    if (typeof id !== "string" || !id) throw new Error(`${where}: "id" must be a string`);
    const arms = typeof contrast === "string" ? /^\s*(\w+)\s+-\s+(\w+)\s*$/.exec(contrast) : null;
    if (!arms) {
      throw new Error(
        `${where}: "contrast" must read "<strategy> - <strategy>", got ${JSON.stringify(contrast)}`,
      );
    }
    if (typeof metric !== "string" || !/^(T[123]|VAL)\b/.test(metric)) {
      throw new Error(
        `${where}: "metric" must start with T1, T2, T3 or VAL, got ${JSON.stringify(metric)}`,
      );
    }
    if (expected !== ">" && expected !== "<" && expected !== "≈") {
      throw new Error(`${where}: "expected" must be >, < or ≈, got ${JSON.stringify(expected)}`);
    }
    return {
      id,
      setting: variant,
      a: arms[1],
      b: arms[2],
      metric,
      expected,
      rationale: typeof rationale === "string" ? rationale : typeof test === "string" ? test : "",
    };
  });
}

/** The test set a hypothesis's metric names (`T1 AUC …` → `t1`), or `val`. */
function metricTest(metric: string): PositiveTest | "val" {
  return metric.startsWith("VAL") ? "val" : metric.slice(0, 2).toLowerCase() as PositiveTest;
}

/** The settings an evaluation can check ({@linkcode evaluationChecks}). */
export type ControlSetting = "positive" | "negative" | "paper_like" | "paper_like_twin";

/**
 * Tests the hypotheses (default {@linkcode positiveHypotheses}; one Holm family) and adds the
 * evaluation baselines' checks ({@linkcode evaluationChecks} for `setting`).
 */
export function positiveClaims(
  aucs: readonly AucResult[],
  variant: string,
  margin = 0.02,
  specs: readonly HypothesisSpec[] = positiveHypotheses(variant),
  setting: ControlSetting = "positive",
  runs: readonly RunResult[] = [],
): Claims {
  const values = (s: HypothesisSpec, arm: string) => {
    const t = metricTest(s.metric);
    return t === "val" ? valAccuracies(runs, s.setting, arm) : testAucs(aucs, s.setting, arm, t);
  };
  const hypotheses = testHypotheses(specs, (s) => ({
    a: values(s, s.a),
    b: values(s, s.b),
  }), { margin });
  return { hypotheses, calibration: evaluationChecks(aucs, variant, setting) };
}

/**
 * The checks on an evaluation's baselines. `positive` (the decoy setting): mean T1 AUC ≤ 0.3
 * (the decoy is used, so there is something to correct) and mean T2 ≥ 0.9 (the artifacts are
 * learned). `negative` (no mark in training): mean T2 AUC in [0.8, 0.95], off the ceiling, so
 * that a difference between arms could show. `paper_like`: mean T3 − T2 AUC ≥ 0.05 (the seen
 * fingerprint is used). `paper_like_twin`: mean T2 AUC ≥ 0.9.
 */
export function evaluationChecks(
  aucs: readonly AucResult[],
  variant: string,
  setting: ControlSetting = "positive",
): CalibrationCheck[] {
  const t1 = summary(testAucs(aucs, variant, "baseline", "t1")).mean;
  const t2 = summary(testAucs(aucs, variant, "baseline", "t2")).mean;
  const t3 = summary(testAucs(aucs, variant, "baseline", "t3")).mean;
  if (setting === "paper_like") {
    const gap = t2 === null || t3 === null ? null : t3 - t2;
    return [{
      id: `${variant}.eval_baseline_t3_minus_t2_min`,
      criterion: "evaluation baselines: mean T3 − T2 AUC >= 0.05 (they use the seen fingerprint)",
      value: gap,
      passed: gap !== null && gap >= 0.05,
    }];
  }
  if (setting === "paper_like_twin") {
    return [{
      id: `${variant}.eval_baseline_t2_min`,
      criterion: "evaluation baselines: mean T2 AUC >= 0.9 (the in-face artifacts are learned)",
      value: t2,
      passed: t2 !== null && t2 >= 0.9,
    }];
  }
  if (setting === "negative") {
    return [{
      id: `${variant}.eval_baseline_t2_range`,
      criterion: "evaluation baselines: mean T2 AUC in [0.8, 0.95] (off the ceiling)",
      value: t2,
      passed: t2 !== null && t2 >= 0.8 && t2 <= 0.95,
    }];
  }
  return [
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
  ];
}

/**
 * Reliance on the decoy, per run: the mean change in a real image's score (probability of
 * Synthetic) when the mark is added, pairing each `t1_real` image (the mark) with its `t2_real`
 * twin (no mark) by the source index in the file name (`t1_real_00042.png` ↔ `t2_real_00042.png`).
 * 0: the mark does not move the decision; near 1: it decides.
 */
export function markReliance(
  withMark: { paths: readonly string[]; scores: readonly number[] },
  withoutMark: { paths: readonly string[]; scores: readonly number[] },
): number {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1).replace(/^t[123]_(real|fake)_/, "");
  const without = new Map(withoutMark.paths.map((p, i) => [base(p), withoutMark.scores[i]]));
  let sum = 0;
  withMark.paths.forEach((p, i) => {
    const b = without.get(base(p));
    if (b === undefined) throw new Error(`markReliance: ${p} has no unmarked twin`);
    sum += withMark.scores[i] - b;
  });
  if (withMark.paths.length === 0 || withMark.paths.length !== withoutMark.paths.length) {
    throw new Error(
      `markReliance: ${withMark.paths.length} marked and ${withoutMark.paths.length} unmarked images`,
    );
  }
  return sum / withMark.paths.length;
}
