/**
 * Inference for seed-level comparisons between two training strategies: the Welch confidence
 * interval of a difference of means, the minimum detectable effect of a design, Holm's correction
 * for a family of tests and the two one-sided tests (TOST) of equivalence. Pure functions on
 * per-seed numbers; the t distribution comes from {@linkcode studentTCdf} in `metrics.ts`.
 *
 * @module
 */
import { mean, sampleVariance, studentTCdf } from "./metrics.ts";

/**
 * Quantile of Student's t distribution: the `t` with `studentTCdf(t, df) = p`, by bisection to
 * machine precision (`0 < p < 1`, `df > 0`, non-integer allowed).
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`studentTQuantile: p=${p} must be in (0, 1)`);
  if (!(df > 0)) throw new Error(`studentTQuantile: df=${df} must be > 0`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e12) throw new Error(`studentTQuantile: no quantile for p=${p}, df=${df}`);
  }
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) break;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Result of {@linkcode welchCi}. */
export interface WelchCi {
  /** mean(a) − mean(b). */
  estimate: number;
  /** Standard error of the difference, √(s²a/na + s²b/nb). */
  se: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided confidence interval `[lo, hi]` at `level`. */
  ci: [number, number];
  /** Two-sided p-value of "no difference" (as `welchTTest`). */
  p: number;
}

function welchParts(a: ArrayLike<number>, b: ArrayLike<number>, what: string) {
  if (a.length < 2 || b.length < 2) {
    throw new Error(`${what}: each group needs >= 2 values (got ${a.length} and ${b.length})`);
  }
  for (const v of [...Array.from(a), ...Array.from(b)]) {
    if (!Number.isFinite(v)) throw new Error(`${what}: non-finite value ${v}`);
  }
  const va = sampleVariance(a) / a.length;
  const vb = sampleVariance(b) / b.length;
  const se = Math.sqrt(va + vb);
  const df = se === 0
    ? a.length + b.length - 2
    : (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { estimate: mean(a) - mean(b), se, df };
}

/**
 * Welch confidence interval (default 95 %, two-sided) for mean(a) − mean(b), with its two-sided
 * p-value: `estimate ± t_{1−(1−level)/2, df} · se`. Two groups without spread give a zero-width
 * interval and p = 0 (different means) or 1 (equal means).
 */
export function welchCi(a: ArrayLike<number>, b: ArrayLike<number>, level = 0.95): WelchCi {
  if (!(level > 0 && level < 1)) throw new Error(`welchCi: level=${level} must be in (0, 1)`);
  const { estimate, se, df } = welchParts(a, b, "welchCi");
  if (se === 0) {
    return { estimate, se, df, ci: [estimate, estimate], p: estimate === 0 ? 1 : 0 };
  }
  const half = studentTQuantile(1 - (1 - level) / 2, df) * se;
  const p = Math.min(1, 2 * studentTCdf(-Math.abs(estimate / se), df));
  return { estimate, se, df, ci: [estimate - half, estimate + half], p };
}

/** Design of a two-arm comparison for {@linkcode minimumDetectableEffect}. */
export interface MdeDesign {
  /** Standard deviation of the per-seed metric within an arm (measured). */
  sd: number;
  /** Seeds per arm (≥ 2). */
  n: number;
  /** Two-sided significance level (default 0.05). */
  alpha?: number;
  /** Power (default 0.8). */
  power?: number;
}

/**
 * Minimum detectable difference of means for two arms of `n` seeds each with a common `sd`:
 * `(t_{1−α/2, 2n−2} + t_{power, 2n−2}) · sd · √(2/n)` — the usual t-approximation to the
 * power of the two-sample t-test (two-sided α, default 0.05; power default 0.8). With sd 0.012
 * and 3 seeds per arm it is 0.036.
 */
export function minimumDetectableEffect(design: MdeDesign): number {
  const { sd, n, alpha = 0.05, power = 0.8 } = design;
  if (!(sd >= 0 && Number.isFinite(sd))) throw new Error(`minimumDetectableEffect: sd=${sd}`);
  if (!(Number.isInteger(n) && n >= 2)) {
    throw new Error(`minimumDetectableEffect: n=${n} must be an integer >= 2`);
  }
  if (!(alpha > 0 && alpha < 1)) throw new Error(`minimumDetectableEffect: alpha=${alpha}`);
  if (!(power > 0 && power < 1)) throw new Error(`minimumDetectableEffect: power=${power}`);
  const df = 2 * n - 2;
  return (studentTQuantile(1 - alpha / 2, df) + studentTQuantile(power, df)) * sd *
    Math.sqrt(2 / n);
}

/**
 * Smallest number of seeds per arm whose {@linkcode minimumDetectableEffect} is at most `effect`
 * (searching up to `maxN`, default 1000; throws when even that is not enough).
 */
export function seedsForEffect(
  effect: number,
  sd: number,
  options: { alpha?: number; power?: number; maxN?: number } = {},
): number {
  if (!(effect > 0)) throw new Error(`seedsForEffect: effect=${effect} must be > 0`);
  const maxN = options.maxN ?? 1000;
  for (let n = 2; n <= maxN; n++) {
    if (minimumDetectableEffect({ sd, n, ...options }) <= effect) return n;
  }
  throw new Error(`seedsForEffect: more than ${maxN} seeds per arm for effect ${effect}, sd ${sd}`);
}

/**
 * Holm's step-down adjusted p-values, in the input order: sorted ascending, the i-th smallest
 * (0-based) becomes max over j ≤ i of min(1, (m − j)·p_(j)). Rejecting where adjusted p < α
 * controls the family-wise error rate at α.
 */
export function holm(pValues: readonly number[]): number[] {
  for (const p of pValues) {
    if (!(p >= 0 && p <= 1)) throw new Error(`holm: p-value ${p} not in [0, 1]`);
  }
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}

/** Result of {@linkcode tost}. */
export interface TostResult {
  /** mean(a) − mean(b). */
  estimate: number;
  /** Equivalence margin: the bounds are (−margin, +margin). */
  margin: number;
  /** p of H0 "difference ≤ −margin" (one-sided Welch). */
  pLower: number;
  /** p of H0 "difference ≥ +margin" (one-sided Welch). */
  pUpper: number;
  /** max(pLower, pUpper): equivalence is shown at level α when p < α. */
  p: number;
  /** The (1 − 2α) confidence interval that lies inside the margin exactly when p < α. */
  ci90: [number, number];
  /** Welch degrees of freedom. */
  df: number;
}

/**
 * Two one-sided Welch t-tests of equivalence (Schuirmann): is |mean(a) − mean(b)| < margin
 * (default 0.02)? `p` < α shows equivalence; equivalently the 90 % CI (for α = 0.05) lies inside
 * (−margin, +margin).
 */
export function tost(a: ArrayLike<number>, b: ArrayLike<number>, margin = 0.02): TostResult {
  if (!(margin > 0)) throw new Error(`tost: margin=${margin} must be > 0`);
  const { estimate, se, df } = welchParts(a, b, "tost");
  let pLower: number;
  let pUpper: number;
  let ci90: [number, number];
  if (se === 0) {
    pLower = estimate > -margin ? 0 : 1;
    pUpper = estimate < margin ? 0 : 1;
    ci90 = [estimate, estimate];
  } else {
    pLower = studentTCdf(-(estimate + margin) / se, df);
    pUpper = studentTCdf((estimate - margin) / se, df);
    const half = studentTQuantile(0.95, df) * se;
    ci90 = [estimate - half, estimate + half];
  }
  return { estimate, margin, pLower, pUpper, p: Math.max(pLower, pUpper), ci90, df };
}
