/**
 * Plotly figure builders for the experiment's results. Every builder returns a plain
 * JSON-serialisable `{data, layout}` spec ({@linkcode Figure}); show it in a notebook with
 * `display` (`lib/plots/display.ts`), or put it into a report with `lib/report/html.ts`.
 *
 * - {@linkcode accuracyCurvesFigure}: train/val accuracy per epoch, mean ± 1 sd band over seeds.
 * - {@linkcode rocFigure}: ROC curves (optionally log-scaled FDR axis with the TDR@FDR targets).
 * - {@linkcode scoreHistogramFigure}: per-class "Synthetic" score histograms.
 * - {@linkcode aucByGeneratorFigure}: AUC per unseen generator and strategy (bar ± sd or box).
 * - {@linkcode heatmapGridFigure} / {@linkcode camComparisonFigure}: CAM and human-map grids.
 * - `imageGridFigure` / `imageGridHtml` (from `lib/plots/images.ts`): image grids.
 *
 * @module
 */
import { DEFAULT_FDR_TARGETS, meanSd, meanSdSeries, type ScoreHistogram } from "../metrics.ts";
import type { Figure, Trace } from "./display.ts";

/** Colours assigned to strategies in order of first appearance (Plotly's D3 palette). */
export const PALETTE: readonly string[] = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** `#rrggbb` → `rgba(r,g,b,alpha)`. */
export function rgba(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`rgba: "${hex}" is not a #rrggbb colour`);
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
}

function colorFor(names: string[], name: string, colors?: Record<string, string>): string {
  return colors?.[name] ?? PALETTE[names.indexOf(name) % PALETTE.length];
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** One training run's accuracy per epoch. */
export interface RunCurves {
  /** Strategy name (e.g. "CE", "CYBORG α=0.5"). */
  strategy: string;
  /** Seed (used in error messages). */
  seed: number | string;
  /** Train accuracy per epoch (epoch 1 first). */
  train: readonly number[];
  /** Validation accuracy per epoch. */
  val: readonly number[];
  /**
   * Training steps done at the end of each epoch. When every run has them, the x axis is training
   * steps, so runs whose epochs differ in size (the 7× data runs) line up by compute.
   */
  steps?: readonly number[];
}

/**
 * A y range that fits the curves: the data's span plus 10 % of it on each side (at least 0.02
 * wide), clipped to [0, 1.005] — curves near 0.99 are not drawn flat against a 0–1 axis.
 */
export function accuracyRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1.005];
  const pad = Math.max(0.1 * (hi - lo), 0.01);
  return [Math.max(0, lo - pad), Math.min(1.005, hi + pad)];
}

/** Options shared by the builders. */
export interface FigureOptions {
  /** Figure title. */
  title?: string;
  /** Fixed colour per strategy/curve name (else {@linkcode PALETTE} in order of appearance). */
  colors?: Record<string, string>;
  /** Figure height in pixels. */
  height?: number;
}

/**
 * Accuracy curves per strategy: the mean over seeds per epoch (val solid, train dashed) with a
 * shaded mean ± 1 sample sd band (no band for a single seed). All runs of one strategy must have
 * the same number of epochs.
 */
