import assert from "node:assert/strict";
import type { StrategyName } from "../../lib/experiment/mod.ts";
import { strategyLabel } from "../../lib/report/experiment.ts";
import { rocAuc } from "../../lib/metrics.ts";
import type { RunResult } from "../../lib/results.ts";
import {
  aucRecords,
  camByTestSetGrid,
  camHumanAgreementTable,
  mapCorrelation,
  perRunCamRows,
  pooledUnseenScores,
  rocSeries,
  runCurves,
  runMeanCam,
  selectRuns,
  summaryTable,
  trainingLossFigure,
} from "../../lib/report/run_views.ts";
import type { EpochRecord, RunSummary } from "../../lib/train.ts";

function epoch(e: number, acc: number): EpochRecord {
  return {
    type: "epoch",
    epoch: e,
    lr: 0.005,
    train_loss: 1 / e,
    train_ce: 0.5 / e,
    train_cam: 0.25 / e,
    train_acc: acc,
    val_acc: acc - 0.1,
    val_auc: acc,
    seconds: 1,
    steps: 2,
    images_per_s: 10,
  };
}

function run(
  strategy: StrategyName,
  seed: number,
  opts: { variant?: string; epochs?: number; acc?: number; cams?: RunResult["meanCams"] } = {},
): RunResult {
  const acc = opts.acc ?? 0.8;
  const n = opts.epochs ?? 2;
  const summary: RunSummary = {
    status: "finished",
    network: "tinycnn",
    alpha: 0.5,
    seed,
    epochs_done: n,
    steps: 4,
    best_epoch: n,
    best_val_acc: acc - 0.1,
    last_val_acc: acc - 0.1,
    last_val_auc: acc,
    train_acc: acc,
    seconds: 2,
    backend: "cpu",
    adapter: "cpu",
  };
  return {
    variant: opts.variant ?? "shortcut",
    strategy,
    seed,
    dir: `/r/${strategy}/s${seed}`,
    summary,
    epochs: Array.from({ length: n }, (_, i) => epoch(i + 1, acc)),
    scores: {
      real_same: { labels: [0, 0], scores: [0.1, 0.6] },
      seen_generators: { labels: [1, 1], scores: [0.9, 0.9] },
      unseen_dots: { labels: [1, 1], scores: [0.7, 0.2] },
      mixed: { labels: [0, 1], scores: [0.5, 0.5] },
    },
    meanCams: opts.cams ?? {
      unseen_dots: { grid: 2, fake: [1, 0, 0, 0], real: [0, 0, 0, 1] },
      unseen_teeth: { grid: 2, fake: [0, 0, 0, 1] },
      seen_generators: { grid: 2, fake: [0, 1, 0, 0] },
    },
  };
}

Deno.test("selectRuns keeps one variant in the given strategy order", () => {
  const runs = [
    run("cyborg", 1),
    run("baseline", 0),
    run("cyborg", 0),
    run("baseline", 0, { variant: "control" }),
  ];
  const got = selectRuns(runs, "shortcut", ["baseline", "cyborg"]);
  assert.deepEqual(got.map((r) => `${r.strategy}${r.seed}`), ["baseline0", "cyborg0", "cyborg1"]);
  assert.equal(selectRuns(runs, "control").length, 1);
});

Deno.test("runCurves labels strategies and drops runs shorter than their strategy's longest", () => {
  const curves = runCurves([
    run("baseline", 0, { epochs: 3 }),
    run("baseline", 1, { epochs: 2 }),
    run("cyborg", 0, { epochs: 0 }),
  ]);
  assert.equal(curves.length, 1);
  assert.equal(curves[0].strategy, strategyLabel("baseline"));
  assert.deepEqual(curves[0].train, [0.8, 0.8, 0.8]);
  assert.deepEqual(curves[0].val.map((v) => Math.round(v * 10) / 10), [0.7, 0.7, 0.7]);
});

Deno.test("pooledUnseenScores pools reals with unseen fakes only; rocSeries agrees with rocAuc", () => {
  const r = run("cyborg", 0);
  const p = pooledUnseenScores(r)!;
  assert.deepEqual(p.labels, [0, 0, 1, 1]);
  assert.deepEqual(p.scores, [0.1, 0.6, 0.7, 0.2]);
  const [s] = rocSeries([r]);
  assert.equal(s.name, strategyLabel("cyborg"));
  assert.ok(Math.abs(s.auc! - rocAuc(p.labels, p.scores)) < 1e-12);
  assert.equal(s.auc, 0.75);
  const two = rocSeries([r, run("cyborg", 1)]);
  assert.deepEqual(two.map((x) => x.name), [
    `${strategyLabel("cyborg")} s0`,
    `${strategyLabel("cyborg")} s1`,
  ]);
  const noReal = { ...r, scores: { unseen_dots: r.scores.unseen_dots } };
  assert.equal(pooledUnseenScores(noReal), undefined);
});

