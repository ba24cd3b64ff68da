import assert from "node:assert/strict";
import sharp from "sharp";
import { meanSd, rocCurve, scoreHistogram } from "../../lib/metrics.ts";
import {
  accuracyCurvesFigure,
  aucByGeneratorFigure,
  camComparisonFigure,
  display,
  displayable,
  encodePng,
  type Figure,
  figureHtml,
  heatmapGridFigure,
  imageGridFigure,
  imageGridHtml,
  inJupyter,
  meanMap,
  mimeBundle,
  PLOTLY_MIME,
  plotlyJs,
  plotlyJsPath,
  pngDataUrl,
  rawImageDataUrl,
  resetPlotlyDelivery,
  rgba,
  rocFigure,
  scoreHistogramFigure,
  scriptJson,
  type Trace,
} from "../../lib/plots/mod.ts";
import { Rng } from "../../lib/rng.ts";

function jsonRoundTrip(fig: Figure): void {
  assert.deepEqual(JSON.parse(JSON.stringify(fig)), JSON.parse(JSON.stringify(fig)));
  const text = JSON.stringify(fig);
  assert.ok(!text.includes("NaN") && !text.includes("Infinity"), "figure JSON has no NaN/Infinity");
}

const RUNS = [
  { strategy: "CE", seed: 1, train: [0.6, 0.7, 0.8], val: [0.55, 0.6, 0.7] },
  { strategy: "CE", seed: 2, train: [0.62, 0.74, 0.82], val: [0.5, 0.65, 0.72] },
  { strategy: "CE", seed: 3, train: [0.58, 0.71, 0.85], val: [0.52, 0.63, 0.69] },
  { strategy: "CYBORG", seed: 1, train: [0.6, 0.65, 0.7], val: [0.6, 0.7, 0.8] },
  { strategy: "CYBORG", seed: 2, train: [0.61, 0.66, 0.72], val: [0.62, 0.72, 0.79] },
];

Deno.test("accuracyCurvesFigure: mean lines and mean ± 1 sd bands per strategy and split", () => {
  const fig = accuracyCurvesFigure(RUNS);
  jsonRoundTrip(fig);
  // Per strategy and split: a band and a line.
  assert.equal(fig.data.length, 2 * 2 * 2);
  const line = fig.data.find((t) => t.name === "CE val (n=3)")!;
  const band = fig.data.find((t) => t.name === "CE val ± 1 sd")!;
  const epoch2 = meanSd([0.6, 0.65, 0.63]);
  assert.deepEqual(line.x, [1, 2, 3]);
  assert.ok(Math.abs((line.y as number[])[1] - epoch2.mean) < 1e-12);
  const by = band.y as number[];
  assert.equal(by.length, 6);
  assert.ok(Math.abs(by[1] - (epoch2.mean + epoch2.sd)) < 1e-12, "upper edge");
  assert.ok(Math.abs(by[4] - (epoch2.mean - epoch2.sd)) < 1e-12, "lower edge, reversed");
  assert.equal(band.fill, "toself");
  const train = fig.data.find((t) => t.name === "CE train (n=3)")!;
  assert.equal((train.line as { dash: string }).dash, "dash");
  // Same colour for a strategy's train and val; different strategies differ.
  const color = (t: Trace) => (t.line as { color: string }).color;
  assert.equal(color(line), color(train));
  assert.notEqual(color(line), color(fig.data.find((t) => t.name === "CYBORG val (n=2)")!));
  // One seed: no band.
  assert.equal(accuracyCurvesFigure([RUNS[0]]).data.length, 2);
  assert.throws(
    () => accuracyCurvesFigure([...RUNS, { strategy: "CE", seed: 9, train: [0.5], val: [0.5] }]),
    /strategy "CE" seed 9 has 1 val epochs, seed 1 has 3/,
  );
  assert.equal(rgba("#ff7f0e", 0.2), "rgba(255,127,14,0.2)");
});

