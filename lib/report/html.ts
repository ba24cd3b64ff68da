/**
 * One self-contained `report.html`: plotly.js inlined once in the head, figures, tables (e.g.
 * AUC mean ± sd per strategy and generator) and text sections. It loads nothing from the network
 * (check with {@linkcode externalReferences}), so it opens offline and can be mailed as one file.
 *
 * @module
 */
import { welchCi } from "../stats.ts";
import { type BinaryEvaluation, formatMeanSd, meanSd, welchTTest } from "../metrics.ts";
import {
  display,
  displayBundle,
  escapeHtml,
  type Figure,
  figureHtml,
  type MimeBundle,
  plotlyScriptTag,
} from "../plots/display.ts";
import type { AucRecord } from "../plots/figures.ts";

/** A table: header row plus body rows; cells are text (escaped) or numbers. */
export interface Table {
  /** Column headers. */
  columns: string[];
  /** Body rows, each as long as `columns`. */
  rows: (string | number)[][];
  /** Caption under the table. */
  caption?: string;
  /** `[row, column]` cells to emphasise (e.g. the best strategy per generator). */
  bold?: [number, number][];
}

/** A block of a report section. */
export type Block =
  | { kind: "text"; text: string }
  | { kind: "html"; html: string }
  | { kind: "figure"; figure: Figure; caption?: string }
  | { kind: "table"; table: Table };

/** A titled section. */
export interface Section {
  /** Heading. */
  title: string;
  /** Content, in order. */
  blocks: Block[];
}

/** A whole report. */
export interface Report {
  /** Page title and top heading. */
  title: string;
  /** A line under the title (e.g. the run directory, the date). */
  subtitle?: string;
  /** Sections, in order. */
  sections: Section[];
}