Deno.test("aucRecords: one variant, unseen generators by default, strategy labels", () => {
  const aucs = [
    {
      variant: "shortcut",
      strategy: "cyborg" as const,
      seed: 0,
      generator: "unseen_dots",
      auc: 0.7,
    },
    {
      variant: "shortcut",
      strategy: "cyborg" as const,
      seed: 0,
      generator: "seen_generators",
      auc: 0.9,
    },
    {
      variant: "control",
      strategy: "cyborg" as const,
      seed: 0,
      generator: "unseen_dots",
      auc: 0.6,
    },
  ];
  assert.deepEqual(aucRecords(aucs, "shortcut"), [
    { strategy: strategyLabel("cyborg"), generator: "unseen_dots", seed: 0, auc: 0.7 },
  ]);
  assert.equal(aucRecords(aucs, "shortcut", () => true).length, 2);
});

Deno.test("runMeanCam averages the unseen fakes' CAMs; a grid mismatch is an error naming the file", () => {
  const m = runMeanCam(run("cyborg", 0))!;
  assert.deepEqual(Array.from(m.data), [0.5, 0, 0, 0.5]);
  assert.equal(m.height, 2);
  assert.equal(runMeanCam(run("cyborg", 0, { cams: {} })), undefined);
  const bad = run("cyborg", 0, {
    cams: { unseen_a: { grid: 2, fake: [0, 0, 0, 0] }, unseen_b: { grid: 1, fake: [1] } },
  });
  assert.throws(
    () => runMeanCam(bad),
    /\/r\/cyborg\/s0\/eval\/mean_cams\.json: test set "unseen_b" has grid 1/,
  );
});

Deno.test("perRunCamRows: one row per run; missing or mismatched human maps are errors", () => {
  const human = { grid: 2, real: [0, 0, 0, 0], fake: [1, 0, 0, 1] };
  const rows = perRunCamRows([run("baseline", 0), run("cyborg", 0, { cams: {} })], human);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].label, "baseline s0");
  assert.deepEqual(Array.from(rows[0].human.data), [1, 0, 0, 1]);
  assert.throws(
    () => perRunCamRows([run("baseline", 0)], undefined),
    /shortcut: no mean_human_map\.json/,
  );
  assert.throws(
    () => perRunCamRows([run("baseline", 0)], { grid: 3, real: [], fake: [] }),
    /grid 3 differs from the CAM grid 2/,
  );
});

Deno.test("mapCorrelation: +1, −1, NaN for a constant map, length mismatch throws", () => {
  const a = { data: [0, 1, 2, 3], height: 2, width: 2 };
  assert.ok(Math.abs(mapCorrelation(a, { data: [1, 3, 5, 7], height: 2, width: 2 }) - 1) < 1e-12);
  assert.ok(Math.abs(mapCorrelation(a, { data: [3, 2, 1, 0], height: 2, width: 2 }) + 1) < 1e-12);
  assert.ok(Number.isNaN(mapCorrelation(a, { data: [1, 1, 1, 1], height: 2, width: 2 })));
  assert.throws(() => mapCorrelation(a, { data: [1], height: 1, width: 1 }), /4 vs 1 values/);
});

Deno.test("camHumanAgreementTable: per-strategy mean correlation over seeds", () => {
  const human = { grid: 2, real: [0, 0, 0, 0], fake: [1, 0, 0, 1] };
  // mean CAM [0.5, 0, 0, 0.5] is perfectly correlated with [1, 0, 0, 1].
  const t = camHumanAgreementTable([run("cyborg", 0), run("cyborg", 1)], human);
  assert.deepEqual(t.rows, [[strategyLabel("cyborg"), "1.000 ± 0.000", 2]]);
});

Deno.test("summaryTable and camByTestSetGrid shape; trainingLossFigure draws three terms", () => {
  const t = summaryTable([
    run("baseline", 0, { acc: 0.8 }),
    run("baseline", 1, { acc: 0.6 }),
    run("cyborg", 0),
  ]);
  assert.equal(t.rows.length, 2);
  assert.deepEqual(t.rows[0].slice(0, 2), [strategyLabel("baseline"), "0.700 ± 0.141"]);
  assert.equal(t.rows[0][4], 2);
  const grid = camByTestSetGrid([run("baseline", 0), run("cyborg", 0, { cams: {} })]);
  assert.equal(grid.length, 1);
  assert.deepEqual(grid[0].map((c) => c.title), [
    "baseline: seen",
    "baseline: dots",
    "baseline: teeth",
  ]);
  const two = camByTestSetGrid([run("baseline", 0), run("baseline", 1)]);
  assert.equal(two[1][0].title, "baseline s1: seen");
  const fig = trainingLossFigure(run("cyborg", 0, { epochs: 3 }));
  assert.equal(fig.data.length, 3);
  assert.deepEqual((fig.data[0] as { y: number[] }).y, [1, 0.5, 1 / 3]);
  assert.throws(
    () => trainingLossFigure(run("cyborg", 0, { epochs: 0 })),
    /\/r\/cyborg\/s0 has no logged epochs/,
  );
});
