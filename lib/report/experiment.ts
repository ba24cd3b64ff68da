/**
 * Builds the experiment's self-contained `report.html` from an experiment folder alone (no
 * retraining): the AUC table per unseen generator (mean ± sd over seeds), significance tests
 * between strategies, accuracy curves (Figure 3 analog), ROC curves, score histograms, average
 * CAMs next to the mean human map (Figure 4 analog), and the control variant's result — with a
 * plain statement of what the embedded procedural data can and cannot show.
 *
 * @module
 */
import { STRATEGIES, type StrategyName } from "../experiment/strategies.ts";
import {
  evaluateScores,
  formatMeanSd,
  meanSd,
  rocCurve,
  scoreHistogram,
  trapezoidArea,
} from "../metrics.ts";
import {
  accuracyCurvesFigure,
  aucByGeneratorFigure,
  type AucRecord,
  camComparisonFigure,
  type CamComparisonRow,
  type Map2D,
  rocFigure,
  scoreHistogramFigure,
} from "../plots/figures.ts";
import {
  aucSignificanceTable,
  aucTable,
  type Block,
  detectionTable,
  type Report,
  type Section,
} from "./html.ts";
import {
  aucResults,
  isUnseen,
  meanAucPerRun,
  pooledUnseenScores,
  type RunResult,
} from "../results.ts";
import { readJsonIfExists } from "../run_dir.ts";
import type { Claims } from "../claims.ts";
import { experimentClaims } from "../experiment_claims.ts";

export { isUnseen } from "../results.ts";

/** Label of a strategy in figures and tables. */
export function strategyLabel(name: StrategyName): string {
  return STRATEGIES.find((s) => s.name === name)?.label ?? name;
}

/** Mean human maps stored per variant by the reproduce job (`<out>/<variant>/mean_human_map.json`). */
export interface MeanHumanMaps {
  /** Grid side. */
  grid: number;
  /** Mean map over training reals / fakes. */
  real: number[];
  /** See {@linkcode MeanHumanMaps.real}. */
  fake: number[];
}

/** Context shown at the top of the report. */
export interface ReportContext {
  /** Experiment folder. */
  out: string;
  /** Preset name. */
  preset: string;
  /** Backbone. */
  network: string;
  /** Wall time of the reproduce job, if known. */
  wallSeconds?: number;
  /** True when the data is the embedded procedural benchmark. */
  procedural: boolean;
  /** The job's claims (`claims.json`); computed from the runs' AUCs when absent. */
  claims?: Claims;
}

