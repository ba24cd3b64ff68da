import assert from "node:assert/strict";
import {
  accuracy,
  accuracyFromLogits,
  accuracyFromScores,
  argmaxLogits,
  averagePrecision,
  DEFAULT_FDR_TARGETS,
  equalErrorRate,
  erfc,
  evaluateLogits,
  evaluateScores,
  formatMeanSd,
  mannWhitneyU,
  meanSd,
  meanSdSeries,
  normalCdf,
  rocAuc,
  rocCurve,
  scoreHistogram,
  scoresFromLogits,
  studentTCdf,
  tdrAtFdr,
  tdrAtFdrs,
  welchTTest,
} from "../lib/metrics.ts";

interface RocJson {
  fpr: number[];
  tpr: number[];
  thresholds: (number | null)[];
}
interface Golden {
  fdr_targets: number[];
  roc_cases: {
    name: string;
    labels: number[];
    scores: number[];
    roc: RocJson;
    roc_drop: RocJson;
    auc: number;
    ap: number;
    eer: number;
    accuracy_at_0_5: number;
    tdr: {
      fdr: number;
      step: { tdr: number; fdr_achieved: number; threshold: number | null };
      interp: number;
    }[];
    histogram: { bins: number; real: number[]; synthetic: number[] };
  }[];
  scores_from_logits: {
    logits: number[][];
    sigmoid: number[];
    softmax: number[];
    argmax: number[];
  };
  two_sample_tests: {
    name: string;
    a: number[];
    b: number[];
    mean_a: number;
    sd_a: number;
    mean_b: number;
    sd_b: number;
    welch: { t: number; df: number; p: number };
    mwu_asymptotic: { u: number; p: number };
    mwu_exact?: { u: number; p: number };
  }[];
  t_cdf: { t: number; df: number; cdf: number }[];
}

const golden: Golden = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/metrics/metrics_golden.json", import.meta.url)),
);

function close(actual: number, expected: number, tol: number, what: string): void {
  const err = Math.abs(actual - expected);
  assert.ok(
    err <= tol * Math.max(1, Math.abs(expected)),
    `${what}: got ${actual}, expected ${expected} (|diff| ${err} > ${tol})`,
  );
}

function closeArray(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((v, i) => close(v, expected[i], tol, `${what}[${i}]`));
}

function checkRoc(
  got: { fpr: number[]; tpr: number[]; thresholds: number[] },
  want: RocJson,
  what: string,
) {
  closeArray(got.fpr, want.fpr, 1e-12, `${what} fpr`);
  closeArray(got.tpr, want.tpr, 1e-12, `${what} tpr`);
  assert.equal(got.thresholds[0], Infinity, `${what}: first threshold is +Infinity`);
  assert.equal(want.thresholds[0], null);
  closeArray(got.thresholds.slice(1), want.thresholds.slice(1) as number[], 0, `${what} thr`);
}

Deno.test("rocCurve matches sklearn roc_curve (ties, both drop_intermediate settings)", () => {
  assert.ok(golden.roc_cases.length >= 7);
  for (const c of golden.roc_cases) {
    checkRoc(rocCurve(c.labels, c.scores), c.roc, c.name);
    checkRoc(
      rocCurve(c.labels, c.scores, { dropIntermediate: true }),
      c.roc_drop,
      `${c.name}/drop`,
    );
  }
});

Deno.test("rocAuc matches sklearn roc_auc_score including ties", () => {
  for (const c of golden.roc_cases) close(rocAuc(c.labels, c.scores), c.auc, 1e-12, c.name);
  const byName = Object.fromEntries(golden.roc_cases.map((c) => [c.name, c]));
  assert.equal(rocAuc(byName.all_tied.labels, byName.all_tied.scores), 0.5);
  assert.equal(rocAuc(byName.perfect.labels, byName.perfect.scores), 1);
  assert.equal(rocAuc(byName.inverted.labels, byName.inverted.scores), 0);
  // Ties count one half: one Real/Synthetic pair tied, one ordered correctly → (1 + 0.5) / 2.
  assert.equal(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.1, 0.9]), (3 + 0.5) / 4);
});

Deno.test("averagePrecision matches sklearn; equalErrorRate matches the fixture's segment rule", () => {
  for (const c of golden.roc_cases) {
    close(averagePrecision(c.labels, c.scores), c.ap, 1e-12, `${c.name} AP`);
    close(equalErrorRate(rocCurve(c.labels, c.scores)), c.eer, 1e-12, `${c.name} EER`);
  }
  // By hand: scores 0.9 (S), 0.8 (R), 0.7 (S), 0.1 (R) → AP = ½·1 + ½·⅔; the ROC goes
  // (0,0) (0,½) (½,½) (½,1) (1,1) and crosses FPR = 1 − TPR at (½, ½) → EER ½.
  assert.ok(Math.abs(averagePrecision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) - (0.5 + 1 / 3)) < 1e-15);
  assert.equal(equalErrorRate(rocCurve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])), 0.5);
  assert.equal(equalErrorRate(rocCurve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])), 0);
  assert.throws(() => averagePrecision([1, 1], [0.2, 0.3]), /need both classes/);
});

