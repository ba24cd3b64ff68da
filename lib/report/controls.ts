/**
 * Tables, figures and the report of a control (`lib/experiment/controls.ts`): AUC per paired test
 * set, validation accuracy over epochs, reliance on the decoy, and the CAM metrics of its runs
 * (`lib/experiment/cam_metrics.ts`) next to the regions' area shares and the template floor.
 *
 * @module
 */
import type { CamTap } from "../backbones/types.ts";
import type { ExperimentCamMetrics, Spread } from "../experiment/cam_metrics.ts";
import { REGION_KINDS } from "../experiment/cam_metrics.ts";
import type { ControlResult, RelianceFile } from "../experiment/controls.ts";
import { summary, valAccuracies } from "../positive_claims.ts";
import { accuracyCurvesFigure, type AucRecord, type FigureOptions } from "../plots/figures.ts";
import type { Figure } from "../plots/display.ts";
import { aucResults, type RunResult } from "../results.ts";
import { claimsBlocks } from "./experiment.ts";
import { aucTable, type Block, type Report, type Table } from "./html.ts";
import { runCurves } from "./run_views.ts";

/** AUC records of a control's runs, one per run and paired test set (`t1`, `t2`, `t3`). */
export function controlAucRecords(runs: readonly RunResult[]): AucRecord[] {
  return aucResults(runs).map((x) => ({
    strategy: x.strategy,
    generator: x.generator.replace(/_fake$/, ""),
    seed: x.seed,
    auc: x.auc,
  }));
}

/** AUC per paired test set per strategy, mean ± sd over seeds ({@linkcode aucTable}). */
export function controlAucTable(runs: readonly RunResult[]): Table {
  return aucTable(controlAucRecords(runs));
}

const fixed = (v: number | null) => v?.toFixed(3) ?? "–";

/** Mean validation accuracy over epochs per strategy: mean and sd over seeds. */
export function valAccuracyTable(
  runs: readonly RunResult[],
  variant: string,
  strategies: readonly string[],
): Table {
  const rows = strategies.map((strategy) => {
    const s = summary(valAccuracies(runs, variant, strategy));
    return [strategy, s.n, fixed(s.mean), fixed(s.sd)];
  });
  return { columns: ["strategy", "seeds", "mean validation accuracy over epochs", "sd"], rows };
}

/** The reliance table (reported, not tested): mean and sd over seeds per strategy. */
export function relianceTable(reliance: RelianceFile, paper: boolean): Table {
  return {
    columns: [
      "strategy",
      "seeds",
      paper
        ? "mean Δ score of a fake when the seen fingerprint is added"
        : "mean Δ score of a real when the mark is added",
      "sd",
    ],
    rows: reliance.strategies.map((r) => [r.strategy, r.n, fixed(r.mean), fixed(r.sd)]),
  };
}

/**
 * Train (dashed) and validation (solid) accuracy per epoch of a control's runs, mean ± sd over
 * seeds; for the paper-like setting the paper's Figure 3 analog (validation from shifted sources).
 * Undefined when no run has an epoch record.
 */
export function controlCurvesFigure(
  c: Pick<ControlResult, "runs" | "variant">,
  options: FigureOptions = {},
): Figure | undefined {
  const curves = runCurves(c.runs.filter((r) => r.variant === c.variant.name));
  if (!curves.length) return undefined;
  return accuracyCurvesFigure(curves, { title: "Accuracy per epoch (mean ± sd)", ...options });
}

/** The title of a control's accuracy section. */
export function curvesTitle(paper: boolean): string {
  return paper
    ? "Validation accuracy per epoch (the paper's Figure 3 analog; shifted validation)"
    : "Validation accuracy per epoch";
}

/** A control's `report.html`: the pre-registration, AUCs, hypotheses, accuracy, reliance. */
export function controlReport(c: ControlResult): Report {
  const figure = controlCurvesFigure(c);
  return {
    title: c.title,
    subtitle: `${c.dir} — pre-registration ${c.prereg}, SHA-256 ${c.sha256}`,
    sections: [
      {
        title: "Pre-registration",
        blocks: [{
          kind: "text",
          text: `${c.prereg} (SHA-256 ${c.sha256}), fixed before these runs:\n` +
            new TextDecoder().decode(c.bytes) +
            (c.seeds.run < c.seeds.prereg
              ? `\nDeviation: ${c.seeds.run} of its ${c.seeds.prereg} seeds per strategy were ` +
                "run (--seeds); each test's MDE says what they can detect."
              : ""),
        }],
      },
      {
        title: "AUC per paired test set",
        blocks: [{ kind: "table", table: controlAucTable(c.runs) }],
      },
      { title: "Hypotheses and checks", blocks: claimsBlocks(c.claims) },
      {
        title: curvesTitle(c.paper),
        blocks: [
          ...(figure ? [{ kind: "figure" as const, figure }] : []),
          { kind: "table", table: valAccuracyTable(c.runs, c.variant.name, c.strategies) },
        ],
      },
      {
        title: c.paper
          ? "Reliance on the seen fingerprint (reported, not tested)"
          : "Reliance on the mark (reported, not tested)",
        blocks: [{ kind: "table", table: relianceTable(c.reliance, c.paper) }],
      },
    ],
  };
}