export function accuracyCurvesFigure(
  runs: readonly RunCurves[],
  options: FigureOptions = {},
): Figure {
  if (runs.length === 0) throw new Error("accuracyCurvesFigure: no runs");
  const strategies = unique(runs.map((r) => r.strategy));
  const bySteps = runs.every((r) => r.steps && r.steps.length === r.val.length);
  const data: Trace[] = [];
  let yLo = Infinity;
  let yHi = -Infinity;
  for (const strategy of strategies) {
    const group = runs.filter((r) => r.strategy === strategy);
    const color = colorFor(strategies, strategy, options.colors);
    for (const split of ["val", "train"] as const) {
      const len = group[0][split].length;
      for (const r of group) {
        if (r[split].length !== len) {
          throw new Error(
            `accuracyCurvesFigure: strategy "${strategy}" seed ${r.seed} has ${
              r[split].length
            } ${split} epochs, seed ${group[0].seed} has ${len}`,
          );
        }
      }
      if (len === 0) continue;
      const { mean, sd } = meanSdSeries(group.map((r) => r[split]));
      const epochs = bySteps
        ? meanSdSeries(group.map((r) => r.steps as readonly number[])).mean
        : mean.map((_, i) => i + 1);
      for (let i = 0; i < mean.length; i++) {
        const spread = Number.isFinite(sd[i]) ? sd[i] : 0; // one seed: no sd
        yLo = Math.min(yLo, mean[i] - spread);
        yHi = Math.max(yHi, mean[i] + spread);
      }
      const name = `${strategy} ${split}`;
      if (group.length > 1) {
        const upper = mean.map((m, i) => m + sd[i]);
        const lower = mean.map((m, i) => m - sd[i]);
        data.push({
          type: "scatter",
          x: [...epochs, ...epochs.slice().reverse()],
          y: [...upper, ...lower.reverse()],
          fill: "toself",
          fillcolor: rgba(color, split === "val" ? 0.2 : 0.1),
          line: { width: 0 },
          hoverinfo: "skip",
          showlegend: false,
          legendgroup: name,
          name: `${name} ± 1 sd`,
        });
      }
      data.push({
        type: "scatter",
        mode: "lines+markers",
        x: epochs,
        y: mean,
        name: `${name} (n=${group.length})`,
        legendgroup: name,
        line: { color, dash: split === "train" ? "dash" : "solid" },
        marker: { size: 4, color },
        customdata: sd,
        hovertemplate: `${name}<br>${
          bySteps ? "step" : "epoch"
        } %{x}<br>%{y:.4f} ± %{customdata:.4f}<extra></extra>`,
      });
    }
  }
  return {
    data,
    layout: {
      title: { text: options.title ?? "Accuracy per epoch (mean ± 1 sd over seeds)" },
      xaxis: bySteps
        ? { title: { text: "training steps" } }
        : { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "accuracy" }, range: accuracyRange(yLo, yHi) },
      height: options.height ?? 450,
      legend: { orientation: "v" },
    },
  };
}

/** One ROC curve to draw. */
export interface RocSeries {
  /** Legend name. */
  name: string;
  /** FPR (FDR) and TPR (TDR) arrays, e.g. from `rocCurve`. */
  roc: { fpr: readonly number[]; tpr: readonly number[] };
  /** AUC shown in the legend, when given. */
  auc?: number;
}

/** Options of {@linkcode rocFigure}. */
export interface RocFigureOptions extends FigureOptions {
  /** Log-scaled FDR axis from 1e-4 with dotted lines at `fdrTargets` (default false). */
  logFdr?: boolean;
  /** Targets marked on a log axis (default 0.1%, 0.2%, 1%, 5%). */
  fdrTargets?: readonly number[];
}

/** Left end of the log FDR axis (10^-4 = 0.01 %). */
const LOG_FDR_MIN = -4;

/** ROC curves (TDR vs FDR) with the chance line (TDR = FDR). */
export function rocFigure(curves: readonly RocSeries[], options: RocFigureOptions = {}): Figure {
  if (curves.length === 0) throw new Error("rocFigure: no curves");
  const names = unique(curves.map((c) => c.name));
  const data: Trace[] = curves.map((c, i) => {
    if (c.roc.fpr.length !== c.roc.tpr.length || c.roc.fpr.length < 2) {
      throw new Error(`rocFigure: curve ${i} ("${c.name}") has mismatched or too few points`);
    }
    return {
      type: "scatter",
      mode: "lines",
      x: Array.from(c.roc.fpr),
      y: Array.from(c.roc.tpr),
      name: c.auc === undefined ? c.name : `${c.name} (AUC ${c.auc.toFixed(4)})`,
      line: { color: colorFor(names, c.name, options.colors), width: 2, shape: "linear" },
      hovertemplate: "FDR %{x:.4f}<br>TDR %{y:.4f}<extra>" + c.name + "</extra>",
    };
  });
  // Chance is TDR = FDR. On a log FDR axis that is a curve, so it is sampled densely.
  const chance = options.logFdr
    ? Array.from({ length: 81 }, (_, i) => 10 ** (LOG_FDR_MIN + (-LOG_FDR_MIN * i) / 80))
    : [0, 1];
  data.push({
    type: "scatter",
    mode: "lines",
    x: chance,
    y: chance,
    name: "chance (TDR = FDR)",
    line: { color: "#999", dash: "dot", width: 1 },
    hoverinfo: "skip",
  });
  const targets = options.fdrTargets ?? DEFAULT_FDR_TARGETS;
  return {
    data,
    layout: {
      title: { text: options.title ?? "ROC" },
      xaxis: options.logFdr
        ? {
          title: { text: "FDR (false detection rate, reals), log scale" },
          type: "log",
          range: [LOG_FDR_MIN, 0],
          tickvals: [1e-4, 1e-3, 1e-2, 1e-1, 1],
          ticktext: ["0.01%", "0.1%", "1%", "10%", "100%"],
        }
        : { title: { text: "FDR (false detection rate, reals)" }, range: [0, 1] },
      yaxis: { title: { text: "TDR (true detection rate, synthetic)" }, range: [0, 1.02] },
      shapes: options.logFdr
        ? targets.map((t) => ({
          type: "line",
          xref: "x",
          yref: "paper",
          x0: t,
          x1: t,
          y0: 0,
          y1: 1,
          line: { color: "#bbb", width: 1, dash: "dot" },
        }))
        : [],
      // Each dotted line is an FDR at which the report gives the TDR (TDR@FDR).
      annotations: options.logFdr
        ? targets.map((t) => ({
          x: Math.log10(t),
          xref: "x",
          y: 1,
          yref: "paper",
          yanchor: "bottom",
          text: `TDR@${+(t * 100).toPrecision(3)}%`,
          showarrow: false,
          font: { size: 10, color: "#777" },
          textangle: -45,
        }))
        : [],
      height: options.height ?? 500,
    },
  };
}

