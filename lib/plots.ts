/**
 * Plotly figure builders for the experiment's results. Every builder returns a plain
 * JSON-serialisable `{data, layout}` spec ({@linkcode Figure}); show it in a notebook with
 * {@linkcode display}, or put it into a report with `lib/report.ts`.
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
import { DEFAULT_FDR_TARGETS, meanSd, meanSdSeries, type ScoreHistogram } from "./metrics.ts";
import type { Figure, Trace } from "./plots/display.ts";

export * from "./plots/display.ts";
export * from "./plots/images.ts";

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
  const data: Trace[] = [];
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
      const epochs = mean.map((_, i) => i + 1);
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
        hovertemplate: `${name}<br>epoch %{x}<br>%{y:.4f} ± %{customdata:.4f}<extra></extra>`,
      });
    }
  }
  return {
    data,
    layout: {
      title: { text: options.title ?? "Accuracy per epoch (mean ± 1 sd over seeds)" },
      xaxis: { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "accuracy" }, range: [0, 1.02] },
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

/** ROC curves (TDR vs FDR) with the chance diagonal. */
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
  const lo = 1e-4;
  data.push({
    type: "scatter",
    mode: "lines",
    x: options.logFdr ? [lo, 1] : [0, 1],
    y: options.logFdr ? [lo, 1] : [0, 1],
    name: "chance",
    line: { color: "#999", dash: "dot", width: 1 },
    hoverinfo: "skip",
  });
  const targets = options.fdrTargets ?? DEFAULT_FDR_TARGETS;
  return {
    data,
    layout: {
      title: { text: options.title ?? "ROC" },
      xaxis: options.logFdr
        ? { title: { text: "FDR (false detection rate, reals)" }, type: "log", range: [-4, 0] }
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
  const gap = 0.06;
  const colW = (1 - gap * (cols - 1)) / cols;
  const rowH = (1 - gap * (rows - 1)) / rows;
  const data: Trace[] = [];
  const layout: Record<string, unknown> = {};
  const annotations: Record<string, unknown>[] = [];
  let axis = 0;
  grid.forEach((row, r) =>
    row.forEach((cell, c) => {
      axis++;
      const suffix = axis === 1 ? "" : String(axis);
      const x0 = c * (colW + gap);
      const y1 = 1 - r * (rowH + gap);
      data.push({
        type: "heatmap",
        z: rowsOfMap(cell.map, `heatmapGridFigure: cell (${r}, ${c}) "${cell.title}"`),
        zmin,
        zmax,
        colorscale: options.colorscale ?? "Jet",
        showscale: axis === 1,
        colorbar: axis === 1 ? { len: 0.9, thickness: 12 } : undefined,
        xaxis: `x${suffix}`,
        yaxis: `y${suffix}`,
        name: cell.title,
        hovertemplate: `${cell.title}<br>(%{y}, %{x}): %{z:.3f}<extra></extra>`,
      });
      layout[`xaxis${suffix}`] = {
        domain: [x0, x0 + colW],
        anchor: `y${suffix}`,
        showticklabels: false,
        ticks: "",
        showgrid: false,
        zeroline: false,
      };
      layout[`yaxis${suffix}`] = {
        domain: [y1 - rowH, y1],
        anchor: `x${suffix}`,
        autorange: "reversed",
        scaleanchor: `x${suffix}`,
        showticklabels: false,
        ticks: "",
        showgrid: false,
        zeroline: false,
      };
      annotations.push({
        text: cell.title,
        xref: "paper",
        yref: "paper",
        x: x0 + colW / 2,
        y: y1,
        xanchor: "center",
        yanchor: "bottom",
        showarrow: false,
        font: { size: 12 },
      });
    })
  );
  const cell = options.cellSize ?? 200;
  return {
    data,
    layout: {
      ...layout,
      title: options.title ? { text: options.title } : undefined,
      annotations,
      height: options.height ?? rows * (cell + 30) + 80,
      width: cols * cell + 160,
      margin: { l: 20, r: 20, t: options.title ? 70 : 40, b: 20 },
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

/** Average CAM next to the mean human saliency map, one row per strategy (or class). */
export function camComparisonFigure(
  rows: readonly CamComparisonRow[],
  options: HeatmapGridOptions = {},
): Figure {
  if (rows.length === 0) throw new Error("camComparisonFigure: no rows");
  return heatmapGridFigure(
    rows.map((r) => [
      { title: `${r.label}: mean CAM`, map: r.cam },
      { title: `${r.label}: mean human map`, map: r.human },
    ]),
    { title: "Model CAM vs human saliency", ...options },
  );
}