Deno.test("rocFigure and scoreHistogramFigure from metrics", () => {
  const rng = new Rng(7);
  const labels = Array.from({ length: 400 }, (_, i) => (i % 2) as 0 | 1);
  const scores = labels.map((y) =>
    Math.min(1, Math.max(0, 0.5 + (y ? 0.15 : -0.15) + 0.2 * rng.normal()))
  );
  const roc = rocCurve(labels, scores);
  const fig = rocFigure([{ name: "CE", roc, auc: 0.81234 }], { logFdr: true });
  jsonRoundTrip(fig);
  assert.equal(fig.data.length, 2);
  assert.equal(fig.data[0].name, "CE (AUC 0.8123)");
  assert.deepEqual(fig.data[0].x, roc.fpr);
  assert.equal((fig.layout.xaxis as { type: string }).type, "log");
  assert.deepEqual((fig.layout.shapes as { x0: number }[]).map((s) => s.x0), [
    0.001,
    0.002,
    0.01,
    0.05,
  ]);
  assert.equal((rocFigure([{ name: "x", roc }]).layout.shapes as unknown[]).length, 0);
  assert.throws(() => rocFigure([{ name: "bad", roc: { fpr: [0], tpr: [0, 1] } }]), /"bad"/);

  const h = scoreHistogram(labels, scores, 10);
  const hf = scoreHistogramFigure(h, { normalize: true });
  jsonRoundTrip(hf);
  for (const t of hf.data) {
    const sum = (t.y as number[]).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12, `${t.name} fractions sum to 1`);
    assert.equal((t.x as number[])[0], 0.05);
  }
  assert.equal(scoreHistogramFigure(h).data[0].name, "Real (n=200)");
});

Deno.test("aucByGeneratorFigure: bar mean ± sd per generator, box with every seed", () => {
  const records = [];
  for (const strategy of ["CE", "CYBORG"]) {
    for (const generator of ["StyleGAN2", "ProGAN", "StarGANv2"]) {
      for (let seed = 0; seed < 3; seed++) {
        records.push({
          strategy,
          generator,
          seed,
          auc: 0.6 + 0.1 * seed + (strategy === "CE" ? 0 : 0.05),
        });
      }
    }
  }
  const bar = aucByGeneratorFigure(records);
  jsonRoundTrip(bar);
  assert.equal(bar.data.length, 2);
  assert.deepEqual(bar.data[1].x, ["StyleGAN2", "ProGAN", "StarGANv2"]);
  const ms = meanSd([0.65, 0.75, 0.85]);
  assert.ok(Math.abs((bar.data[1].y as number[])[0] - ms.mean) < 1e-12);
  assert.ok(Math.abs((bar.data[1].error_y as { array: number[] }).array[2] - ms.sd) < 1e-12);
  const box = aucByGeneratorFigure(records, { kind: "box" });
  assert.equal(box.data[0].type, "box");
  assert.equal((box.data[0].y as number[]).length, 9);
  assert.throws(
    () => aucByGeneratorFigure([{ strategy: "a", generator: "g", auc: NaN }]),
    /record 0/,
  );
});