/** Options of {@linkcode scoreHistogramFigure}. */
export interface HistogramFigureOptions extends FigureOptions {
  /** Plot fractions of each class instead of counts (default false). */
  normalize?: boolean;
}

/** Overlaid per-class histograms of "Synthetic" scores (Real vs Synthetic). */
export function scoreHistogramFigure(
  hist: ScoreHistogram,
  options: HistogramFigureOptions = {},
): Figure {
  const bins = hist.real.length;
  if (hist.edges.length !== bins + 1 || hist.synthetic.length !== bins) {
    throw new Error("scoreHistogramFigure: edges/real/synthetic lengths disagree");
  }
  const centers = hist.real.map((_, i) => (hist.edges[i] + hist.edges[i + 1]) / 2);
  const widths = hist.real.map((_, i) => hist.edges[i + 1] - hist.edges[i]);
  const scale = (counts: number[]) => {
    const total = counts.reduce((a, b) => a + b, 0);
    return options.normalize ? counts.map((c) => (total ? c / total : 0)) : counts;
  };
  const bar = (name: string, counts: number[], color: string): Trace => ({
    type: "bar",
    x: centers,
    y: scale(counts),
    width: widths,
    name: `${name} (n=${counts.reduce((a, b) => a + b, 0)})`,
    marker: { color, line: { width: 0 } },
    opacity: 0.6,
  });
  return {
    data: [
      bar("Real", hist.real, options.colors?.Real ?? "#1f77b4"),
      bar("Synthetic", hist.synthetic, options.colors?.Synthetic ?? "#d62728"),
    ],
    layout: {
      title: { text: options.title ?? "Score histogram (score = P(Synthetic))" },
      barmode: "overlay",
      bargap: 0,
      xaxis: { title: { text: "score" }, range: [0, 1] },
      yaxis: { title: { text: options.normalize ? "fraction of class" : "count" } },
      height: options.height ?? 400,
    },
  };
}

/** One AUC measurement: a strategy, a test generator, a seed. */
export interface AucRecord {
  /** Training strategy. */
  strategy: string;
  /** Unseen generator (test set) name. */
  generator: string;
  /** Seed of the run. */
  seed?: number | string;
  /** ROC AUC. */
  auc: number;
}

/** Options of {@linkcode aucByGeneratorFigure}. */
export interface AucFigureOptions extends FigureOptions {
  /** `bar`: mean with ± 1 sd error bars (default); `box`: box plot with every seed's point. */
  kind?: "bar" | "box";
}