Deno.test("TDR at FDR: step and interpolated rules match the fixture's numpy rules", () => {
  assert.deepEqual(golden.fdr_targets, [...DEFAULT_FDR_TARGETS]);
  for (const c of golden.roc_cases) {
    const roc = rocCurve(c.labels, c.scores);
    const step = tdrAtFdrs(roc);
    const interp = tdrAtFdrs(roc, DEFAULT_FDR_TARGETS, "interpolate");
    c.tdr.forEach((want, i) => {
      const what = `${c.name} @ FDR ${want.fdr}`;
      close(step[i].tdr, want.step.tdr, 1e-12, `${what} step tdr`);
      close(step[i].fdrAchieved, want.step.fdr_achieved, 1e-12, `${what} fdr achieved`);
      assert.ok(step[i].fdrAchieved <= want.fdr + 1e-12, `${what}: achieved FDR above target`);
      assert.equal(step[i].threshold, want.step.threshold ?? Infinity, `${what} threshold`);
      close(interp[i].tdr, want.interp, 1e-12, `${what} interp`);
      assert.ok(interp[i].tdr >= step[i].tdr - 1e-12, `${what}: interpolated below step`);
    });
  }
});

Deno.test("TDR at FDR: the threshold really achieves the reported rates", () => {
  const c = golden.roc_cases.find((c) => c.name === "beta_ties_2dp")!;
  const roc = rocCurve(c.labels, c.scores);
  for (const r of tdrAtFdrs(roc)) {
    let fp = 0, tp = 0;
    c.scores.forEach((s, i) => {
      if (s >= r.threshold) c.labels[i] ? tp++ : fp++;
    });
    close(fp / roc.negatives, r.fdrAchieved, 1e-12, "fp rate");
    close(tp / roc.positives, r.tdr, 1e-12, "tp rate");
  }
  // A hand case: 4 reals, 4 synthetic; FDR 25% allows one false detection.
  const hand = rocCurve([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.85, 0.4, 0.6, 0.8, 0.9]);
  assert.deepEqual(tdrAtFdr(hand, 0.25), { fdr: 0.25, tdr: 1, fdrAchieved: 0.25, threshold: 0.4 });
  assert.deepEqual(tdrAtFdr(hand, 0.1), { fdr: 0.1, tdr: 0.25, fdrAchieved: 0, threshold: 0.9 });
  // The staircase is flat between (0, 0.25) and (0.25, 0.25): interpolation adds nothing.
  close(tdrAtFdr(hand, 0.125, "interpolate").tdr, 0.25, 1e-12, "interp flat");
  // A Real/Synthetic tie at 0.7 makes a diagonal from (0, 0.25) to (0.25, 0.5).
  const tied = rocCurve([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.7, 0.9]);
  close(tdrAtFdr(tied, 0.125, "interpolate").tdr, 0.375, 1e-12, "interp diagonal");
  assert.equal(tdrAtFdr(tied, 0.125).tdr, 0.25);
  // A vertical segment at exactly FPR 0.25: its top (tpr 1 after 0.4, 0.6) counts.
  close(tdrAtFdr(tied, 0.25, "interpolate").tdr, 1, 1e-12, "interp vertical");
  assert.throws(() => tdrAtFdr(hand, 1.5), /FDR target 1.5/);
});

Deno.test("score histograms match numpy.histogram on [0, 1] (last bin closed)", () => {
  for (const c of golden.roc_cases) {
    const h = scoreHistogram(c.labels, c.scores, c.histogram.bins);
    assert.deepEqual(h.real, c.histogram.real, `${c.name} real`);
    assert.deepEqual(h.synthetic, c.histogram.synthetic, `${c.name} synthetic`);
    assert.equal(h.edges.length, c.histogram.bins + 1);
  }
  assert.throws(() => scoreHistogram([0], [1.2]), /score 0 is 1.2, outside \[0, 1\]/);
  assert.throws(() => scoreHistogram([0], [0.2], 0), /bins must be a positive integer/);
});

Deno.test("scores from logits: sigmoid (paper test.py), softmax, argmax; flat and rows", () => {
  const g = golden.scores_from_logits;
  closeArray(Array.from(scoresFromLogits(g.logits)), g.sigmoid, 1e-14, "sigmoid");
  closeArray(
    Array.from(scoresFromLogits(g.logits, { method: "softmax" })),
    g.softmax,
    1e-14,
    "softmax",
  );
  const flat = new Float32Array(g.logits.flat());
  const fromFlat = scoresFromLogits(flat);
  fromFlat.forEach((v, i) => close(v, g.sigmoid[i], 1e-6, `flat sigmoid ${i}`));
  assert.deepEqual(Array.from(argmaxLogits(g.logits)), g.argmax);
  assert.deepEqual(Array.from(argmaxLogits(flat)), g.argmax);
  assert.throws(() => scoresFromLogits([1, 2, 3]), /not a multiple of numClasses 2/);
  assert.throws(() => scoresFromLogits([[1, 2], [3]]), /row 1 has 1 logits/);
  assert.throws(() => scoresFromLogits([[1, NaN]]), /row 0 has a non-finite logit/);
  assert.throws(
    () => scoresFromLogits([[1, 2]], { method: "tanh" as "sigmoid" }),
    /method must be/,
  );
});

