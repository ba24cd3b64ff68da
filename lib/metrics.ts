/**
 * Evaluation metrics for the synthetic-face detector, matching scikit-learn / SciPy where they
 * overlap (golden values: `tools/fixtures/make_metrics_fixture.py`).
 *
 * Conventions:
 * - Labels: 0 = Real, 1 = Synthetic (the positive class). The score is the "Synthetic" score:
 *   `sigmoid(logit[1])` exactly as the paper's `testing_code/test.py` (default), or `softmax[1]`.
 * - TDR (true detection rate) = TPR on synthetic images; FDR (false detection rate) = FPR on real
 *   images. The paper and its code report only AUC, so `TDR@FDR` is defined here; see
 *   {@linkcode tdrAtFdr}.
 * - Standard deviations are sample sd (n - 1).
 *
 * @module
 */

/** A two-class score source: flat `[n, k]` row-major logits or an array of rows. */
export type Logits = ArrayLike<number> | readonly (readonly number[])[];

/** How a "Synthetic" score is derived from logits. */
export type ScoreMethod = "sigmoid" | "softmax";

/** Options of {@linkcode scoresFromLogits}. */
export interface ScoreOptions {
  /** `sigmoid` (default, as the paper's test.py: `sigmoid(logits)[:, 1]`) or `softmax`. */
  method?: ScoreMethod;
  /** Number of classes per row for flat input (default 2). */
  numClasses?: number;
  /** The column scored (default 1 = Synthetic). */
  classIndex?: number;
}

function rowsOf(logits: Logits, numClasses: number, where: string): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`${where}: numClasses must be a positive integer, got ${numClasses}`);
  }
  const first = (logits as ArrayLike<unknown>)[0];
  if (logits.length > 0 && Array.isArray(first)) {
    return (logits as readonly (readonly number[])[]).map((r, i) => {
      if (r.length !== numClasses) {
        throw new Error(`${where}: row ${i} has ${r.length} logits, expected ${numClasses}`);
      }
      return Array.from(r);
    });
  }
  const flat = logits as ArrayLike<number>;
  if (flat.length % numClasses !== 0) {
    throw new Error(
      `${where}: flat logits length ${flat.length} is not a multiple of numClasses ${numClasses}`,
    );
  }
  const rows: number[][] = [];
  for (let i = 0; i < flat.length; i += numClasses) {
    rows.push(Array.from({ length: numClasses }, (_, j) => flat[i + j]));
  }
  return rows;
}

/** Numerically stable logistic function. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Per-sample "Synthetic" scores in [0, 1] from logits: `sigmoid(logit[classIndex])` (the paper's
 * test.py) or `softmax(logits)[classIndex]` (max-subtracted, stable).
 */
export function scoresFromLogits(logits: Logits, options: ScoreOptions = {}): Float64Array {
  const where = "scoresFromLogits";
  const method = options.method ?? "sigmoid";
  const k = options.numClasses ?? 2;
  const c = options.classIndex ?? 1;
  if (method !== "sigmoid" && method !== "softmax") {
    throw new Error(`${where}: method must be "sigmoid" or "softmax", got "${method}"`);
  }
  const rows = rowsOf(logits, k, where);
  if (!Number.isInteger(c) || c < 0 || c >= k) {
    throw new Error(`${where}: classIndex ${c} out of range for ${k} classes`);
  }
  const out = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    if (r.some((v) => !Number.isFinite(v))) {
      throw new Error(`${where}: row ${i} has a non-finite logit (${r.join(", ")})`);
    }
    if (method === "sigmoid") {
      out[i] = sigmoid(r[c]);
    } else {
      const m = Math.max(...r);
      let sum = 0;
      for (const v of r) sum += Math.exp(v - m);
      out[i] = Math.exp(r[c] - m) / sum;
    }
  });
  return out;
}

/** Predicted class per row: the arg-max logit (first on ties, like `numpy.argmax`). */
export function argmaxLogits(logits: Logits, numClasses = 2): Int32Array {
  const rows = rowsOf(logits, numClasses, "argmaxLogits");
  return Int32Array.from(rows, (r) => {
    let best = 0;
    for (let j = 1; j < r.length; j++) if (r[j] > r[best]) best = j;
    return best;
  });
}