/** Table → HTML (numbers shown with 4 decimals unless already strings). */
export function tableHtml(table: Table): string {
  table.rows.forEach((r, i) => {
    if (r.length !== table.columns.length) {
      throw new Error(
        `tableHtml: row ${i} has ${r.length} cells, the header has ${table.columns.length}`,
      );
    }
  });
  const bold = new Set((table.bold ?? []).map(([r, c]) => `${r},${c}`));
  const cell = (v: string | number, r: number, c: number) => {
    const text = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v;
    const inner = escapeHtml(text);
    return `<td>${bold.has(`${r},${c}`) ? `<b>${inner}</b>` : inner}</td>`;
  };
  const head = `<tr>${table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = table.rows.map((r, i) => `<tr>${r.map((v, j) => cell(v, i, j)).join("")}</tr>`);
  const caption = table.caption ? `<caption>${escapeHtml(table.caption)}</caption>` : "";
  return `<table class="cyborg-table">${caption}<thead>${head}</thead><tbody>${
    body.join("")
  }</tbody></table>`;
}

/** A table as a Jupyter MIME bundle: HTML plus tab-separated text. */
export function tableBundle(table: Table): MimeBundle {
  const plain = [table.columns, ...table.rows].map((r) => r.join("\t")).join("\n");
  return { "text/html": tableHtml(table), "text/plain": plain };
}

/** Shows a table in the Deno Jupyter kernel (throws outside Jupyter). */
export async function displayTable(table: Table): Promise<void> {
  await displayBundle(tableBundle(table));
}

/**
 * Shows report blocks in the Deno Jupyter kernel, in order: tables as HTML tables, figures as
 * Plotly figures (with a caption line), text as plain text, HTML as is (throws outside Jupyter).
 */
export async function displayBlocks(blocks: readonly Block[]): Promise<void> {
  for (const b of blocks) {
    if (b.kind === "table") await displayTable(b.table);
    else if (b.kind === "figure") {
      await display(b.figure);
      if (b.caption) await displayBundle({ "text/plain": b.caption });
    } else if (b.kind === "text") await displayBundle({ "text/plain": b.text });
    else await displayBundle({ "text/html": b.html, "text/plain": b.html });
  }
}

/**
 * AUC table: one row per strategy, one column per generator plus "mean of the N generators" (the
 * mean over seeds of each seed's mean AUC over exactly the generators shown), cells "mean ± sd (n)"
 * over seeds. Nothing is emphasised
 * as best: a larger mean over a few seeds is not a shown difference.
 */
export function aucTable(records: readonly AucRecord[], digits = 3): Table {
  if (records.length === 0) throw new Error("aucTable: no records");
  const strategies = [...new Set(records.map((r) => r.strategy))];
  const generators = [...new Set(records.map((r) => r.generator))];
  const rows = strategies.map((s) => {
    const cells = generators.map((g) => {
      const v = records.filter((r) => r.strategy === s && r.generator === g).map((r) => r.auc);
      if (v.length === 0) {
        return "–";
      }
      const ms = meanSd(v);
      return `${formatMeanSd(ms, digits)} (${ms.n})`;
    });
    // Per seed: mean over generators, then mean ± sd over seeds (seeds without every generator
    // are left out).
    const bySeed = new Map<string, number[]>();
    for (const r of records.filter((r) => r.strategy === s)) {
      const key = String(r.seed ?? "");
      bySeed.set(key, [...(bySeed.get(key) ?? []), r.auc]);
    }
    const seedMeans = [...bySeed.values()].filter((v) => v.length === generators.length)
      .map((v) => v.reduce((a, b) => a + b, 0) / v.length);
    if (seedMeans.length) {
      const ms = meanSd(seedMeans);
      cells.push(`${formatMeanSd(ms, digits)} (${ms.n})`);
    } else {
      cells.push("–");
    }
    return [s, ...cells];
  });
  return {
    columns: ["strategy", ...generators, `mean of the ${generators.length} generators`],
    rows,
    caption: "AUC, mean ± sample sd over seeds (number of seeds). No strategy is marked best: " +
      "differences between strategies are tested, with confidence intervals, in the claims table.",
  };
}

/** One model's detection metrics on one pooled test set ({@linkcode detectionTable}). */
export interface DetectionRecord {
  /** Row label. */
  strategy: string;
  /** Seed (rows average over seeds). */
  seed?: number | string;
  /** From `evaluateScores`. */
  evaluation: BinaryEvaluation;
}

/**
 * The metrics detection benchmarks report, per strategy, mean ± sd over seeds (number of seeds):
 * AUC, AP, EER, accuracy at 0.5, and TDR at each FDR target (step rule).
 */
export function detectionTable(records: readonly DetectionRecord[], digits = 3): Table {
  if (records.length === 0) throw new Error("detectionTable: no records");
  const targets = records[0].evaluation.tdr.map((t) => t.fdr);
  const metrics: [string, (e: BinaryEvaluation) => number][] = [
    ["AUC", (e) => e.auc],
    ["AP", (e) => e.ap],
    ["EER", (e) => e.eer],
    ["accuracy", (e) => e.accuracy],
    ...targets.map((t, i): [string, (e: BinaryEvaluation) => number] => [
      `TDR@${+(t * 100).toPrecision(3)}%`,
      (e) => e.tdr[i].tdr,
    ]),
  ];
  const strategies = [...new Set(records.map((r) => r.strategy))];
  return {
    columns: ["strategy", ...metrics.map(([name]) => name)],
    rows: strategies.map((s) => {
      const mine = records.filter((r) => r.strategy === s).map((r) => r.evaluation);
      return [
        s,
        ...metrics.map(([, f]) => {
          const ms = meanSd(mine.map(f));
          return `${formatMeanSd(ms, digits)} (${ms.n})`;
        }),
      ];
    }),
    caption: "Mean ± sample sd over seeds (number of seeds). EER: where the false detection rate " +
      "equals the miss rate. TDR@x%: detection rate on synthetic faces at a false detection rate " +
      "of at most x % on real faces.",
  };
}

/**
 * Welch t-tests of per-seed AUC between two strategies, per generator: mean difference, t, df,
 * two-sided p. Generators where either side has fewer than 2 seeds are listed with "–".
 */
export function aucSignificanceTable(
  records: readonly AucRecord[],
  strategyA: string,
  strategyB: string,
): Table {
  const generators = [...new Set(records.map((r) => r.generator))];
  const pick = (s: string, g: string) =>
    records.filter((r) => r.strategy === s && r.generator === g).map((r) => r.auc);
  for (const s of [strategyA, strategyB]) {
    if (!records.some((r) => r.strategy === s)) {
      throw new Error(`aucSignificanceTable: no records for strategy "${s}"`);
    }
  }
  const rows = generators.map((g) => {
    const a = pick(strategyA, g);
    const b = pick(strategyB, g);
    if (a.length < 2 || b.length < 2) return [g, "–", "–", "–", "–", "–"];
    const w = welchTTest(a, b);
    const ci = welchCi(a, b).ci;
    return [
      g,
      w.meanDiff.toFixed(4),
      `[${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]`,
      w.t.toFixed(3),
      w.df.toFixed(2),
      w.p.toPrecision(3),
    ];
  });
  return {
    columns: [
      "generator",
      `Δ mean AUC (${strategyA} − ${strategyB})`,
      "95 % CI (Welch)",
      "t",
      "df",
      "p (Welch)",
    ],
    rows,
    caption: `Welch's t-test on per-seed AUCs, ${strategyA} vs ${strategyB} (two-sided), per ` +
      "generator: exploratory, not corrected for the number of generators.",
  };
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
  max-width: 1200px; padding: 0 16px; color: #222; }
h1 { margin-bottom: 4px; } .subtitle { color: #666; margin-top: 0; }
section { margin-top: 32px; } figure { margin: 16px 0; } figcaption { color: #555; font-size: 14px; }
table.cyborg-table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
table.cyborg-table th, table.cyborg-table td { border: 1px solid #ccc; padding: 4px 8px;
  text-align: right; }
table.cyborg-table th:first-child, table.cyborg-table td:first-child { text-align: left; }
table.cyborg-table caption { caption-side: bottom; color: #555; font-size: 13px; padding-top: 4px; }
p { line-height: 1.5; }
`;

/** Builds the report's HTML (plotly.js inlined once in `<head>`). */
export async function buildReportHtml(report: Report): Promise<string> {
  const parts: string[] = [];
  let figureIndex = 0;
  for (const section of report.sections) {
    const blocks: string[] = [];
    for (const block of section.blocks) {
      switch (block.kind) {
        case "text":
          blocks.push(
            block.text.split(/\n\s*\n/).map((p) => `<p>${escapeHtml(p.trim())}</p>`).join("\n"),
          );
          break;
        case "html":
          blocks.push(block.html);
          break;
        case "figure": {
          const html = await figureHtml(block.figure, { id: `figure-${++figureIndex}` });
          const caption = block.caption
            ? `<figcaption>${escapeHtml(block.caption)}</figcaption>`
            : "";
          blocks.push(`<figure>${html}${caption}</figure>`);
          break;
        }
        case "table":
          blocks.push(tableHtml(block.table));
          break;
        default:
          throw new Error(
            `buildReportHtml: section "${section.title}" has a block of unknown kind "${
              (block as { kind: string }).kind
            }"`,
          );
      }
    }
    parts.push(`<section><h2>${escapeHtml(section.title)}</h2>\n${blocks.join("\n")}</section>`);
  }
  const subtitle = report.subtitle ? `<p class="subtitle">${escapeHtml(report.subtitle)}</p>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
${await plotlyScriptTag()}
</head>
<body>
<h1>${escapeHtml(report.title)}</h1>
${subtitle}
${parts.join("\n")}
</body>
</html>
`;
}