Deno.test("accuracy and evaluateScores", () => {
  for (const c of golden.roc_cases) {
    close(accuracyFromScores(c.labels, c.scores), c.accuracy_at_0_5, 1e-15, c.name);
    const e = evaluateScores(c.labels, c.scores);
    close(e.auc, c.auc, 1e-12, `${c.name} evaluate auc`);
    assert.equal(e.tdr.length, 4);
    assert.equal(e.n, c.scores.length);
  }
  assert.equal(accuracy([0, 1, 1, 0], [0, 1, 0, 0]), 0.75);
  // Arg-max accuracy differs from sigmoid(logit[1]) >= 0.5 when logit[0] is larger but logit[1] > 0.
  const logits = [[2, 1], [-1, 0.5], [0.3, -0.2], [1, 3]];
  assert.equal(accuracyFromLogits([0, 1, 0, 1], logits), 1);
  assert.equal(accuracyFromScores([0, 1, 0, 1], scoresFromLogits(logits)), 0.75);
  const ev = evaluateLogits([0, 1, 0, 1], logits);
  assert.equal(ev.accuracy, 1);
  assert.equal(ev.auc, rocAuc([0, 1, 0, 1], scoresFromLogits(logits)));
  assert.equal(evaluateLogits([0, 1, 0, 1], logits, { method: "softmax" }).auc, 1);
  // Infinite scores sort correctly.
  assert.equal(rocAuc([0, 1, 0, 1], [-Infinity, Infinity, 0.2, Infinity]), 1);
  assert.throws(() => accuracy([0, 1], [0]), /2 labels but 1 predictions/);
  assert.throws(() => rocCurve([0, 2], [0.1, 0.2]), /label 1 is 2/);
  assert.throws(() => rocCurve([1, 1], [0.1, 0.2]), /need both classes, got 0 Real/);
  assert.throws(() => rocCurve([0, 1], [0.1, NaN]), /score 1 is NaN/);
});

Deno.test("mean ± sd (n - 1), per-epoch series", () => {
  for (const t of golden.two_sample_tests) {
    const a = meanSd(t.a);
    close(a.mean, t.mean_a, 1e-14, `${t.name} mean`);
    close(a.sd, t.sd_a, 1e-12, `${t.name} sd`);
    close(meanSd(t.b).sd, t.sd_b, 1e-12, `${t.name} sd b`);
  }
  assert.equal(formatMeanSd({ mean: 0.81234, sd: 0.0123, n: 3 }), "0.812 ± 0.012");
  assert.equal(formatMeanSd(meanSd([0.5])), "0.500");
  const s = meanSdSeries([[1, 2, 3], [3, 4, 5]]);
  assert.deepEqual(s.mean, [2, 3, 4]);
  s.sd.forEach((v) => close(v, Math.SQRT2, 1e-15, "series sd"));
  assert.throws(() => meanSdSeries([[1, 2], [1]]), /series 1 has length 1/);
});

Deno.test("Student t CDF and normal CDF match scipy", () => {
  for (const c of golden.t_cdf) {
    close(studentTCdf(c.t, c.df), c.cdf, 1e-11, `t=${c.t} df=${c.df}`);
  }
  close(normalCdf(1.959963984540054), 0.975, 1e-14, "normal 97.5%");
  close(normalCdf(-5), 2.866515718791939e-7, 1e-12, "normal tail");
  close(erfc(3), 2.209049699858544e-5, 1e-12, "erfc(3)");
  close(erfc(0.5), 0.4795001221869535, 1e-13, "erfc(0.5)");
});

Deno.test("Welch t-test and Mann-Whitney U match scipy", () => {
  for (const t of golden.two_sample_tests) {
    const w = welchTTest(t.a, t.b);
    close(w.t, t.welch.t, 1e-10, `${t.name} t`);
    close(w.df, t.welch.df, 1e-10, `${t.name} df`);
    close(w.p, t.welch.p, 1e-9, `${t.name} p`);
    const asym = mannWhitneyU(t.a, t.b, "asymptotic");
    assert.equal(asym.u, t.mwu_asymptotic.u, `${t.name} U`);
    close(asym.p, t.mwu_asymptotic.p, 1e-10, `${t.name} MWU asymptotic p`);
    if (t.mwu_exact) {
      const ex = mannWhitneyU(t.a, t.b, "exact");
      assert.equal(ex.u, t.mwu_exact.u);
      close(ex.p, t.mwu_exact.p, 1e-12, `${t.name} MWU exact p`);
    } else {
      assert.throws(() => mannWhitneyU(t.a, t.b, "exact"), /without ties/);
    }
  }
  assert.ok(golden.two_sample_tests.some((t) => t.mwu_exact), "fixture has an exact case");
  assert.equal(mannWhitneyU([1, 2, 3], [4, 5, 6]).method, "exact");
  assert.throws(() => welchTTest([1], [2, 3]), /needs >= 2 values/);
});