function checkLabels(labels: ArrayLike<number>, n: number, where: string): void {
  if (labels.length !== n) {
    throw new Error(`${where}: ${labels.length} labels but ${n} scores/predictions`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new Error(`${where}: label ${i} is ${labels[i]}, expected 0 (Real) or 1 (Synthetic)`);
    }
  }
}

function checkScores(scores: ArrayLike<number>, where: string): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`${where}: score ${i} is NaN`);
  }
}

/** Fraction of predictions equal to labels. */
export function accuracy(labels: ArrayLike<number>, predicted: ArrayLike<number>): number {
  if (labels.length !== predicted.length) {
    throw new Error(`accuracy: ${labels.length} labels but ${predicted.length} predictions`);
  }
  if (labels.length === 0) throw new Error("accuracy: no samples");
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predicted[i]) ok++;
  return ok / labels.length;
}

/** Accuracy of `score >= threshold` → Synthetic (default threshold 0.5). */
export function accuracyFromScores(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold = 0.5,
): number {
  checkLabels(labels, scores.length, "accuracyFromScores");
  checkScores(scores, "accuracyFromScores");
  return accuracy(labels, Array.from(scores, (s) => (s >= threshold ? 1 : 0)));
}

/** A ROC curve: parallel arrays, thresholds decreasing, first point (0, 0) at +Infinity. */
export interface RocCurve {
  /** False positive rate (FDR: reals scored Synthetic) at each threshold. */
  fpr: number[];
  /** True positive rate (TDR: synthetic scored Synthetic) at each threshold. */
  tpr: number[];
  /** Decision thresholds (predict Synthetic when score >= threshold); `thresholds[0]` is +∞. */
  thresholds: number[];
  /** Number of negatives (Real). */
  negatives: number;
  /** Number of positives (Synthetic). */
  positives: number;
}

/** Options of {@linkcode rocCurve}. */
export interface RocOptions {
  /** Drop collinear points like sklearn's default `drop_intermediate=True` (default false). */
  dropIntermediate?: boolean;
}

/**
 * ROC curve exactly as `sklearn.metrics.roc_curve(y, s, drop_intermediate=...)`: one point per
 * distinct score (tied scores form one step), descending, with a leading (0, 0) point whose
 * threshold is +Infinity (sklearn >= 1.3; older versions wrote `max + 1`). Both classes must be
 * present.
 */
export function rocCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: RocOptions = {},
): RocCurve {
  const where = "rocCurve";
  checkLabels(labels, scores.length, where);
  checkScores(scores, where);
  const n = scores.length;
  // Descending by score (comparisons, not subtraction, so ±Infinity scores sort correctly).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : 0
  );
  let tps: number[] = [];
  let fps: number[] = [];
  let thr: number[] = [];
  let tp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    tp += labels[i];
    if (k === n - 1 || scores[order[k + 1]] !== scores[i]) {
      tps.push(tp);
      fps.push(k + 1 - tp);
      thr.push(scores[i]);
    }
  }
  const positives = tp;
  const negatives = n - tp;
  if (positives === 0 || negatives === 0) {
    throw new Error(
      `${where}: need both classes, got ${negatives} Real and ${positives} Synthetic samples`,
    );
  }
  if (options.dropIntermediate && tps.length > 2) {
    const keep: number[] = [0];
    for (let i = 1; i < tps.length - 1; i++) {
      const d2f = fps[i + 1] - 2 * fps[i] + fps[i - 1];
      const d2t = tps[i + 1] - 2 * tps[i] + tps[i - 1];
      if (d2f !== 0 || d2t !== 0) keep.push(i);
    }
    keep.push(tps.length - 1);
    tps = keep.map((i) => tps[i]);
    fps = keep.map((i) => fps[i]);
    thr = keep.map((i) => thr[i]);
  }
  return {
    fpr: [0, ...fps.map((v) => v / negatives)],
    tpr: [0, ...tps.map((v) => v / positives)],
    thresholds: [Infinity, ...thr],
    negatives,
    positives,
  };
}

/** Area under a curve by the trapezoidal rule (x must be monotonic, as sklearn's `auc`). */
export function trapezoidArea(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`trapezoidArea: ${x.length} x but ${y.length} y`);
  let area = 0;
  for (let i = 1; i < x.length; i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return area;
}

