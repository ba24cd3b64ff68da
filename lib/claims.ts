/**
 * Pre-stated hypotheses tested on per-seed metrics, and the calibration checks a setting must
 * pass before its tests mean anything, written as `claims.json`:
 *
 *     {"hypotheses": [{id, setting, contrast, metric, expected, estimate, ci95, p_holm, mde,
 *                      verdict, ...}],
 *      "calibration": [{id, criterion, value, passed}]}
 *
 * Each hypothesis compares arm `a` with arm `b` (estimate = mean(a) − mean(b) over seeds):
 *
 * - expected `>` or `<`: primary p = Welch's two-sided p. `supported` when the Holm-adjusted p
 *   is below α and the estimate has the expected sign; `not supported` when it is below α with the
 *   other sign, or when TOST shows |estimate| < the equivalence margin (no effect of that size);
 *   otherwise `inconclusive`.
 * - expected `≈`: primary p = the TOST p (margin ±0.02 by default). `supported` when the
 *   Holm-adjusted TOST p is below α; `not supported` when Welch's p is below α (a difference);
 *   otherwise `inconclusive`.
 *
 * Holm's correction runs over every hypothesis of one file (one family). `mde` is the minimum
 * detectable difference at 80 % power, two-sided α = 0.05, from the pooled sd of the two arms and
 * the smaller arm's seed count: a test with |true effect| < mde is likely to miss it.
 *
 * @module
 */
import { mean, sampleVariance } from "./metrics.ts";
import { writeJson } from "./run_dir.ts";
import { holm, minimumDetectableEffect, tost, welchCi } from "./stats.ts";

/** Direction a hypothesis states for mean(a) − mean(b). */
export type Expected = ">" | "<" | "≈";
/** Outcome of a hypothesis. */
export type Verdict = "supported" | "not supported" | "inconclusive";

/** A hypothesis stated before the runs. */
export interface HypothesisSpec {
  /** Stable id, e.g. `shortcut.cyborg_vs_baseline`. */
  id: string;
  /** The setting (data variant) it is tested on. */
  setting: string;
  /** Arm a (e.g. a strategy name). */
  a: string;
  /** Arm b (the reference, e.g. `baseline`). */
  b: string;
  /** The per-seed metric compared. */
  metric: string;
  /** Expected relation of mean(a) to mean(b). */
  expected: Expected;
  /** Why this is expected (one line, shown in the report). */
  rationale: string;
}

/** A tested hypothesis, as written to `claims.json`. */
export interface Hypothesis {
  id: string;
  setting: string;
  /** `"<a> − <b>"`. */
  contrast: string;
  metric: string;
  expected: Expected;
  /** mean(a) − mean(b); null when an arm has no seed. */
  estimate: number | null;
  /** Welch 95 % CI of the estimate; nulls when an arm has fewer than 2 seeds. */
  ci95: [number | null, number | null];
  /** Holm-adjusted primary p (see the module doc); null when untestable. */
  p_holm: number | null;
  /** The primary p before the correction. */
  p_raw: number | null;
  /** Which test gave the primary p. */
  test: "welch" | "tost";
  /** TOST p at `margin` (both directions tested; < α shows |estimate| < margin). */
  p_tost: number | null;
  /** Equivalence margin of the TOST. */
  margin: number;
  /** Minimum detectable effect at 80 % power (two-sided α 0.05); null with < 2 seeds. */
  mde: number | null;
  /** Seeds in arm a and arm b. */
  n: [number, number];
  verdict: Verdict;
  rationale: string;
}

/** A calibration criterion and whether the runs met it. */
export interface CalibrationCheck {
  id: string;
  /** The criterion in words, with its threshold. */
  criterion: string;
  /** The measured value (null when it could not be measured). */
  value: number | null;
  passed: boolean;
}

/** The content of `claims.json`. */
export interface Claims {
  hypotheses: Hypothesis[];
  calibration: CalibrationCheck[];
}

/** Options of {@linkcode testHypotheses}. */
export interface TestOptions {
  /** Family-wise significance level (default 0.05). */
  alpha?: number;
  /** TOST equivalence margin (default 0.02). */
  margin?: number;
}

/**
 * Tests every hypothesis on the per-seed values `values(spec)` returns, Holm-corrects the primary
 * p-values over the whole list and assigns verdicts (rules in the module doc).
 */