/** AUC per unseen generator (x) and strategy (colour), over seeds. */
export function aucByGeneratorFigure(
  records: readonly AucRecord[],
  options: AucFigureOptions = {},
): Figure {
  if (records.length === 0) throw new Error("aucByGeneratorFigure: no records");
  records.forEach((r, i) => {
    if (!Number.isFinite(r.auc)) throw new Error(`aucByGeneratorFigure: record ${i} AUC ${r.auc}`);
  });
  const kind = options.kind ?? "bar";
  if (kind !== "bar" && kind !== "box") {
    throw new Error(`aucByGeneratorFigure: kind must be "bar" or "box", got "${kind}"`);
  }
  const strategies = unique(records.map((r) => r.strategy));
  const generators = unique(records.map((r) => r.generator));
  const data: Trace[] = strategies.map((s) => {
    const color = colorFor(strategies, s, options.colors);
    const mine = records.filter((r) => r.strategy === s);
    if (kind === "box") {
      return {
        type: "box",
        name: s,
        x: mine.map((r) => r.generator),
        y: mine.map((r) => r.auc),
        text: mine.map((r) => (r.seed === undefined ? "" : `seed ${r.seed}`)),
        boxpoints: "all",
        jitter: 0.3,
        pointpos: 0,
        marker: { color },
        line: { color },
      };
    }
    const stats = generators.map((g) => {
      const v = mine.filter((r) => r.generator === g).map((r) => r.auc);
      return v.length ? meanSd(v) : undefined;
    });
    return {
      type: "bar",
      name: s,
      x: generators,
      y: stats.map((m) => m?.mean ?? null),
      error_y: {
        type: "data",
        array: stats.map((m) => (m && Number.isFinite(m.sd) ? m.sd : 0)),
        visible: true,
      },
      customdata: stats.map((m) => m?.n ?? 0),
      hovertemplate:
        `${s}<br>%{x}: %{y:.4f} ± %{error_y.array:.4f} (n=%{customdata})<extra></extra>`,
      marker: { color },
    };
  });
  return {
    data,
    layout: {
      title: {
        text: options.title ??
          (kind === "bar"
            ? "AUC per unseen generator (mean ± 1 sd over seeds)"
            : "AUC per unseen generator"),
      },
      barmode: "group",
      boxmode: "group",
      xaxis: { title: { text: "generator" } },
      yaxis: { title: { text: "AUC" }, range: [0, 1.02] },
      height: options.height ?? 450,
    },
  };
}