/**
 * ROC AUC as `sklearn.metrics.roc_auc_score` for binary labels: the trapezoidal area under the
 * ROC curve, where tied scores form one diagonal segment (equivalently, the Mann-Whitney
 * probability P(s_synthetic > s_real) + ½ P(equal)).
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const roc = rocCurve(labels, scores, { dropIntermediate: true });
  return trapezoidArea(roc.fpr, roc.tpr);
}

/**
 * Average precision as `sklearn.metrics.average_precision_score` (Synthetic = positive): the sum
 * over distinct score thresholds, descending, of (recall gain) × precision at that threshold —
 * tied scores enter together, no interpolation. Both classes must be present.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const roc = rocCurve(labels, scores);
  let ap = 0;
  for (let i = 1; i < roc.tpr.length; i++) {
    const tp = roc.tpr[i] * roc.positives;
    const fp = roc.fpr[i] * roc.negatives;
    ap += (roc.tpr[i] - roc.tpr[i - 1]) * (tp / (tp + fp));
  }
  return ap;
}

/**
 * Equal error rate: the rate where the false detection rate (FPR on reals) equals the miss rate
 * (1 − TPR on synthetic), read on the piecewise-linear ROC curve, linear between the two points
 * that bracket the crossing (vertical and horizontal segments included). For continuous scores
 * this is the usual `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`.
 */
export function equalErrorRate(roc: RocCurve): number {
  const f = (i: number) => roc.fpr[i] + roc.tpr[i] - 1;
  let i = 0;
  while (f(i) < 0) i++; // the last point (1, 1) has f = 1
  if (i === 0 || f(i) === 0) return roc.fpr[i];
  const t = -f(i - 1) / (f(i) - f(i - 1));
  return roc.fpr[i - 1] + t * (roc.fpr[i] - roc.fpr[i - 1]);
}

/** The FDR operating points reported by default: 0.1%, 0.2%, 1%, 5%. */
export const DEFAULT_FDR_TARGETS: readonly number[] = [0.001, 0.002, 0.01, 0.05];

/** How {@linkcode tdrAtFdr} reads the ROC curve. */
export type TdrRule = "step" | "interpolate";

/** One TDR@FDR value. */
export interface TdrAtFdr {
  /** The requested FDR (false detection rate = FPR on reals). */
  fdr: number;
  /** The true detection rate (TPR on synthetic) at that FDR. */
  tdr: number;
  /** The FDR the chosen threshold actually achieves (step rule; equals `fdr` when interpolating). */
  fdrAchieved: number;
  /** The score threshold (score >= threshold → Synthetic); +Infinity means "flag nothing". */
  threshold: number;
}

/**
 * TDR at a target FDR.
 *
 * - `step` (default, conservative, an achievable operating point): the highest TPR over all ROC
 *   thresholds whose FPR ≤ target; among equal TPRs, the largest threshold. This is "the
 *   smallest threshold with FPR ≤ target" up to plateaus. With N reals, targets below 1/N allow
 *   no false detection at all (e.g. 0.1% needs ≥ 1000 reals to allow one).
 * - `interpolate`: the ROC curve's TPR at exactly FPR = target, linear between the neighbouring
 *   ROC points (a diagonal only where tied scores mix both classes), or the top of a vertical
 *   segment sitting exactly at the target. Not an achievable operating point without
 *   randomising between two thresholds: `fdrAchieved` is then the target and `threshold` the
 *   step rule's threshold.
 *
 * The paper and its code (CVRL/CYBORG testing_code/test.py) compute only scores and AUC, so there
 * is no original rule to copy; `step` is the usual reading in detection/PAD reports.
 */
export function tdrAtFdr(roc: RocCurve, fdr: number, rule: TdrRule = "step"): TdrAtFdr {
  if (!(fdr >= 0 && fdr <= 1)) throw new Error(`tdrAtFdr: FDR target ${fdr} is not in [0, 1]`);
  if (rule !== "step" && rule !== "interpolate") {
    throw new Error(`tdrAtFdr: rule must be "step" or "interpolate", got "${rule}"`);
  }
  const eps = 1e-12;
  let best = 0;
  for (let i = 1; i < roc.fpr.length; i++) {
    if (roc.fpr[i] <= fdr + eps && roc.tpr[i] > roc.tpr[best]) best = i;
  }
  const step: TdrAtFdr = {
    fdr,
    tdr: roc.tpr[best],
    fdrAchieved: roc.fpr[best],
    threshold: roc.thresholds[best],
  };
  if (rule === "step") return step;
  let exact = -1;
  for (let i = 0; i < roc.fpr.length; i++) {
    if (Math.abs(roc.fpr[i] - fdr) <= eps && (exact < 0 || roc.tpr[i] > roc.tpr[exact])) exact = i;
  }
  if (exact >= 0) return { ...step, tdr: roc.tpr[exact], fdrAchieved: fdr };
  let lo = 0;
  while (lo + 1 < roc.fpr.length && roc.fpr[lo + 1] < fdr) lo++;
  // fpr is non-decreasing; the last point has fpr 1 >= fdr, so hi exists.
  let hi = lo + 1;
  while (roc.fpr[hi] <= fdr) hi++;
  const w = (fdr - roc.fpr[lo]) / (roc.fpr[hi] - roc.fpr[lo]);
  return { ...step, tdr: roc.tpr[lo] + w * (roc.tpr[hi] - roc.tpr[lo]), fdrAchieved: fdr };
}