/** Builds the report from collected runs. */
export async function buildExperimentReport(
  runs: readonly RunResult[],
  ctx: ReportContext,
): Promise<Report> {
  const sections: Section[] = [];
  const rank = (v: string) => {
    const i = ["shortcut", "control"].indexOf(v);
    return i < 0 ? 2 : i;
  };
  const variants = [...new Set(runs.map((r) => r.variant))]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const aucs = aucResults(runs);
  const backend = runs.find((r) => r.summary)?.summary;
  sections.push({
    title: "What this is",
    blocks: [
      {
        kind: "text",
        text: `Preset "${ctx.preset}", backbone ${ctx.network}, ${
          new Set(runs.map((r) => r.seed)).size
        } seed(s) per strategy, ${runs.length} runs` +
          (backend ? `, trained on ${backend.backend} (${backend.adapter})` : "") +
          (ctx.wallSeconds ? `, wall time ${(ctx.wallSeconds / 60).toFixed(1)} min` : "") + ".",
      },
      ...(ctx.procedural
        ? [{
          kind: "text" as const,
          text: "The data is the kit's embedded procedural-faces benchmark, NOT the paper's " +
            "face images: synthetic drawings of faces whose 'fakes' carry localized artifacts " +
            "from procedural generators, with simulated human saliency maps and a training-only " +
            "shortcut. It can show whether saliency guidance helps a model ignore a training " +
            "shortcut and look at artifact regions; it cannot show anything about real GAN faces, " +
            "real annotators, or the paper's absolute numbers. The control variant has no " +
            "shortcut: there, guidance is not expected to matter.",
        }]
        : []),
    ],
  });

  for (const variant of variants) {
    const mine = runs.filter((r) => r.variant === variant);
    const recs: AucRecord[] = aucs.filter((a) => a.variant === variant).map((a) => ({
      strategy: strategyLabel(a.strategy),
      generator: a.generator,
      seed: a.seed,
      auc: a.auc,
    }));
    const blocks: Block[] = [];
    if (recs.length) {
      blocks.push({ kind: "table", table: aucTable(recs) });
      blocks.push({
        kind: "figure",
        figure: aucByGeneratorFigure(recs, { title: `AUC per test generator (${variant})` }),
      });
      blocks.push(...significanceBlocks(aucs.filter((a) => a.variant === variant)));
    } else {
      blocks.push({ kind: "text", text: "No scored runs yet." });
    }
    blocks.push({ kind: "table", table: accuracyTable(mine, aucs) });
    const curves = mine.filter((r) => r.epochs.length).map((r) => ({
      strategy: strategyLabel(r.strategy),
      seed: r.seed,
      train: r.epochs.map((e) => e.train_acc),
      val: r.epochs.map((e) => e.val_acc),
      steps: r.epochs.map((e) => e.steps),
    }));
    if (curves.length && sameLengthPerStrategy(curves)) {
      blocks.push({
        kind: "figure",
        figure: accuracyCurvesFigure(curves, {
          title: `Train and validation accuracy (${variant})`,
        }),
        caption: "Mean over seeds, band = ±1 sd (the paper's Figure 3 analog). The x axis is " +
          "training steps, so the 7× data runs (7× larger epochs) line up by compute.",
      });
    }
    blocks.push(...rocAndHistogramBlocks(mine));
    const human = await readJsonIfExists<MeanHumanMaps>(
      `${ctx.out}/${variant}/mean_human_map.json`,
    );
    const camRows = camRowsFor(mine, human);
    if (camRows.length) {
      blocks.push({
        kind: "figure",
        figure: camComparisonFigure(camRows, {
          title: `Average CAM on unseen fakes vs mean human map (${variant})`,
        }),
        caption:
          "The paper's Figure 4 analog: mean normalised CAM of each strategy's models over the " +
          "unseen-generator fakes, next to the mean human saliency map of the training fakes.",
      });
    }
    sections.push({ title: `Results: ${variant}`, blocks });
  }
  const claims = ctx.claims ?? experimentClaims(aucs);
  sections.push({ title: "Pre-stated hypotheses and calibration", blocks: claimsBlocks(claims) });
  sections.push({
    title: "Conclusions from these numbers",
    blocks: [{ kind: "text", text: conclusions(aucs, claims) }],
  });
  return {
    title: "CYBORG reproduction report",
    subtitle: `${ctx.out} — ${new Date().toISOString()}`,
    sections,
  };
}

function sameLengthPerStrategy(curves: { strategy: string; val: readonly number[] }[]): boolean {
  const len = new Map<string, number>();
  for (const c of curves) {
    if (len.has(c.strategy) && len.get(c.strategy) !== c.val.length) return false;
    len.set(c.strategy, c.val.length);
  }
  return true;
}

function significanceBlocks(aucs: ReturnType<typeof aucResults>): Block[] {
  const perRun = meanAucPerRun(aucs, isUnseen);
  const present = new Set(perRun.map((r) => r.strategy));
  const blocks: Block[] = [];
  if (!present.has("baseline")) return blocks;
  const recs: AucRecord[] = aucs.map((a) => ({
    strategy: a.strategy,
    generator: a.generator,
    seed: a.seed,
    auc: a.auc,
  }));
  for (const other of ["cyborg", "segmentation", "data7x"] as const) {
    if (!present.has(other)) continue;
    const a = perRun.filter((r) => r.strategy === other).map((r) => r.auc);
    const b = perRun.filter((r) => r.strategy === "baseline").map((r) => r.auc);
    if (a.length >= 2 && b.length >= 2) {
      blocks.push({ kind: "table", table: aucSignificanceTable(recs, other, "baseline") });
    }
  }
  return blocks;
}

