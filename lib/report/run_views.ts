/**
 * Views of collected runs ({@linkcode RunResult}) shaped for the figure builders of
 * `lib/plots/figures.ts`: accuracy curves per strategy, AUC records per generator, pooled unseen-generator
 * scores, ROC series, and average-CAM rows per trained model. The notebooks draw from these.
 *
 * @module
 */
import { type StrategyName } from "../experiment/strategies.ts";
import { type MeanHumanMaps, strategyLabel } from "./experiment.ts";
import { formatMeanSd, meanSd, rocCurve, trapezoidArea } from "../metrics.ts";
import {
  type AucRecord,
  type CamComparisonRow,
  type FigureOptions,
  type HeatmapCell,
  type Map2D,
  PALETTE,
  type RocSeries,
  type RunCurves,
} from "../plots/figures.ts";
import type { Figure, Trace } from "../plots/display.ts";
import type { Table } from "./html.ts";
import { type AucResult, isUnseen, pooledUnseenScores, type RunResult } from "../results.ts";
import { RunDir } from "../run_dir.ts";
export { pooledUnseenScores };

/** Runs of one variant (and optionally some strategies), in the given order of strategies. */
export function selectRuns(
  runs: readonly RunResult[],
  variant: string,
  strategies?: readonly StrategyName[],
): RunResult[] {
  const mine = runs.filter((r) =>
    r.variant === variant && (!strategies || strategies.includes(r.strategy))
  );
  if (!strategies) return mine;
  return mine.sort((a, b) =>
    strategies.indexOf(a.strategy) - strategies.indexOf(b.strategy) || a.seed - b.seed
  );
}

/**
 * Train and validation accuracy per epoch of every run that has logged epochs, labelled by
 * strategy, for `accuracyCurvesFigure`. Runs of a strategy with fewer epochs than its longest
 * run (e.g. still training) are left out so the mean ± sd over seeds is over whole curves.
 */
export function runCurves(runs: readonly RunResult[]): RunCurves[] {
  const longest = new Map<string, number>();
  for (const r of runs) {
    longest.set(r.strategy, Math.max(longest.get(r.strategy) ?? 0, r.epochs.length));
  }
  return runs.filter((r) => r.epochs.length > 0 && r.epochs.length === longest.get(r.strategy))
    .map((r) => ({
      strategy: strategyLabel(r.strategy),
      seed: r.seed,
      train: r.epochs.map((e) => e.train_acc),
      val: r.epochs.map((e) => e.val_acc),
      steps: r.epochs.map((e) => e.steps),
    }));
}

/** AUC results of one variant as figure/table records (strategy labels), unseen generators only by default. */
export function aucRecords(
  aucs: readonly AucResult[],
  variant: string,
  include: (generator: string) => boolean = isUnseen,
): AucRecord[] {
  return aucs.filter((a) => a.variant === variant && include(a.generator)).map((a) => ({
    strategy: strategyLabel(a.strategy),
    generator: a.generator,
    seed: a.seed,
    auc: a.auc,
  }));
}

/** One ROC series per run (pooled unseen generators vs reals), named by strategy and seed. */
export function rocSeries(runs: readonly RunResult[]): RocSeries[] {
  const seeds = new Set(runs.map((r) => r.seed));
  return runs.flatMap((r) => {
    const p = pooledUnseenScores(r);
    if (!p) return [];
    const roc = rocCurve(p.labels, p.scores);
    const name = seeds.size > 1
      ? `${strategyLabel(r.strategy)} s${r.seed}`
      : strategyLabel(r.strategy);
    return [{ name, roc, auc: trapezoidArea(roc.fpr, roc.tpr) }];
  });
}

/**
 * A run's average CAM over the fakes of its scored test sets that pass `include` (default: the
 * unseen generators), as a map; undefined when the run has no mean CAMs for them.
 */
export function runMeanCam(
  run: RunResult,
  include: (testSet: string) => boolean = isUnseen,
): Map2D | undefined {
  const maps: number[][] = [];
  let grid = 0;
  for (const [set, m] of Object.entries(run.meanCams).sort(([a], [b]) => a.localeCompare(b))) {
    if (!include(set) || !m.fake) continue;
    if (grid && m.grid !== grid) {
      throw new Error(
        `${new RunDir(run.dir).meanCams}: test set "${set}" has grid ${m.grid}, not ${grid}`,
      );
    }
    grid = m.grid;
    maps.push(m.fake);
  }
  if (!maps.length) return undefined;
  const data = new Float64Array(grid * grid);
  for (const m of maps) for (let j = 0; j < data.length; j++) data[j] += m[j] / maps.length;
  return { data, height: grid, width: grid };
}

/**
 * One row per trained model, labelled with the short strategy name and seed (`cyborg s0`): its
 * average CAM on unseen-generator fakes next to the mean human map of the training fakes (the
 * paper's Figure 4 layout). Runs without mean
 * CAMs are skipped; a missing or differently sized human map is an error naming the variant.
 */