/** TDR at each target (default {@linkcode DEFAULT_FDR_TARGETS}). */
export function tdrAtFdrs(
  roc: RocCurve,
  targets: readonly number[] = DEFAULT_FDR_TARGETS,
  rule: TdrRule = "step",
): TdrAtFdr[] {
  return targets.map((t) => tdrAtFdr(roc, t, rule));
}

/** Per-class score histograms on fixed bins over [0, 1]. */
export interface ScoreHistogram {
  /** `bins + 1` edges from 0 to 1. */
  edges: number[];
  /** Counts of Real samples per bin. */
  real: number[];
  /** Counts of Synthetic samples per bin. */
  synthetic: number[];
}

/**
 * Histograms of scores per class on `bins` equal bins over [0, 1], like `numpy.histogram`: bins
 * are half-open [a, b) except the last, which includes 1. Scores outside [0, 1] are an error.
 */
export function scoreHistogram(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  bins = 20,
): ScoreHistogram {
  const where = "scoreHistogram";
  if (!Number.isInteger(bins) || bins < 1) {
    throw new Error(`${where}: bins must be a positive integer, got ${bins}`);
  }
  checkLabels(labels, scores.length, where);
  const edges = Array.from({ length: bins + 1 }, (_, i) => i / bins);
  const real = new Array<number>(bins).fill(0);
  const synthetic = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!(s >= 0 && s <= 1)) throw new Error(`${where}: score ${i} is ${s}, outside [0, 1]`);
    let b = Math.min(bins - 1, Math.floor(s * bins));
    // Guard against floating error at the edges (numpy compares with the edge values).
    if (b > 0 && s < edges[b]) b--;
    else if (b < bins - 1 && s >= edges[b + 1]) b++;
    (labels[i] === 1 ? synthetic : real)[b]++;
  }
  return { edges, real, synthetic };
}

/** Everything reported for one model on one test set. */
export interface BinaryEvaluation {
  /** Number of samples. */
  n: number;
  /** Accuracy of `score >= 0.5`. */
  accuracy: number;
  /** ROC AUC (sklearn `roc_auc_score`). */
  auc: number;
  /** Average precision, Synthetic = positive ({@linkcode averagePrecision}). */
  ap: number;
  /** Equal error rate ({@linkcode equalErrorRate}). */
  eer: number;
  /** The full ROC curve (`drop_intermediate=False`). */
  roc: RocCurve;
  /** TDR at {@linkcode DEFAULT_FDR_TARGETS} (or the requested targets), step rule. */
  tdr: TdrAtFdr[];
}

/** Accuracy, AUC, AP, EER, ROC and TDR@FDR for labels and "Synthetic" scores. */
export function evaluateScores(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: { fdrTargets?: readonly number[]; rule?: TdrRule; threshold?: number } = {},
): BinaryEvaluation {
  const roc = rocCurve(labels, scores);
  return {
    n: scores.length,
    accuracy: accuracyFromScores(labels, scores, options.threshold ?? 0.5),
    auc: trapezoidArea(roc.fpr, roc.tpr),
    ap: averagePrecision(labels, scores),
    eer: equalErrorRate(roc),
    roc,
    tdr: tdrAtFdrs(roc, options.fdrTargets ?? DEFAULT_FDR_TARGETS, options.rule ?? "step"),
  };
}

/** Accuracy of the arg-max class of each logits row (as the training loop's accuracy). */
export function accuracyFromLogits(
  labels: ArrayLike<number>,
  logits: Logits,
  numClasses = 2,
): number {
  const predicted = argmaxLogits(logits, numClasses);
  checkLabels(labels, predicted.length, "accuracyFromLogits");
  return accuracy(labels, predicted);
}