/** A 2-D map (CAM, human saliency), row-major, top row first. */
export interface Map2D {
  /** `height × width` values. */
  data: ArrayLike<number>;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** Element-wise mean of equally sized maps (e.g. the average CAM over a test set). */
export function meanMap(maps: readonly Map2D[]): Map2D {
  if (maps.length === 0) throw new Error("meanMap: no maps");
  const { height, width } = maps[0];
  const out = new Float64Array(height * width);
  maps.forEach((m, i) => {
    if (m.height !== height || m.width !== width || m.data.length !== height * width) {
      throw new Error(
        `meanMap: map ${i} is ${m.height}×${m.width} (${m.data.length} values), map 0 is ${height}×${width}`,
      );
    }
    for (let j = 0; j < out.length; j++) out[j] += m.data[j];
  });
  for (let j = 0; j < out.length; j++) out[j] /= maps.length;
  return { data: out, height, width };
}

function rowsOfMap(m: Map2D, where: string): number[][] {
  if (m.data.length !== m.height * m.width) {
    throw new Error(`${where}: ${m.data.length} values for a ${m.height}×${m.width} map`);
  }
  return Array.from(
    { length: m.height },
    (_, r) => Array.from({ length: m.width }, (_, c) => m.data[r * m.width + c]),
  );
}

/** One cell of a heatmap grid. */
export interface HeatmapCell {
  /** Caption above the map. */
  title: string;
  /** The map. */
  map: Map2D;
}

/** Options of {@linkcode heatmapGridFigure}. */
export interface HeatmapGridOptions extends FigureOptions {
  /** Colour range (default [0, 1]: CAMs and human maps are normalised to [0, 1]). */
  zRange?: [number, number];
  /** Plotly colour scale (default "Jet", as the paper's CAM figures). */
  colorscale?: string;
  /** Pixel size of one square cell (default 200). */
  cellSize?: number;
}

/**
 * A grid of heatmaps (rows × columns of {@linkcode HeatmapCell}; rows may be ragged), square
 * cells, image orientation (row 0 at the top), one shared colour bar.
 */
export function heatmapGridFigure(
  grid: readonly (readonly HeatmapCell[])[],
  options: HeatmapGridOptions = {},
): Figure {
  const rows = grid.length;
  const cols = Math.max(0, ...grid.map((r) => r.length));
  if (rows === 0 || cols === 0) throw new Error("heatmapGridFigure: empty grid");
  const [zmin, zmax] = options.zRange ?? [0, 1];
  // Geometry in pixels, so gaps and captions keep their size whatever the number of rows.
  const cell = options.cellSize ?? 200;
  const caption = 22; // caption band above each cell
  const colGap = 16;
  const rowGap = 10;
  const margin = { l: 20, r: 90, t: options.title ? 60 : 16, b: 16 };
  const plotW = cols * cell + (cols - 1) * colGap;
  const plotH = rows * (caption + cell) + (rows - 1) * rowGap;
  const data: Trace[] = [];
  const layout: Record<string, unknown> = {};
  const annotations: Record<string, unknown>[] = [];
  let axis = 0;
  grid.forEach((row, r) =>
    row.forEach((cell_, c) => {
      axis++;
      const suffix = axis === 1 ? "" : String(axis);
      const x0 = (c * (cell + colGap)) / plotW;
      const x1 = (c * (cell + colGap) + cell) / plotW;
      const top = r * (caption + cell + rowGap); // pixels from the top of the plot area
      const y1 = 1 - (top + caption) / plotH; // the map's top edge, below its caption
      const y0 = 1 - (top + caption + cell) / plotH;
      data.push({
        type: "heatmap",
        z: rowsOfMap(cell_.map, `heatmapGridFigure: cell (${r}, ${c}) "${cell_.title}"`),
        zmin,
        zmax,
        colorscale: options.colorscale ?? "Jet",
        showscale: axis === 1,
        colorbar: axis === 1
          ? { len: Math.min(1, 400 / plotH), y: 1, yanchor: "top", thickness: 12 }
          : undefined,
        xaxis: `x${suffix}`,
        yaxis: `y${suffix}`,
        name: cell_.title,
        hovertemplate: `${cell_.title}<br>(%{y}, %{x}): %{z:.3f}<extra></extra>`,
      });
      layout[`xaxis${suffix}`] = {
        domain: [x0, x1],
        anchor: `y${suffix}`,
        showticklabels: false,
        ticks: "",
        showgrid: false,
        zeroline: false,
      };
      layout[`yaxis${suffix}`] = {
        domain: [y0, y1],
        anchor: `x${suffix}`,
        autorange: "reversed",
        scaleanchor: `x${suffix}`,
        showticklabels: false,
        ticks: "",
        showgrid: false,
        zeroline: false,
      };
      annotations.push({
        text: cell_.title,
        xref: "paper",
        yref: "paper",
        x: (x0 + x1) / 2,
        y: y1,
        xanchor: "center",
        yanchor: "bottom",
        showarrow: false,
        font: { size: 12 },
      });
    })
  );
  return {
    data,
    layout: {
      ...layout,
      title: options.title ? { text: options.title } : undefined,
      annotations,
      height: options.height ?? plotH + margin.t + margin.b,
      width: plotW + margin.l + margin.r,
      margin,
    },
  };
}

/** One row of {@linkcode camComparisonFigure}: a model's average CAM and the mean human map. */
export interface CamComparisonRow {
  /** Row label, e.g. the strategy or "Real" / "Synthetic". */
  label: string;
  /** Average CAM of the model. */
  cam: Map2D;
  /** Mean human saliency map of the same images. */
  human: Map2D;
}

/** Options of {@linkcode camComparisonFigure}. */
export interface CamComparisonOptions extends HeatmapGridOptions {
  /** Cells per row when every row shares one human map (default 4). */
  columns?: number;
}

function sameMap(a: Map2D, b: Map2D): boolean {
  if (a === b) return true;
  if (a.height !== b.height || a.width !== b.width) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/**
 * Average CAMs beside the mean human saliency map. When every row has the same human map (the
 * usual case: one map of the training fakes), it is drawn once, first, and the CAMs follow,
 * `columns` to a row; otherwise each row is a (CAM, human map) pair.
 */
export function camComparisonFigure(
  rows: readonly CamComparisonRow[],
  options: CamComparisonOptions = {},
): Figure {
  if (rows.length === 0) throw new Error("camComparisonFigure: no rows");
  const opts = { title: "Model CAM vs human saliency", ...options };
  if (rows.every((r) => sameMap(r.human, rows[0].human))) {
    const cells: HeatmapCell[] = [
      { title: "mean human map", map: rows[0].human },
      ...rows.map((r) => ({ title: `${r.label}: mean CAM`, map: r.cam })),
    ];
    const columns = Math.max(1, Math.min(options.columns ?? 4, cells.length));
    const grid: HeatmapCell[][] = [];
    for (let i = 0; i < cells.length; i += columns) grid.push(cells.slice(i, i + columns));
    return heatmapGridFigure(grid, opts);
  }
  return heatmapGridFigure(
    rows.map((r) => [
      { title: `${r.label}: mean CAM`, map: r.cam },
      { title: `${r.label}: mean human map`, map: r.human },
    ]),
    opts,
  );
}