/**
 * The lines the command-line tools print after a control: each hypothesis (estimate, CI, Holm p,
 * MDE, verdict), each strategy's reliance and mean validation accuracy.
 */
export function controlSummaryLines(c: ControlResult): string[] {
  const lines = c.claims.hypotheses.map((h) =>
    `${h.id}: ${h.contrast} = ${h.estimate?.toFixed(3)} CI95 [${h.ci95[0]?.toFixed(3)}, ` +
    `${h.ci95[1]?.toFixed(3)}] p_holm ${h.p_holm?.toPrecision(2)} mde ${h.mde?.toFixed(3)}: ` +
    h.verdict
  );
  for (const r of c.reliance.strategies) {
    lines.push(
      `${c.paper ? "fingerprint" : "mark"} reliance ${r.strategy}: ${r.mean?.toFixed(3)} ± ` +
        `${r.sd?.toFixed(3)} (n ${r.n})`,
    );
  }
  for (const strategy of c.strategies) {
    const r = summary(valAccuracies(c.runs, c.variant.name, strategy));
    lines.push(`validation accuracy ${strategy}: ${r.mean?.toFixed(3)} ± ${r.sd?.toFixed(3)}`);
  }
  return lines;
}

const spread = (s: Spread | undefined, d = 3) =>
  !s || s.mean === null
    ? "–"
    : `${s.mean.toFixed(d)}${s.sd === null ? "" : ` ± ${s.sd.toFixed(d)}`}`;

/**
 * The CAM-MSE table of {@linkcode ExperimentCamMetrics}: per strategy the CAM-MSE over the
 * training maps and its distance to the template floor, mean ± sd over seeds.
 */
export function camMseTable(r: ExperimentCamMetrics): Table {
  return {
    columns: ["strategy", "runs", "CAM-MSE", "CAM-MSE − template floor"],
    rows: Object.entries(r.summary).map(([strategy, s]) => [
      strategy,
      s.runs,
      spread(s.camMse, 4),
      spread(s.belowFloor, 4),
    ]),
    caption: `${r.floor.images} training maps, ${r.grid}×${r.grid} grid: template floor ` +
      `${r.floor.mse.toFixed(4)} (the min-max normalised template: ` +
      `${r.floor.normalisedTemplateMse.toFixed(4)}). Only a CAM carrying per-image information ` +
      "can go below the floor.",
  };
}

/**
 * The region-share table of {@linkcode ExperimentCamMetrics} for one CAM tap: per test set and
 * region, the region's area share (what a uniform CAM gives) and each strategy's share of the
 * positive decision CAM in it, mean ± sd over seeds.
 */
export function regionShareTable(r: ExperimentCamMetrics, tap: CamTap): Table {
  const strategies = Object.keys(r.summary);
  const first = r.summary[strategies[0]]?.regions[tap] ?? {};
  const rows: string[][] = [];
  for (const set of Object.keys(first)) {
    for (const kind of REGION_KINDS) {
      const f = first[set][kind];
      if (!f) continue;
      rows.push([
        set,
        kind,
        f.area.mean === null ? "–" : f.area.mean.toFixed(4),
        ...strategies.map((s) => spread(r.summary[s].regions[tap]?.[set]?.[kind]?.share)),
      ]);
    }
  }
  return {
    columns: ["test set", "region", "area share", ...strategies],
    rows,
    caption: `Share of the positive decision CAM (tap ${tap}) inside each region, mean ± sd ` +
      "over seeds; the area share is what a uniform CAM gives. artifact: the fake's artifact " +
      "ellipses; artifactPixels: the pixels its artifacts changed; mark: the decoy's box.",
  };
}

/** The taps {@linkcode regionShareTable} can show for these metrics. */
export function camMetricTaps(r: ExperimentCamMetrics): CamTap[] {
  const first = Object.values(r.summary)[0];
  return first ? Object.keys(first.regions) as CamTap[] : [];
}

/** All CAM-metric tables as report blocks: CAM-MSE, then region shares per tap. */
export function camMetricsBlocks(r: ExperimentCamMetrics): Block[] {
  return [
    { kind: "table", table: camMseTable(r) },
    ...camMetricTaps(r).map((tap) => ({
      kind: "table" as const,
      table: regionShareTable(r, tap),
    })),
  ];
}
