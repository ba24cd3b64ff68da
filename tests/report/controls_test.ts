import assert from "node:assert/strict";
import type { ExperimentCamMetrics } from "../../lib/experiment/cam_metrics.ts";
import type { ControlResult } from "../../lib/experiment/controls.ts";
import {
  camMetricsBlocks,
  camMetricTaps,
  camMseTable,
  controlAucTable,
  controlReport,
  controlSummaryLines,
  regionShareTable,
  relianceTable,
  valAccuracyTable,
} from "../../lib/report/controls.ts";
import type { RunResult } from "../../lib/results.ts";
import type { EpochRecord } from "../../lib/train.ts";

function epoch(e: number, val: number): EpochRecord {
  return {
    type: "epoch",
    epoch: e,
    lr: 0.05,
    train_loss: 1,
    train_ce: 1,
    train_cam: 0,
    train_acc: val,
    val_acc: val,
    val_auc: val,
    seconds: 1,
    steps: 1,
    images_per_s: 1,
  };
}

/** A run whose T1–T3 fakes score `fake` and reals `real` (pairs named by index). */
function run(strategy: "baseline" | "cyborg", seed: number, fake: number, vals: number[]) {
  const set = (kind: string, t: string, score: number, label: number) => ({
    labels: [label, label],
    scores: [score, score / 2],
    paths: [`/x/${t}_${kind}/${t}_${kind}_00000.png`, `/x/${t}_${kind}/${t}_${kind}_00001.png`],
  });
  const scores: RunResult["scores"] = {};
  for (const t of ["t1", "t2", "t3"]) {
    scores[`${t}_fake`] = set("fake", t, fake, 1);
    scores[`${t}_real`] = set("real", t, t === "t1" ? 0.6 : 0.2, 0);
  }
  return {
    variant: "positive",
    strategy,
    seed,
    dir: `/r/positive/${strategy}/s${seed}`,
    epochs: vals.map((v, i) => epoch(i + 1, v)),
    scores,
    meanCams: {},
  } satisfies RunResult;
}

const runs = [
  run("baseline", 0, 0.9, [0.5, 0.7]),
  run("baseline", 1, 0.9, [0.6, 0.8]),
  run("cyborg", 0, 0.9, [0.7, 0.9]),
];

Deno.test("controlAucTable: one column per paired test set, mean ± sd (n) per strategy", () => {
  const t = controlAucTable(runs);
  assert.deepEqual(t.columns.slice(0, 4), ["strategy", "t1", "t2", "t3"]);
  assert.deepEqual(t.rows.map((r) => r[0]), ["baseline", "cyborg"]);
  assert.match(String(t.rows[0][1]), /\(2\)$/);
  assert.match(String(t.rows[1][1]), /\(1\)$/);
});

Deno.test("valAccuracyTable: each run's mean validation accuracy over epochs, then mean and sd over seeds", () => {
  const t = valAccuracyTable(runs, "positive", ["baseline", "cyborg"]);
  // baseline: seeds 0.6 and 0.7 → 0.650, sd 0.071; cyborg: one seed, no sd.
  assert.deepEqual(t.rows, [["baseline", 2, "0.650", "0.071"], ["cyborg", 1, "0.800", "–"]]);
});

Deno.test("relianceTable names the cue by setting; controlSummaryLines prints each hypothesis, reliance and VAL", () => {
  const reliance = {
    metric: "m",
    strategies: [
      {
        strategy: "baseline" as const,
        seeds: [0, 1],
        values: [0.8, 0.9],
        mean: 0.85,
        sd: 0.07,
        n: 2,
      },
    ],
  };
  assert.match(relianceTable(reliance, false).columns[2], /real when the mark is added/);
  assert.match(relianceTable(reliance, true).columns[2], /fake when the seen fingerprint/);
  assert.deepEqual(relianceTable(reliance, false).rows, [["baseline", 2, "0.850", "0.070"]]);
  const c = {
    prereg: "prereg/x.json",
    sha256: "ab",
    bytes: new TextEncoder().encode("{}"),
    title: "T",
    setting: "positive",
    mode: "mark",
    paper: false,
    strategies: ["baseline", "cyborg"],
    dir: "/r",
    variant: { name: "positive", root: "/d" },
    seeds: { prereg: 3, run: 2 },
    claims: { hypotheses: [], calibration: [] },
    reliance,
    runs,
  } satisfies ControlResult;
  const lines = controlSummaryLines(c);
  assert.deepEqual(lines.slice(0, 2), [
    "mark reliance baseline: 0.850 ± 0.070 (n 2)",
    "validation accuracy baseline: 0.650 ± 0.071",
  ]);
  assert.ok(lines[2].startsWith("validation accuracy cyborg: 0.800"));
  assert.equal(lines.length, 3);
  const report = controlReport(c);
  assert.deepEqual(report.sections.map((s) => s.title), [
    "Pre-registration",
    "AUC per paired test set",
    "Hypotheses and checks",
    "Validation accuracy per epoch",
    "Reliance on the mark (reported, not tested)",
  ]);
  const pre = report.sections[0].blocks[0];
  assert.ok(pre.kind === "text" && pre.text.includes("Deviation: 2 of its 3 seeds"));
  const paper = controlReport({ ...c, paper: true, seeds: { prereg: 2, run: 2 } });
  assert.match(paper.sections[3].title, /Figure 3 analog/);
  const paperPre = paper.sections[0].blocks[0];
  assert.ok(paperPre.kind === "text" && !paperPre.text.includes("Deviation"));
});

Deno.test("CAM-metric tables: CAM-MSE with the floor, region shares next to the area share", () => {
  const s = (mean: number, sd: number | null = null) => ({ mean, sd, n: sd === null ? 1 : 2 });
  const m = {
    grid: 8,
    floor: { images: 10, perClass: [5, 5], mse: 0.02, normalisedTemplateMse: 0.04 },
    summary: {
      baseline: {
        runs: 2,
        camMse: s(0.2, 0.01),
        belowFloor: s(0.18, 0.01),
        regions: {
          standard: {
            t1_real: { mark: { share: s(0.5, 0.05), area: s(0.0625) } },
            t2_fake: {
              artifact: { share: s(0.1, 0.02), area: s(0.0186) },
              artifactPixels: { share: s(0.45), area: s(0.0975) },
            },
          },
        },
      },
      cyborg: {
        runs: 1,
        camMse: s(0.05),
        belowFloor: s(0.03),
        regions: { standard: { t2_fake: { artifact: { share: s(0.16), area: s(0.0186) } } } },
      },
    },
  } as unknown as ExperimentCamMetrics;
  const mse = camMseTable(m);
  assert.deepEqual(mse.rows, [
    ["baseline", 2, "0.2000 ± 0.0100", "0.1800 ± 0.0100"],
    ["cyborg", 1, "0.0500", "0.0300"],
  ]);
  assert.match(mse.caption!, /template floor 0\.0200/);
  assert.deepEqual(camMetricTaps(m), ["standard"]);
  const r = regionShareTable(m, "standard");
  assert.deepEqual(r.columns, ["test set", "region", "area share", "baseline", "cyborg"]);
  assert.deepEqual(r.rows, [
    ["t1_real", "mark", "0.0625", "0.500 ± 0.050", "–"],
    ["t2_fake", "artifact", "0.0186", "0.100 ± 0.020", "0.160"],
    ["t2_fake", "artifactPixels", "0.0975", "0.450", "–"],
  ]);
  assert.equal(camMetricsBlocks(m).length, 2);
});