Deno.test("heatmap grids: image orientation, square cells, shared colour bar, meanMap", () => {
  const a = { data: [0, 0.5, 1, 0.25, 0.75, 0], height: 2, width: 3 };
  const b = { data: [1, 0.5, 0, 0.75, 0.25, 1], height: 2, width: 3 };
  const mean = meanMap([a, b]);
  assert.deepEqual(Array.from(mean.data), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  assert.throws(() => meanMap([a, { data: [1], height: 1, width: 1 }]), /map 1 is 1×1/);
  // Per-row human maps (e.g. Real and Synthetic rows): (CAM, human map) pairs.
  const fig = camComparisonFigure([
    { label: "CE", cam: a, human: mean },
    { label: "CYBORG", cam: b, human: a },
  ]);
  jsonRoundTrip(fig);
  assert.equal(fig.data.length, 4);
  assert.deepEqual(fig.data[0].z, [[0, 0.5, 1], [0.25, 0.75, 0]], "row 0 of the map is z[0]");
  assert.deepEqual(fig.data.map((t) => t.showscale), [true, false, false, false]);
  assert.deepEqual(fig.data.map((t) => t.xaxis), ["x", "x2", "x3", "x4"]);
  const y4 = fig.layout.yaxis4 as { autorange: string; scaleanchor: string; domain: number[] };
  assert.equal(y4.autorange, "reversed");
  assert.equal(y4.scaleanchor, "x4");
  const x1 = (fig.layout.xaxis as { domain: number[] }).domain;
  const x2 = (fig.layout.xaxis2 as { domain: number[] }).domain;
  assert.ok(x1[1] < x2[0], "columns do not overlap");
  const annotations = fig.layout.annotations as { text: string }[];
  assert.deepEqual(annotations.map((t) => t.text).slice(0, 2), [
    "CE: mean CAM",
    "CE: mean human map",
  ]);
  assert.throws(
    () => heatmapGridFigure([[{ title: "bad", map: { data: [1, 2, 3], height: 2, width: 2 } }]]),
    /cell \(0, 0\) "bad": 3 values for a 2×2 map/,
  );
});

Deno.test("camComparisonFigure: one shared human map is drawn once, CAMs wrap into columns", () => {
  const human = { data: [0, 1, 1, 0], height: 2, width: 2 };
  const rows = Array.from({ length: 12 }, (_, i) => ({
    label: `m${i}`,
    cam: { data: [i / 12, 0, 0, 1], height: 2, width: 2 },
    human: { ...human, data: [...human.data] }, // equal content, distinct arrays
  }));
  const fig = camComparisonFigure(rows, { columns: 4 });
  const titles = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
  assert.equal(titles.filter((t) => t.includes("human")).length, 1);
  assert.equal(titles[0], "mean human map");
  assert.equal(fig.data.length, 13);
  // 13 cells, 4 to a row: 4 rows, the last holding one cell.
  const tops = new Set(
    Object.entries(fig.layout).filter(([k]) => /^yaxis\d*$/.test(k))
      .map(([, v]) => (v as { domain: number[] }).domain[1].toFixed(6)),
  );
  assert.equal(tops.size, 4);
});

Deno.test("heatmapGridFigure geometry: square cells and fixed pixel gaps for any number of rows", () => {
  const m = { data: [0, 1, 1, 0], height: 2, width: 2 };
  for (const rows of [1, 3, 12]) {
    const cellSize = 150;
    const grid = Array.from({ length: rows }, (_, r) => [
      { title: `r${r}a`, map: m },
      { title: `r${r}b`, map: m },
    ]);
    const fig = heatmapGridFigure(grid, { cellSize, title: "t" });
    const margin = fig.layout.margin as { t: number; b: number; l: number; r: number };
    const plotH = (fig.layout.height as number) - margin.t - margin.b;
    const plotW = (fig.layout.width as number) - margin.l - margin.r;
    const ys: number[][] = [];
    const xs: number[][] = [];
    for (let i = 1; i <= 2 * rows; i++) {
      const suffix = i === 1 ? "" : String(i);
      ys.push((fig.layout[`yaxis${suffix}`] as { domain: number[] }).domain);
      xs.push((fig.layout[`xaxis${suffix}`] as { domain: number[] }).domain);
    }
    for (let i = 0; i < ys.length; i++) {
      const hPx = (ys[i][1] - ys[i][0]) * plotH;
      const wPx = (xs[i][1] - xs[i][0]) * plotW;
      assert.ok(Math.abs(hPx - cellSize) < 1e-6, `${rows} rows: cell ${i} is ${hPx} px tall`);
      assert.ok(Math.abs(wPx - cellSize) < 1e-6, `${rows} rows: cell ${i} is ${wPx} px wide`);
    }
    // The maps fill most of the height, whatever the number of rows (captions and gaps are
    // fixed pixels, not a fixed fraction of the figure).
    assert.ok(
      (rows * cellSize) / plotH > 0.8,
      `${rows} rows: maps fill ${(rows * cellSize) / plotH}`,
    );
    for (let r = 1; r < rows; r++) {
      const gapPx = (ys[2 * (r - 1)][0] - ys[2 * r][1]) * plotH;
      assert.ok(gapPx > 20 && gapPx < 40, `${rows} rows: caption band + gap ${gapPx} px`);
    }
    assert.ok(xs[0][1] < xs[1][0], "columns do not overlap");
  }
});

Deno.test("rocFigure on a log FDR axis: the chance line is TDR = FDR along the whole axis", () => {
  const fig = rocFigure([{ name: "a", roc: { fpr: [0, 0.001, 1], tpr: [0, 0.5, 1] } }], {
    logFdr: true,
  });
  const chance = fig.data[fig.data.length - 1];
  const x = chance.x as number[];
  const y = chance.y as number[];
  assert.ok(x.length >= 20, "sampled densely, not two points joined by a straight segment");
  assert.deepEqual(y, x);
  // Successive points are evenly spaced in log10, so every drawn segment is short on the axis.
  for (let i = 1; i < x.length; i++) {
    assert.ok(Math.log10(x[i]) - Math.log10(x[i - 1]) <= 0.05 + 1e-12);
  }
  assert.ok(Math.abs(x[0] - 1e-4) < 1e-12 && x[x.length - 1] === 1);
  const xaxis = fig.layout.xaxis as { ticktext: string[]; tickvals: number[] };
  assert.deepEqual(xaxis.ticktext, ["0.01%", "0.1%", "1%", "10%", "100%"]);
  const notes = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
  assert.deepEqual(notes, ["TDR@0.1%", "TDR@0.2%", "TDR@1%", "TDR@5%"]);
  const linear = rocFigure([{ name: "a", roc: { fpr: [0, 1], tpr: [0, 1] } }]);
  assert.deepEqual(linear.data[1].x, [0, 1]);
});

Deno.test("accuracyCurvesFigure: y range fits the data; x is training steps when given", () => {
  const high = [
    { strategy: "a", seed: 0, train: [0.985, 0.99], val: [0.988, 0.992], steps: [10, 20] },
    { strategy: "b", seed: 0, train: [0.99, 0.995], val: [0.99, 0.994], steps: [70, 140] },
  ];
  const fig = accuracyCurvesFigure(high);
  const range = (fig.layout.yaxis as { range: number[] }).range;
  assert.ok(range[0] > 0.95 && range[0] < 0.985, `y from ${range[0]}`);
  assert.ok(range[1] >= 0.995 && range[1] <= 1.005, `y to ${range[1]}`);
  assert.equal((fig.layout.xaxis as { title: { text: string } }).title.text, "training steps");
  assert.deepEqual(fig.data.find((t) => t.name === "b val (n=1)")?.x, [70, 140]);
  const byEpoch = accuracyCurvesFigure(RUNS);
  assert.equal((byEpoch.layout.xaxis as { title: { text: string } }).title.text, "epoch");
  const r = (byEpoch.layout.yaxis as { range: number[] }).range;
  assert.ok(r[0] < 0.5 && r[1] > 0.85 && r[1] <= 1.005);
});

Deno.test("PNG encoding through sharp round-trips pixels; image grids", async () => {
  const rgb = new Uint8Array(4 * 3 * 3).map((_, i) => (i * 11) % 256);
  const png = await encodePng({ data: rgb, width: 4, height: 3, channels: 3 });
  const decoded = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(decoded.info.width, 4);
  assert.equal(decoded.info.height, 3);
  assert.deepEqual(new Uint8Array(decoded.data), rgb);
  // Float map in [0, 1] → grey 0..255, values clipped.
  const grey = await encodePng({ data: [0, 0.5, 1, 2], width: 2, height: 2, channels: 1 });
  const g = await sharp(grey).raw().toBuffer({ resolveWithObject: true });
  const firstChannel = Array.from(g.data).filter((_, i) => i % g.info.channels === 0);
  assert.deepEqual(firstChannel, [0, 128, 255, 255]);
  await assert.rejects(
    () => encodePng({ data: [0, 1], width: 2, height: 2, channels: 1 }),
    /2 values for 2×2×1/,
  );
  assert.throws(() => pngDataUrl(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /not a PNG/);

  const src = await rawImageDataUrl({ data: rgb, width: 4, height: 3, channels: 3 });
  assert.ok(src.startsWith("data:image/png;base64,iVBORw0KGgo"));
  const images = Array.from({ length: 5 }, (_, i) => ({ src, title: `img <${i}>` }));
  const fig = imageGridFigure(images, { cols: 3 });
  jsonRoundTrip(fig);
  const li = fig.layout.images as {
    x: number;
    y: number;
    sizex: number;
    sizey: number;
    source: string;
  }[];
  assert.equal(li.length, 5);
  for (const im of li) {
    assert.ok(im.x >= 0 && im.x + im.sizex <= 1 + 1e-12 && im.y <= 1 && im.y - im.sizey >= -1e-12);
    assert.equal(im.source, src);
  }
  assert.ok(li[3].y < li[0].y, "second row below the first");
  assert.equal((fig.layout.annotations as { text: string }[])[0].text, "img &lt;0&gt;");
  const html = imageGridHtml(images, { cols: 2 });
  assert.equal(html.match(/<img /g)?.length, 5);
  assert.equal(html.match(/<tr>/g)?.length, 3);
  assert.throws(() => imageGridFigure([{ src: "https://example.com/x.png" }]), /image 0 src/);
});

Deno.test("plotly.js is found locally and figure HTML inlines it only when asked", async () => {
  const path = plotlyJsPath();
  assert.match(path, /plotly\.js-dist-min.*\/plotly\.min\.js$/);
  const src = await plotlyJs();
  assert.ok(src.length > 1_000_000 && src.includes("window.Plotly = Plotly"));
  const fig = rocFigure([{ name: "a", roc: { fpr: [0, 1], tpr: [0, 1] } }]);
  const withLib = await figureHtml(fig, { includePlotly: true, id: "f1" });
  const without = await figureHtml(fig, { id: "f2" });
  assert.ok(withLib.includes(src));
  assert.ok(!without.includes("window.Plotly = Plotly"));
  assert.ok(without.includes(`id="f2"`) && without.includes("Plotly.newPlot"));
  assert.ok(without.length < 10_000);
  assert.equal(scriptJson({ s: "</script><b>\u2028" }), '{"s":"\\u003c/script>\\u003cb>\\u2028"}');
});

Deno.test("MIME bundles: plotly JSON + HTML fallback, plotly.js once per session", async () => {
  const fig = scoreHistogramFigure({ edges: [0, 0.5, 1], real: [3, 1], synthetic: [1, 3] });
  resetPlotlyDelivery();
  const first = await mimeBundle(fig);
  const second = await mimeBundle(fig);
  const plotlyJson = first[PLOTLY_MIME] as Figure;
  assert.deepEqual(plotlyJson.data, fig.data);
  assert.equal((plotlyJson.config as { displaylogo: boolean }).displaylogo, false);
  assert.ok((first["text/html"] as string).includes("window.Plotly = Plotly"), "first inlines");
  assert.ok(!(second["text/html"] as string).includes("window.Plotly = Plotly"), "second waits");
  assert.match(first["text/plain"] as string, /Plotly figure: Score histogram .*\(2 traces\)/);
  const always = await mimeBundle(fig, { inlinePlotly: "always" });
  assert.ok((always["text/html"] as string).includes("window.Plotly = Plotly"));
  resetPlotlyDelivery();
  const never = await mimeBundle(fig, { inlinePlotly: "never" });
  assert.ok(!(never["text/html"] as string).includes("window.Plotly = Plotly"));
  await assert.rejects(
    () => mimeBundle(fig, { inlinePlotly: "sometimes" as "once" }),
    /inlinePlotly: "sometimes"/,
  );

  const shown = displayable(fig, { inlinePlotly: "never" });
  const fn = (shown as unknown as Record<symbol, () => Promise<Record<string, unknown>>>)[
    Symbol.for("Jupyter.display")
  ];
  assert.deepEqual(Object.keys(await fn()).sort(), [PLOTLY_MIME, "text/html", "text/plain"].sort());
  assert.equal(inJupyter(), false);
  await assert.rejects(() => display(fig), /not running in the Deno Jupyter kernel/);
});