/**
 * {@linkcode evaluateScores} from two-class logits: scores by `method` (default sigmoid of the
 * Synthetic logit, the paper's test.py), accuracy from the arg-max class (the paper's training
 * accuracy; it can differ from `sigmoid(logit[1]) >= 0.5`, which ignores logit[0]).
 */
export function evaluateLogits(
  labels: ArrayLike<number>,
  logits: Logits,
  options: { method?: ScoreMethod; fdrTargets?: readonly number[]; rule?: TdrRule } = {},
): BinaryEvaluation {
  const scores = scoresFromLogits(logits, { method: options.method });
  const evaluation = evaluateScores(labels, scores, options);
  return { ...evaluation, accuracy: accuracyFromLogits(labels, logits) };
}

// ---------------------------------------------------------------------------------------------
// Summaries over seeds and significance tests.

/** Mean and sample standard deviation. */
export interface MeanSd {
  /** Arithmetic mean. */
  mean: number;
  /** Sample standard deviation (n - 1); NaN when n = 1. */
  sd: number;
  /** Number of values. */
  n: number;
}

/** Arithmetic mean; an empty input is an error. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) throw new Error("mean: no values");
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Sample variance (n - 1); NaN for a single value. */
export function sampleVariance(values: ArrayLike<number>): number {
  const m = mean(values);
  if (values.length < 2) return NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] - m) ** 2;
  return s / (values.length - 1);
}

/** Mean ± sample sd (n - 1) of the values, e.g. per-seed AUCs. */
export function meanSd(values: ArrayLike<number>): MeanSd {
  return { mean: mean(values), sd: Math.sqrt(sampleVariance(values)), n: values.length };
}

/** "0.812 ± 0.013" (sd omitted when n = 1). */
export function formatMeanSd(ms: MeanSd, digits = 3): string {
  return Number.isNaN(ms.sd)
    ? ms.mean.toFixed(digits)
    : `${ms.mean.toFixed(digits)} ± ${ms.sd.toFixed(digits)}`;
}

/** Per-index mean and sd over equally long series (e.g. accuracy per epoch over seeds). */
export function meanSdSeries(
  series: readonly ArrayLike<number>[],
): { mean: number[]; sd: number[] } {
  if (series.length === 0) throw new Error("meanSdSeries: no series");
  const len = series[0].length;
  series.forEach((s, i) => {
    if (s.length !== len) {
      throw new Error(`meanSdSeries: series ${i} has length ${s.length}, series 0 has ${len}`);
    }
  });
  const m: number[] = [];
  const sd: number[] = [];
  for (let j = 0; j < len; j++) {
    const col = series.map((s) => s[j]);
    const ms = meanSd(col);
    m.push(ms.mean);
    sd.push(ms.sd);
  }
  return { mean: m, sd };
}

const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  // Modified Lentz (Numerical Recipes betacf).
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - (a + b) * x / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) return h;
  }
  return h;
}

/** Regularised incomplete beta function I_x(a, b). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new Error(`regularizedIncompleteBeta: a=${a}, b=${b} must be > 0`);
  if (!(x >= 0 && x <= 1)) throw new Error(`regularizedIncompleteBeta: x=${x} not in [0, 1]`);
  if (x === 0 || x === 1) return x;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return Math.exp(lbt) * betaContinuedFraction(a, b, x) / a;
  return 1 - Math.exp(lbt) * betaContinuedFraction(b, a, 1 - x) / b;
}

/** CDF of Student's t distribution with `df` (> 0, non-integer allowed) degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`studentTCdf: df=${df} must be > 0`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Standard normal CDF, through {@linkcode erfc} (accurate in both tails). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Complementary error function, relative accuracy ~1e-15. */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    // Series for erf: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
    let sum = x;
    let term = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - 2 / Math.sqrt(Math.PI) * sum;
  }
  // Continued fraction (Lentz) for erfc, good for x >= 2.5.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    d = x + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const del = c * d;
    f *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Result of {@linkcode welchTTest}. */
export interface WelchResult {
  /** t statistic of mean(a) - mean(b). */
  t: number;
  /** Welch-Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided p-value. */
  p: number;
  /** mean(a) - mean(b). */
  meanDiff: number;
}