/** Writes the report atomically (temporary file in the same directory, then rename). */
export async function writeReport(path: string, report: Report): Promise<void> {
  const html = await buildReportHtml(report);
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const tmp = await Deno.makeTempFile({ dir, prefix: ".report-", suffix: ".html.tmp" });
  try {
    await Deno.writeTextFile(tmp, html);
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${path}: cannot write report (${(e as Error).message})`);
  }
}

/**
 * Network references in an HTML page outside inline script bodies: `src`/`href`/`action`/
 * `poster`/`data` attributes and CSS `url(...)`/`@import` pointing at http(s) or protocol-relative
 * URLs, and `<script src>` / `<link href>` of any kind. Empty for a self-contained page.
 * (plotly.js's inline source holds link strings such as href="https://plotly.com/" that are
 * never loaded; script bodies are skipped for that reason, except for Plotly layout image
 * `"source"` URLs in figure specs.)
 */
export function externalReferences(html: string): string[] {
  const outsideScripts = html.replace(
    /(<script\b[^>]*>)[\s\S]*?(<\/script\s*>)/gi,
    (_m, open: string, close: string) => open + close,
  );
  const found: string[] = [];
  const attr = /\b(src|href|action|poster|data|srcset)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/gi;
  for (const m of outsideScripts.matchAll(attr)) {
    const value = (m[3] ?? m[4] ?? m[5] ?? "").trim();
    if (/^(https?:)?\/\//i.test(value)) found.push(`${m[1]}=${value}`);
  }
  for (const m of outsideScripts.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']?([^"'\s>]+)/gi)) {
    if (!found.some((f) => f.endsWith(m[1]))) found.push(`script src=${m[1]}`);
  }
  for (const m of outsideScripts.matchAll(/<link\b[^>]*\bhref\s*=\s*["']?([^"'\s>]+)/gi)) {
    if (!found.some((f) => f.endsWith(m[1]))) found.push(`link href=${m[1]}`);
  }
  for (const m of outsideScripts.matchAll(/url\(\s*["']?((https?:)?\/\/[^"')]+)/gi)) {
    found.push(`url(${m[1]})`);
  }
  // Plotly layout images embedded in figure specs (inside scripts) load their `source`.
  for (const m of html.matchAll(/"source"\s*:\s*"((https?:)?\/\/[^"]+)"/gi)) {
    found.push(`layout image source=${m[1]}`);
  }
  for (const m of outsideScripts.matchAll(/@import\s+["']((https?:)?\/\/[^"']+)/gi)) {
    found.push(`@import ${m[1]}`);
  }
  return found;
}