function accuracyTable(runs: readonly RunResult[], aucs: ReturnType<typeof aucResults>) {
  const perRun = meanAucPerRun(aucs, isUnseen);
  const rows: (string | number)[][] = [];
  for (const s of STRATEGIES) {
    const mine = runs.filter((r) => r.strategy === s.name && r.summary);
    if (!mine.length) continue;
    const fmt = (xs: number[]) => xs.length ? formatMeanSd(meanSd(xs)) : "–";
    rows.push([
      s.label,
      fmt(mine.map((r) => r.summary!.train_acc)),
      fmt(mine.map((r) => r.summary!.best_val_acc)),
      fmt(
        perRun.filter((r) => r.strategy === s.name && r.variant === mine[0].variant).map((r) =>
          r.auc
        ),
      ),
      mine.length,
    ]);
  }
  return {
    columns: [
      "strategy",
      "train accuracy (last epoch)",
      "best validation accuracy",
      "mean AUC, unseen generators",
      "seeds",
    ],
    rows,
    caption:
      "mean ± sd over seeds; the paper's pattern is train ≈ 100%, validation good, unseen much worse.",
  };
}

function rocAndHistogramBlocks(runs: readonly RunResult[]): Block[] {
  const seed0 = runs.filter((r) => r.seed === Math.min(...runs.map((x) => x.seed)));
  const series = seed0.flatMap((r) => {
    const p = pooledUnseenScores(r);
    if (!p) return [];
    const roc = rocCurve(p.labels, p.scores);
    return [{ name: strategyLabel(r.strategy), roc, auc: trapezoidArea(roc.fpr, roc.tpr) }];
  });
  const blocks: Block[] = [];
  const detection = runs.flatMap((r) => {
    const p = pooledUnseenScores(r);
    return p
      ? [{
        strategy: strategyLabel(r.strategy),
        seed: r.seed,
        evaluation: evaluateScores(p.labels, p.scores),
      }]
      : [];
  });
  if (detection.length) {
    const table = detectionTable(detection);
    table.caption = "Unseen generators pooled against the real test faces. " + table.caption;
    blocks.push({ kind: "table", table });
  }
  if (series.length) {
    blocks.push({
      kind: "figure",
      figure: rocFigure(series, {
        title: "ROC on unseen generators vs real test faces (first seed)",
      }),
    });
    blocks.push({
      kind: "figure",
      figure: rocFigure(series, { title: "ROC, log FDR axis (first seed)", logFdr: true }),
    });
  }
  for (const r of seed0) {
    const p = pooledUnseenScores(r);
    if (!p) continue;
    blocks.push({
      kind: "figure",
      figure: scoreHistogramFigure(scoreHistogram(p.labels, p.scores, 20), {
        title: `Scores on unseen generators + reals: ${strategyLabel(r.strategy)} (first seed)`,
        normalize: true,
        height: 300,
      }),
    });
  }
  return blocks;
}

function camRowsFor(runs: readonly RunResult[], human?: MeanHumanMaps): CamComparisonRow[] {
  const rows: CamComparisonRow[] = [];
  for (const s of STRATEGIES) {
    const maps: number[][] = [];
    let grid = 0;
    for (const r of runs.filter((x) => x.strategy === s.name)) {
      for (const [set, m] of Object.entries(r.meanCams)) {
        if (isUnseen(set) && m.fake) {
          maps.push(m.fake);
          grid = m.grid;
        }
      }
    }
    if (!maps.length) continue;
    const cam: Map2D = {
      data: maps[0].map((_, j) => maps.reduce((acc, m) => acc + m[j], 0) / maps.length),
      height: grid,
      width: grid,
    };
    const humanMap: Map2D = human && human.grid === grid
      ? { data: human.fake, height: grid, width: grid }
      : { data: new Array(grid * grid).fill(0), height: grid, width: grid };
    rows.push({ label: s.label, cam, human: humanMap });
  }
  return rows;
}

function fmtNum(v: number | null, digits = 3): string {
  if (v === null) return "–";
  return (v > 0 ? "+" : "") + v.toFixed(digits);
}

function fmtP(v: number | null): string {
  return v === null ? "–" : v < 1e-4 ? v.toExponential(1) : v.toPrecision(2);
}

/**
 * The hypotheses and calibration checks of `claims.json` as report tables. `source` is where the
 * hypotheses were stated (default `lib/experiment_claims.ts`, the main comparison's; a control's
 * pre-registration file).
 */
