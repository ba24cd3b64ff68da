import assert from "node:assert/strict";
import { welchCi } from "../../lib/stats.ts";
import sharp from "sharp";
import { evaluateScores, rocCurve, scoreHistogram } from "../../lib/metrics.ts";
import {
  accuracyCurvesFigure,
  aucByGeneratorFigure,
  type AucRecord,
  camComparisonFigure,
  type Figure,
  figureHtml,
  imageGridFigure,
  imageGridHtml,
  plotlyScriptTag,
  rawImageDataUrl,
  rocFigure,
  scoreHistogramFigure,
} from "../../lib/plots/mod.ts";
import {
  aucSignificanceTable,
  aucTable,
  buildReportHtml,
  detectionTable,
  externalReferences,
  type Report,
  tableBundle,
  tableHtml,
  writeReport,
} from "../../lib/report/html.ts";
import { Rng } from "../../lib/rng.ts";
import { chromium, count } from "../_support/chromium.ts";

async function artifactsDir(): Promise<string> {
  const dir = Deno.env.get("CYBORG_TEST_ARTIFACTS");
  if (!dir) return await Deno.makeTempDir({ prefix: "cyborg-report-test-" });
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

function aucRecords(): AucRecord[] {
  const rng = new Rng("report-test");
  const records: AucRecord[] = [];
  for (const strategy of ["CE", "CYBORG"]) {
    for (const generator of ["StyleGAN2", "ProGAN", "StarGANv2"]) {
      for (let seed = 1; seed <= 4; seed++) {
        const base = strategy === "CE" ? 0.7 : 0.8;
        records.push({ strategy, generator, seed, auc: base + 0.03 * rng.normal() });
      }
    }
  }
  return records;
}

async function sampleReport(): Promise<{ report: Report; figures: number }> {
  const rng = new Rng(3);
  const labels = Array.from({ length: 300 }, (_, i) => (i % 2) as 0 | 1);
  const scores = labels.map((y) =>
    Math.min(1, Math.max(0, 0.5 + (y ? 0.2 : -0.2) + 0.2 * rng.normal()))
  );
  const roc = rocCurve(labels, scores);
  const runs = [1, 2, 3].flatMap((seed) =>
    ["CE", "CYBORG"].map((strategy) => ({
      strategy,
      seed,
      train: [0.6, 0.7, 0.8, 0.85].map((v) => v + 0.02 * rng.normal()),
      val: [0.55, 0.62, 0.7, 0.72].map((v) => v + 0.02 * rng.normal()),
    }))
  );
  const map = (f: (r: number, c: number) => number) => ({
    data: Array.from({ length: 49 }, (_, i) => f(Math.floor(i / 7), i % 7)),
    height: 7,
    width: 7,
  });
  const center = map((r, c) => Math.exp(-((r - 3) ** 2 + (c - 3) ** 2) / 4));
  const corner = map((r, c) => Math.exp(-(r ** 2 + c ** 2) / 6));
  const img = await rawImageDataUrl({
    data: Float32Array.from({ length: 16 * 16 * 3 }, (_, i) => (i % 48) / 48),
    width: 16,
    height: 16,
    channels: 3,
  });
  const images = Array.from({ length: 6 }, (_, i) => ({ src: img, title: `sample ${i}` }));
  const records = aucRecords();
  const figures: Figure[] = [
    accuracyCurvesFigure(runs),
    rocFigure([{ name: "CE", roc }], { logFdr: true }),
    scoreHistogramFigure(scoreHistogram(labels, scores, 20)),
    aucByGeneratorFigure(records),
    aucByGeneratorFigure(records, { kind: "box" }),
    camComparisonFigure([{ label: "CE", cam: corner, human: center }, {
      label: "CYBORG",
      cam: center,
      human: center,
    }]),
    imageGridFigure(images, { cols: 3 }),
  ];
  return {
    figures: figures.length,
    report: {
      title: "CYBORG report <test>",
      subtitle: "synthetic data",
      sections: [
        {
          title: "Summary",
          blocks: [
            { kind: "text", text: "First paragraph & more.\n\nSecond paragraph." },
            { kind: "table", table: aucTable(records) },
            { kind: "table", table: aucSignificanceTable(records, "CYBORG", "CE") },
          ],
        },
        {
          title: "Figures",
          blocks: figures.map((figure, i) => ({ kind: "figure", figure, caption: `Figure ${i}` })),
        },
        { title: "Images", blocks: [{ kind: "html", html: imageGridHtml(images, { cols: 3 }) }] },
      ],
    },
  };
}

Deno.test("aucTable: mean ± sd (n) per strategy and generator, nothing marked best", () => {
  const records: AucRecord[] = [
    { strategy: "A", generator: "g1", seed: 1, auc: 0.7 },
    { strategy: "A", generator: "g1", seed: 2, auc: 0.8 },
    { strategy: "A", generator: "g2", seed: 1, auc: 0.9 },
    { strategy: "A", generator: "g2", seed: 2, auc: 0.9 },
    { strategy: "B", generator: "g1", seed: 1, auc: 0.9 },
    { strategy: "B", generator: "g1", seed: 2, auc: 0.95 },
  ];
  const t = aucTable(records);
  assert.deepEqual(t.columns, ["strategy", "g1", "g2", "mean of the 2 generators"]);
  assert.deepEqual(t.rows[0], ["A", "0.750 ± 0.071 (2)", "0.900 ± 0.000 (2)", "0.825 ± 0.035 (2)"]);
  assert.deepEqual(t.rows[1], ["B", "0.925 ± 0.035 (2)", "–", "–"]);
  assert.equal(t.bold, undefined);
  const html = tableHtml(t);
  assert.ok(html.includes("<td>0.925 ± 0.035 (2)</td>"));
  assert.ok(!html.includes("<b>"));
  // Cells the caller asks to emphasise are still rendered bold.
  assert.ok(tableHtml({ ...t, bold: [[1, 1]] }).includes("<td><b>0.925 ± 0.035 (2)</b></td>"));
  assert.throws(() => tableHtml({ columns: ["a"], rows: [["x", "y"]] }), /row 0 has 2 cells/);
  const sig = aucSignificanceTable(records, "A", "B");
  assert.equal(sig.rows[0][0], "g1");
  assert.equal(sig.rows[1][1], "–");
  assert.ok(Number(sig.rows[0][5]) > 0 && Number(sig.rows[0][5]) < 1);
  const ci = welchCi([0.7, 0.8], [0.9, 0.95]).ci;
  assert.equal(sig.rows[0][2], `[${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]`);
  assert.ok(ci[0] < -0.15 && ci[1] > -0.15); // contains the estimate 0.75 − 0.925
  assert.throws(() => aucSignificanceTable(records, "A", "C"), /strategy "C"/);
  const bundle = tableBundle(t);
  assert.equal(bundle["text/html"], html);
  assert.equal((bundle["text/plain"] as string).split("\n")[2], "B\t0.925 ± 0.035 (2)\t–\t–");
});

Deno.test("externalReferences finds network loads outside inline scripts", () => {
  assert.deepEqual(externalReferences(`<img src="data:image/png;base64,AA"><a href="#x">`), []);
  assert.deepEqual(
    externalReferences(`<script>var s = 'href="https://plotly.com/"';</script>`),
    [],
    "strings inside inline scripts are not loads",
  );
  const bad = externalReferences(
    `<script src="https://cdn.plot.ly/plotly.min.js"></script><link rel=stylesheet href=//x.org/a.css>` +
      `<style>body{background:url('http://x.org/b.png')}</style>` +
      `<script>Plotly.newPlot(el, [], {"images":[{"source":"https://x.org/c.png"}]})</script>`,
  );
  assert.deepEqual(bad, [
    "src=https://cdn.plot.ly/plotly.min.js",
    "href=//x.org/a.css",
    "url(http://x.org/b.png)",
    "layout image source=https://x.org/c.png",
  ]);
});

Deno.test("report.html is self-contained and headless Chromium draws every figure", async () => {
  const { report, figures } = await sampleReport();
  const dir = await artifactsDir();
  const path = `${dir}/report.html`;
  await writeReport(path, report);
  const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith(".report-"));
  assert.deepEqual(leftovers, [], "no temporary file left behind");
  const html = await Deno.readTextFile(path);
  assert.deepEqual(externalReferences(html), []);
  assert.equal(count(html, /window\.Plotly = Plotly/g), 1, "plotly.js inlined exactly once");
  assert.ok(html.includes("<title>CYBORG report &lt;test&gt;</title>"));
  assert.ok(html.includes("<p>First paragraph &amp; more.</p>\n<p>Second paragraph.</p>"));
  assert.equal(html, await buildReportHtml(report), "deterministic output");

  const dom = await chromium(["--dump-dom", `file://${path}`]);
  assert.equal(count(dom, /class="cyborg-plot js-plotly-plot"/g), figures, "every figure drawn");
  assert.ok(count(dom, /class="main-svg"/g) >= 2 * figures, "Plotly SVG layers present");
  assert.equal(count(dom, /class="cyborg-plot[^"]*">plotly\.js is not loaded/g), 0);
  // The image grid (6 layout images) and the CAM comparison's 3 heatmaps (two CAMs and their
  // shared human map, drawn once) render as SVG <image> elements.
  assert.ok(count(dom, /<image\b/g) >= 6 + 3, `svg images: ${count(dom, /<image\b/g)}`);
  assert.ok(count(dom, /<td>[0-9.]+ ± [0-9.]+ \(\d+\)<\/td>/g) >= 1, "AUC table rendered");
  assert.equal(count(dom, /<td><b>/g), 0, "no cell marked best");

  const shot = `${dir}/report.png`;
  await chromium([`--screenshot=${shot}`, "--window-size=1280,2400", `file://${path}`]);
  const meta = await sharp(await Deno.readFile(shot)).metadata();
  assert.equal(meta.width, 1280);
  const stats = await sharp(shot).stats();
  assert.ok(stats.channels.some((c) => c.stdev > 10), "screenshot is not blank");
  console.log(`report artifacts: ${path}, ${shot}`);
});

Deno.test("notebook-style HTML: a figure shown before plotly.js loads waits for it", async () => {
  // As in a notebook re-run out of order: figure A's output precedes the output carrying plotly.js.
  const fig = scoreHistogramFigure({ edges: [0, 0.5, 1], real: [3, 1], synthetic: [1, 3] });
  const page = `<!DOCTYPE html><html><body>${await figureHtml(fig, { id: "a" })}
<p>later cell</p>${await figureHtml(fig, { id: "b", includePlotly: true })}</body></html>`;
  assert.equal(count(page, /window\.Plotly = Plotly/g), 1);
  assert.equal(page.indexOf(await plotlyScriptTag()) > page.indexOf('id="a"'), true);
  const dir = await artifactsDir();
  const path = `${dir}/notebook_like.html`;
  await Deno.writeTextFile(path, page);
  const dom = await chromium(["--dump-dom", `file://${path}`]);
  assert.equal(count(dom, /class="cyborg-plot js-plotly-plot"/g), 2);
  assert.match(dom, /id="a" class="cyborg-plot js-plotly-plot"/);
});

Deno.test("detectionTable: AUC, AP, EER, accuracy and TDR@FDR per strategy over seeds", () => {
  // Seed 0 separates perfectly; seed 1 has one real scored above one synthetic face.
  const perfect = evaluateScores([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]);
  const swapped = evaluateScores([0, 1, 0, 1], [0.1, 0.6, 0.7, 0.9]);
  assert.equal(swapped.auc, 0.75);
  assert.equal(swapped.eer, 0.5);
  assert.ok(Math.abs(swapped.ap - (0.5 * 1 + 0.5 * (2 / 3))) < 1e-12);
  const t = detectionTable([
    { strategy: "A", seed: 0, evaluation: perfect },
    { strategy: "A", seed: 1, evaluation: swapped },
    { strategy: "B", seed: 0, evaluation: perfect },
  ]);
  assert.deepEqual(t.columns, [
    "strategy",
    "AUC",
    "AP",
    "EER",
    "accuracy",
    "TDR@0.1%",
    "TDR@0.2%",
    "TDR@1%",
    "TDR@5%",
  ]);
  assert.equal(t.rows[0][1], "0.875 ± 0.177 (2)");
  assert.equal(t.rows[0][3], "0.250 ± 0.354 (2)");
  assert.equal(t.rows[1][1], "1.000 (1)"); // one seed: no sd
  assert.equal(t.rows.length, 2);
  assert.throws(() => detectionTable([]), /no records/);
});