export function perRunCamRows(
  runs: readonly RunResult[],
  human: MeanHumanMaps | undefined,
  include: (testSet: string) => boolean = isUnseen,
): CamComparisonRow[] {
  const rows: CamComparisonRow[] = [];
  for (const r of runs) {
    const cam = runMeanCam(r, include);
    if (!cam) continue;
    if (!human) throw new Error(`${r.variant}: no mean_human_map.json next to the runs`);
    if (human.grid !== cam.height) {
      throw new Error(
        `${r.variant}: mean human map grid ${human.grid} differs from the CAM grid ${cam.height} of ${r.dir}`,
      );
    }
    rows.push({
      label: `${r.strategy} s${r.seed}`,
      cam,
      human: { data: human.fake, height: human.grid, width: human.grid },
    });
  }
  return rows;
}

/** Training loss per epoch of one run: the total loss and its CE and CAM (MSE) terms. */
export function trainingLossFigure(run: RunResult, options: FigureOptions = {}): Figure {
  if (!run.epochs.length) throw new Error(`trainingLossFigure: ${run.dir} has no logged epochs`);
  const x = run.epochs.map((e) => e.epoch);
  const line = (name: string, y: number[], color: string, dash = "solid"): Trace => ({
    type: "scatter",
    mode: "lines+markers",
    x,
    y,
    name,
    line: { color, dash },
    marker: { size: 5, color },
  });
  return {
    data: [
      line("total loss", run.epochs.map((e) => e.train_loss), PALETTE[0]),
      line("CE term", run.epochs.map((e) => e.train_ce), PALETTE[1], "dash"),
      line("CAM term (MSE to map)", run.epochs.map((e) => e.train_cam), PALETTE[2], "dot"),
    ],
    layout: {
      title: {
        text: options.title ??
          `Training loss per epoch: ${strategyLabel(run.strategy)} s${run.seed}`,
      },
      xaxis: { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "mean loss over the epoch" }, rangemode: "tozero" },
      height: options.height ?? 380,
    },
  };
}

/**
 * One row per strategy: last-epoch train accuracy, best validation accuracy, last validation
 * AUC (mean ± sd over finished seeds) and the number of seeds.
 */
export function summaryTable(runs: readonly RunResult[]): Table {
  const rows: (string | number)[][] = [];
  const strategies = [...new Set(runs.map((r) => r.strategy))];
  for (const s of strategies) {
    const done = runs.filter((r) => r.strategy === s && r.summary).map((r) => r.summary!);
    if (!done.length) continue;
    const fmt = (xs: number[]) => formatMeanSd(meanSd(xs));
    rows.push([
      strategyLabel(s),
      fmt(done.map((d) => d.train_acc)),
      fmt(done.map((d) => d.best_val_acc)),
      fmt(done.map((d) => d.last_val_auc)),
      done.length,
    ]);
  }
  return {
    columns: ["strategy", "train accuracy (last epoch)", "best val accuracy", "val AUC", "seeds"],
    rows,
    caption: "mean ± sample sd over seeds (the mean alone for one seed).",
  };
}

/** A test set name shortened for a small caption: `unseen_dots` → `dots`, `seen_generators` → `seen`. */
export function shortSetName(name: string): string {
  return name === "seen_generators" ? "seen" : name.replace(/^unseen_/, "");
}

/**
 * Mean CAM on the fakes of each scored test set (columns) for each run (rows): where each model
 * looks, per generator. Captions are `<strategy>: <short set name>` (plus ` s<seed>` when the
 * runs have several seeds).
 */
export function camByTestSetGrid(runs: readonly RunResult[]): HeatmapCell[][] {
  const seeds = new Set(runs.map((r) => r.seed));
  return runs.filter((r) => Object.keys(r.meanCams).length).map((r) =>
    Object.entries(r.meanCams).sort(([a], [b]) => a.localeCompare(b)).flatMap(([set, m]) =>
      m.fake
        ? [{
          title: `${r.strategy}${seeds.size > 1 ? ` s${r.seed}` : ""}: ${shortSetName(set)}`,
          map: { data: m.fake, height: m.grid, width: m.grid },
        }]
        : []
    )
  ).filter((row) => row.length);
}

/** Pearson correlation of two equally sized maps (NaN when either is constant). */
export function mapCorrelation(a: Map2D, b: Map2D): number {
  if (a.data.length !== b.data.length) {
    throw new Error(`mapCorrelation: ${a.data.length} vs ${b.data.length} values`);
  }
  const n = a.data.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a.data[i] / n;
    mb += b.data[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a.data[i] - ma;
    const db = b.data[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/**
 * Per run: the correlation of its mean CAM on unseen-generator fakes with the mean human map of
 * the training fakes (how human-like the model's attention is), mean ± sd over seeds per strategy.
 */
export function camHumanAgreementTable(
  runs: readonly RunResult[],
  human: MeanHumanMaps | undefined,
): Table {
  const by = new Map<string, number[]>();
  for (const r of runs) {
    const [row] = perRunCamRows([r], human);
    if (!row) continue;
    const key = strategyLabel(r.strategy);
    by.set(key, [...(by.get(key) ?? []), mapCorrelation(row.cam, row.human)]);
  }
  return {
    columns: ["strategy", "corr(mean CAM, mean human map)", "seeds"],
    rows: [...by].map(([s, v]) => [s, formatMeanSd(meanSd(v)), v.length]),
    caption: "Pearson correlation over the CAM grid, unseen-generator fakes; mean ± sd over seeds.",
  };
}