export function claimsBlocks(claims: Claims, source = "lib/experiment_claims.ts"): Block[] {
  const blocks: Block[] = [];
  if (claims.hypotheses.length) {
    blocks.push({
      kind: "table",
      table: {
        columns: [
          "hypothesis",
          "expected",
          "estimate (a − b)",
          "95 % CI (Welch)",
          "p (Holm)",
          "MDE, 80 % power",
          "seeds a / b",
          "verdict",
        ],
        rows: claims.hypotheses.map((h) => [
          h.id,
          `${h.contrast} ${h.expected} ${h.expected === "≈" ? `0 (±${h.margin})` : "0"}`,
          fmtNum(h.estimate),
          h.ci95[0] === null ? "–" : `[${fmtNum(h.ci95[0])}, ${fmtNum(h.ci95[1])}]`,
          `${fmtP(h.p_holm)} (${h.test === "tost" ? "TOST" : "Welch"})`,
          h.mde === null ? "–" : h.mde.toFixed(3),
          `${h.n[0]} / ${h.n[1]}`,
          h.verdict,
        ]),
        caption: `Metric: ${claims.hypotheses[0].metric}. Stated before the runs ` +
          `(${source}). p is Holm-corrected over every row (Welch two-sided ` +
          "for > and <; two one-sided tests of equivalence within the margin for ≈). A true " +
          "effect smaller than the MDE (minimum detectable effect at 80 % power, two-sided " +
          "α = 0.05, from these seeds' sd) is likely to be missed: an inconclusive verdict " +
          "then says the design could not tell, not that the strategies are equal.",
      },
    });
  } else {
    blocks.push({ kind: "text", text: "No hypothesis could be tested (no baseline runs)." });
  }
  if (claims.calibration.length) {
    blocks.push({
      kind: "table",
      table: {
        columns: ["check", "criterion", "value", "passed"],
        rows: claims.calibration.map((c) => [
          c.id,
          c.criterion,
          c.value === null ? "–" : c.value.toFixed(3),
          c.passed ? "yes" : "NO",
        ]),
        caption: "Calibration checks on the baselines: a setting whose checks fail cannot carry " +
          "its hypotheses (e.g. a design MDE above the effect of interest cannot show " +
          "that effect).",
      },
    });
  }
  return blocks;
}

/**
 * Plain-language statements generated from the numbers (no claim without a number): per variant
 * the mean unseen AUC per strategy, then each pre-stated hypothesis with its estimate, 95 % CI,
 * Holm-corrected p, minimum detectable effect and verdict.
 */
export function conclusions(
  aucs: ReturnType<typeof aucResults>,
  claims: Claims = experimentClaims(aucs),
): string {
  const lines: string[] = [];
  for (const variant of [...new Set(aucs.map((a) => a.variant))]) {
    const perRun = meanAucPerRun(aucs.filter((a) => a.variant === variant), isUnseen);
    const by = (s: StrategyName) => perRun.filter((r) => r.strategy === s).map((r) => r.auc);
    const parts: string[] = [];
    for (const s of STRATEGIES) {
      const v = by(s.name);
      if (v.length) parts.push(`${s.label}: ${formatMeanSd(meanSd(v))}`);
    }
    lines.push(
      `${variant} — mean AUC over unseen generators (mean ± sd over seeds): ${parts.join("; ")}.`,
    );
    for (const h of claims.hypotheses.filter((x) => x.setting === variant)) {
      if (h.ci95[0] === null) {
        lines.push(
          `${h.id} (${h.contrast} ${h.expected}): untestable with ${h.n.join(" and ")} ` +
            "seed(s); inconclusive.",
        );
        continue;
      }
      lines.push(
        `${h.id}: ${h.contrast} = ${fmtNum(h.estimate)}, 95 % CI [${fmtNum(h.ci95[0])}, ` +
          `${fmtNum(h.ci95[1])}], Holm p = ${fmtP(h.p_holm)} (${h.test}), MDE ` +
          `${h.mde!.toFixed(3)} at 80 % power with ${Math.min(...h.n)} seeds per arm; expected ` +
          `${h.expected}: ${h.verdict}` +
          (h.verdict === "inconclusive"
            ? ` (effects below ${h.mde!.toFixed(3)} would likely go undetected).`
            : "."),
      );
    }
  }
  const failed = claims.calibration.filter((c) => !c.passed);
  if (failed.length) {
    lines.push(
      `Calibration checks not passed: ${
        failed.map((c) => `${c.id} (${c.value === null ? "not measured" : c.value.toFixed(3)})`)
          .join(", ")
      }.`,
    );
  }
  return lines.join("\n");
}