/**
 * Welch's unequal-variance t-test (two-sided), as `scipy.stats.ttest_ind(a, b, equal_var=False)`.
 * Each side needs at least 2 values. Both variances zero gives t = ±Infinity (p 0) or NaN.
 */
export function welchTTest(a: ArrayLike<number>, b: ArrayLike<number>): WelchResult {
  if (a.length < 2 || b.length < 2) {
    throw new Error(`welchTTest: each group needs >= 2 values (got ${a.length} and ${b.length})`);
  }
  const va = sampleVariance(a) / a.length;
  const vb = sampleVariance(b) / b.length;
  const meanDiff = mean(a) - mean(b);
  const se = Math.sqrt(va + vb);
  const t = meanDiff / se;
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const p = Number.isFinite(t) ? 2 * studentTCdf(-Math.abs(t), df) : Number.isNaN(t) ? NaN : 0;
  return { t, df, p: Math.min(1, p), meanDiff };
}

/** Result of {@linkcode mannWhitneyU}. */
export interface MannWhitneyResult {
  /** U statistic of sample a (scipy's `statistic`): pairs with a > b, plus ½ per tie. */
  u: number;
  /** Two-sided p-value. */
  p: number;
  /** `exact` (permutation distribution; no ties) or `asymptotic` (normal, tie + continuity corr.). */
  method: "exact" | "asymptotic";
}

/**
 * Mann-Whitney U test (two-sided), as `scipy.stats.mannwhitneyu(a, b, alternative="two-sided")`.
 * `method` `auto` (default) uses the exact distribution when there are no ties and both samples
 * have ≤ 8 values (scipy's rule), else the normal approximation with tie correction and
 * continuity correction.
 */
export function mannWhitneyU(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  method: "auto" | "exact" | "asymptotic" = "auto",
): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error(`mannWhitneyU: empty sample (${n1} and ${n2} values)`);
  const all = [...Array.from(a, (v) => ({ v, g: 0 })), ...Array.from(b, (v) => ({ v, g: 1 }))];
  if (all.some((e) => Number.isNaN(e.v))) throw new Error("mannWhitneyU: NaN value");
  all.sort((x, y) => x.v - y.v);
  const n = n1 + n2;
  const ranks = new Array<number>(n);
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const r = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((e, i) => {
    if (e.g === 0) r1 += ranks[i];
  });
  const u1 = r1 - n1 * (n1 + 1) / 2;
  const hasTies = tieTerm > 0;
  const useExact = method === "exact" || (method === "auto" && !hasTies && n1 <= 8 && n2 <= 8);
  if (useExact) {
    if (hasTies) throw new Error("mannWhitneyU: the exact method needs samples without ties");
    // Number of arrangements with each U value: f(n1, n2, u) by dynamic programming.
    const maxU = n1 * n2;
    // counts[i][j] are arrays over u for sizes (i, j); build iteratively over (i, j).
    let prevRow: number[][] = []; // prevRow[j] = dist for (i - 1, j)
    for (let i = 0; i <= n1; i++) {
      const row: number[][] = [];
      for (let j = 0; j <= n2; j++) {
        if (i === 0 || j === 0) {
          row.push([1]);
          continue;
        }
        // f(i, j, u) = f(i - 1, j, u - j) + f(i, j - 1, u)
        const fa = prevRow[j];
        const fb = row[j - 1];
        const len = i * j + 1;
        const d = new Array<number>(len).fill(0);
        for (let u = 0; u < fa.length; u++) d[u + j] += fa[u];
        for (let u = 0; u < fb.length; u++) d[u] += fb[u];
        row.push(d);
      }
      prevRow = row;
    }
    const dist = prevRow[n2];
    let total = 0;
    for (const c of dist) total += c;
    // Two-sided: 2 * P(U >= max(u1, u2)), capped at 1 (scipy).
    const uHigh = Math.max(u1, maxU - u1);
    let tail = 0;
    for (let u = Math.ceil(uHigh); u <= maxU; u++) tail += dist[u];
    return { u: u1, p: Math.min(1, 2 * tail / total), method: "exact" };
  }
  const mu = n1 * n2 / 2;
  const sigma = Math.sqrt(n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1))));
  const uHigh = Math.max(u1, n1 * n2 - u1);
  const z = (uHigh - mu - 0.5) / sigma;
  const p = sigma === 0 ? 1 : Math.min(1, 2 * normalCdf(-z));
  return { u: u1, p, method: "asymptotic" };
}