export function testHypotheses(
  specs: readonly HypothesisSpec[],
  values: (spec: HypothesisSpec) => { a: readonly number[]; b: readonly number[] },
  options: TestOptions = {},
): Hypothesis[] {
  const alpha = options.alpha ?? 0.05;
  const margin = options.margin ?? 0.02;
  const ids = new Set<string>();
  type Tested = Omit<Hypothesis, "p_holm" | "verdict"> & { pWelch: number | null };
  const partial = specs.map((spec): Tested => {
    if (ids.has(spec.id)) throw new Error(`testHypotheses: duplicate hypothesis id "${spec.id}"`);
    ids.add(spec.id);
    const { a, b } = values(spec);
    const estimate = a.length && b.length ? mean(a) - mean(b) : null;
    const base = {
      id: spec.id,
      setting: spec.setting,
      contrast: `${spec.a} − ${spec.b}`,
      metric: spec.metric,
      expected: spec.expected,
      estimate,
      margin,
      n: [a.length, b.length] as [number, number],
      rationale: spec.rationale,
      test: spec.expected === "≈" ? "tost" as const : "welch" as const,
    };
    if (a.length < 2 || b.length < 2) {
      return {
        ...base,
        ci95: [null, null],
        p_raw: null,
        p_tost: null,
        pWelch: null,
        mde: null,
      };
    }
    const w = welchCi(a, b);
    const e = tost(a, b, margin);
    const sd = Math.sqrt((sampleVariance(a) + sampleVariance(b)) / 2);
    return {
      ...base,
      ci95: w.ci,
      p_raw: spec.expected === "≈" ? e.p : w.p,
      p_tost: e.p,
      pWelch: w.p,
      mde: minimumDetectableEffect({ sd, n: Math.min(a.length, b.length) }),
    };
  });
  const tested = partial.filter((h) => h.p_raw !== null);
  const adjusted = holm(tested.map((h) => h.p_raw!));
  const pHolm = new Map(tested.map((h, i) => [h, adjusted[i]]));
  return partial.map((h) => {
    const { pWelch, ...rest } = h;
    const p = pHolm.get(h) ?? null;
    return {
      ...rest,
      p_holm: p,
      verdict: verdict(h.expected, h.estimate, p, pWelch, h.p_tost, alpha),
    };
  });
}

/** The verdict rule of the module doc (exported for its tests). */
export function verdict(
  expected: Expected,
  estimate: number | null,
  pHolm: number | null,
  pWelch: number | null,
  pTost: number | null,
  alpha = 0.05,
): Verdict {
  if (estimate === null || pHolm === null || pWelch === null || pTost === null) {
    return "inconclusive";
  }
  if (expected === "≈") {
    if (pHolm < alpha) return "supported";
    if (pWelch < alpha) return "not supported";
    return "inconclusive";
  }
  const sign = expected === ">" ? 1 : -1;
  if (pHolm < alpha && sign * estimate > 0) return "supported";
  if (pHolm < alpha && sign * estimate < 0) return "not supported";
  if (pTost < alpha) return "not supported";
  return "inconclusive";
}

/**
 * Checks a claims object's shape (ids unique, verdicts and directions valid, CI ordered) and
 * writes it atomically as JSON to `path`.
 */
export async function writeClaims(path: string, claims: Claims): Promise<void> {
  const seen = new Set<string>();
  for (const h of claims.hypotheses) {
    if (seen.has(h.id)) throw new Error(`writeClaims: duplicate hypothesis id "${h.id}"`);
    seen.add(h.id);
    if (![">", "<", "≈"].includes(h.expected)) {
      throw new Error(`writeClaims: hypothesis "${h.id}" has expected "${h.expected}"`);
    }
    if (!["supported", "not supported", "inconclusive"].includes(h.verdict)) {
      throw new Error(`writeClaims: hypothesis "${h.id}" has verdict "${h.verdict}"`);
    }
    const [lo, hi] = h.ci95;
    if (lo !== null && hi !== null && !(lo <= hi)) {
      throw new Error(`writeClaims: hypothesis "${h.id}" has ci95 [${lo}, ${hi}]`);
    }
  }
  const cal = new Set<string>();
  for (const c of claims.calibration) {
    if (cal.has(c.id)) throw new Error(`writeClaims: duplicate calibration id "${c.id}"`);
    cal.add(c.id);
  }
  await writeJson(path, claims);
}
