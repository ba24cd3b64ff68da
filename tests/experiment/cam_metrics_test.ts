import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { readSplitCsv } from "../../lib/data/csv.ts";
import { openDataset } from "../../lib/data/dataset.ts";
import { addSensorNoise, renderFace } from "../../lib/data/procfaces/face.ts";
import { sampleFace, STYLE_STANDARD } from "../../lib/data/procfaces/face_params.ts";
import { generate } from "../../lib/data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../../lib/data/procfaces/layout.ts";
import {
  derivePositiveControl,
  markBox,
  POSITIVE_MARK,
  POSITIVE_SOFTEN,
  soften,
} from "../../lib/data/procfaces/positive_control.ts";
import { ellipseDistance, toU8 } from "../../lib/data/procfaces/raster.ts";
import { applyShortcut, shortcutWeights } from "../../lib/data/procfaces/shortcut.ts";
import { decodePng } from "../../lib/data/procfaces/writer.ts";
import {
  areaShare,
  boxCoverage,
  camMetricInputs,
  camMetricsForModel,
  decisionCams,
  ellipseCoverage,
  lossCams,
  maskCoverage,
  meanSquaredError,
  positiveShare,
  positiveTestMarked,
  procfacesRegions,
  setShares,
  summariseShares,
  templateFloor,
} from "../../lib/experiment/cam_metrics.ts";
import { cyborgLoss } from "../../lib/loss.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { hashString, Rng } from "../../lib/rng.ts";

await initBackend("cpu");

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);
const circle = (cx: number, cy: number, r: number) => ({ cx, cy, rx: r, ry: r, angle: 0 });

// ------------------------------------------------------------ pure functions, by hand

Deno.test("boxCoverage: exact overlap of a box with each grid cell", () => {
  // Grid 2 (cells of side 0.5): the box [0.6, 1]² covers (0.4 / 0.5)² of the bottom-right cell.
  assert.deepEqual(
    Array.from(boxCoverage(2, { x0: 0.6, y0: 0.6, x1: 1, y1: 1 })).map((v) => +v.toFixed(6)),
    [0, 0, 0, 0.64],
  );
  // A box spanning two columns of the top row, half of each cell's height.
  assert.deepEqual(
    Array.from(boxCoverage(2, { x0: 0.25, y0: 0, x1: 0.75, y1: 0.25 })).map((v) => +v.toFixed(6)),
    [0.25, 0.25, 0, 0],
  );
  // The positive control's decoy at 32 px on minicnn's 8×8 grid: [24, 32)² is the last 2×2 cells.
  const lo = markBox(32, POSITIVE_MARK);
  assert.equal(lo, 24);
  const c = boxCoverage(8, { x0: lo / 32, y0: lo / 32, x1: 1, y1: 1 });
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) assert.equal(c[i * 8 + j], i >= 6 && j >= 6 ? 1 : 0, `${i},${j}`);
  }
  assert.equal(areaShare(c), 4 / 64);
  // Every pixel of the mark lies in that box.
  const w = shortcutWeights(32, POSITIVE_MARK);
  w.forEach((v, i) => {
    if (v > 0) assert.ok(i % 32 >= lo && Math.floor(i / 32) >= lo, `mark pixel ${i}`);
  });
});

Deno.test("ellipseCoverage: area fraction of each cell inside the union of ellipses", () => {
  // An ellipse around the whole image covers every cell.
  assert.deepEqual(Array.from(ellipseCoverage(2, [circle(0.5, 0.5, 1)])), [1, 1, 1, 1]);
  // A circle of radius 0.1 centred in cell (0, 0) of a 2×2 grid: π·0.01 / 0.25 of that cell.
  const one = ellipseCoverage(2, [circle(0.25, 0.25, 0.1)]);
  close(one[0], (Math.PI * 0.01) / 0.25, 0.01, "cell (0,0)");
  assert.deepEqual(Array.from(one.subarray(1)), [0, 0, 0]);
  // Centred on the grid's corner point it splits into four equal quarters (π·0.01 / 4 / 0.25).
  const four = ellipseCoverage(2, [circle(0.5, 0.5, 0.1)]);
  for (const v of four) close(v, Math.PI * 0.01, 0.005, "quarter");
  assert.ok(four.every((v) => v === four[0]));
  // A union, not a sum: the same ellipse twice covers what it covers once.
  assert.deepEqual(ellipseCoverage(2, [circle(0.25, 0.25, 0.1), circle(0.25, 0.25, 0.1)]), one);
  // Two disjoint ellipses in one cell add up.
  const two = ellipseCoverage(1, [circle(0.25, 0.25, 0.1), circle(0.75, 0.75, 0.1)], 64);
  close(two[0], 2 * Math.PI * 0.01, 0.005, "two circles");
  // Orientation: a thin vertical ellipse in the left column, the same turned by 90° in the top row.
  const tall = { cx: 0.25, cy: 0.5, rx: 0.05, ry: 0.45, angle: 0 };
  const v = ellipseCoverage(2, [tall]);
  assert.ok(v[0] > 0 && v[2] > 0 && v[1] === 0 && v[3] === 0, `vertical: ${v}`);
  const h = ellipseCoverage(2, [{ ...tall, cx: 0.5, cy: 0.25, angle: Math.PI / 2 }]);
  assert.ok(h[0] > 0 && h[1] > 0 && h[2] === 0 && h[3] === 0, `turned: ${h}`);
  assert.deepEqual(ellipseCoverage(3, []), new Float32Array(9));
});

Deno.test("maskCoverage: a pixel mask averaged over each cell's image box", () => {
  // 4×4 pixels onto a 2×2 grid: each cell averages its 2×2 block.
  const mask = [
    1,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    1,
  ];
  assert.deepEqual(Array.from(maskCoverage(mask, 4, 2)), [0.75, 0, 0, 0.5]);
  // 3×3 pixels onto a 2×2 grid: the middle row and column straddle the borders (half each).
  const centre = [0, 0, 0, 0, 1, 0, 0, 0, 0];
  for (const v of maskCoverage(centre, 3, 2)) close(v, 1 / 9, 1e-7, "straddling pixel");
  close(areaShare(maskCoverage(centre, 3, 2)), 1 / 9, 1e-7, "area");
  assert.throws(() => maskCoverage([1, 0], 2, 1), /2 values for a 2×2 mask/);
});

Deno.test("positiveShare: the share of the CAM's positive part inside the region", () => {
  // Positive part (2, 0, 1, 0): 2 of 3 in the first two cells; the -1 is not subtracted.
  assert.equal(positiveShare([2, -1, 1, 0], [1, 1, 0, 0]), 2 / 3);
  // Fractional coverage weights each cell: (2·0.5 + 1·0.25) / 3.
  assert.equal(positiveShare([2, -1, 1, 0], [0.5, 1, 0.25, 1]), 1.25 / 3);
  // No positive cell: no share.
  assert.equal(positiveShare([0, -1, -2, 0], [1, 1, 1, 1]), null);
  assert.throws(() => positiveShare([1, 2], [1]), /2 cells, the coverage 1/);
  // A uniform positive CAM gives the area share.
  const cover = [0.5, 0, 1, 0.25];
  assert.equal(positiveShare([3, 3, 3, 3], cover), areaShare(cover));
});

Deno.test("summariseShares and setShares: means over the images with a positive cell", () => {
  const s = summariseShares([
    { share: 0.5, area: 0.1 },
    { share: null, area: 0.9 },
    { share: 0.25, area: 0.3 },
  ]);
  assert.deepEqual(s, { images: 3, withPositive: 2, share: 0.375, area: 0.2 });
  assert.deepEqual(summariseShares([{ share: null, area: 1 }]), {
    images: 1,
    withPositive: 0,
    share: null,
    area: null,
  });
  // Two images of 4 cells: a fake (artifact cover) and a real with the mark.
  const cams = Float32Array.from([1, 3, -2, 0, 0, 0, 4, 4]);
  const r = setShares(cams, [
    { artifact: Float32Array.from([1, 0, 1, 0]) },
    { mark: Float32Array.from([0, 0, 0, 1]) },
  ]);
  assert.deepEqual(r.artifact, { images: 1, withPositive: 1, share: 0.25, area: 0.5 });
  assert.deepEqual(r.mark, { images: 1, withPositive: 1, share: 0.5, area: 0.25 });
  assert.equal(r.artifactPixels, null);
  assert.equal(setShares(cams.subarray(0, 4), [{}]).artifact, null);
});

Deno.test("templateFloor: per-class mean map and its MSE, by hand", () => {
  // Class 0: maps (0, 1) and (1, 1) → template (0.5, 1); class 1: (1, 0) → template (1, 0).
  const f = templateFloor([0, 1, 1, 1, 1, 0], [0, 0, 1], 2);
  assert.deepEqual(f.counts, [2, 1]);
  assert.deepEqual(Array.from(f.templates[0]), [0.5, 1]);
  assert.deepEqual(Array.from(f.templates[1]), [1, 0]);
  // Squared errors 0.25, 0, 0.25, 0, 0, 0 over 3 images × 2 cells.
  close(f.mse, 0.5 / 6, 1e-12, "floor");
  // Normalised: template (0.5, 1) becomes (0, 1): errors 0, 0, 1, 0, 0, 0.
  close(f.normalisedTemplateMse, 1 / 6, 1e-7, "normalised template");
  // The per-class mean is the MSE-optimal class-only map: moving a template raises the MSE.
  const maps = [0, 1, 1, 1, 1, 0];
  const mseWith = (t0: number[], t1: number[]) => meanSquaredError(maps, [...t0, ...t0, ...t1]) * 1;
  for (const d of [-0.1, 0.1]) {
    assert.ok(mseWith([0.5 + d, 1], [1, 0]) > f.mse);
    assert.ok(mseWith([0.5, 1], [1, d]) > f.mse);
  }
  assert.throws(() => templateFloor([0, 1, 2], [0, 1], 2), /3 map values for 2 images/);
});

Deno.test("decisionCams: (W_fake − W_real)·features, raw, at the grid", async () => {
  // One image, a 1×2 grid, 2 channels: features (1, 2) and (3, −1).
  const features = tf.tensor4d([[[[1, 2], [3, -1]]]]);
  // W [channels, classes] = [[real, fake], ...]: the decision row is (2 − 1, −1 − 0.5) = (1, −1.5).
  const w = tf.tensor2d([[1, 2], [0.5, -1]]);
  const d = decisionCams(features as tf.Tensor4D, w as tf.Tensor2D);
  assert.deepEqual(d.shape, [1, 1, 2]);
  assert.deepEqual(Array.from(await d.data()), [1 - 3, 3 + 1.5]);
  tf.dispose([features, w, d]);
});

Deno.test("lossCams + meanSquaredError is the training loss's CAM term (predicted class)", async () => {
  const features = tf.randomNormal([4, 3, 3, 5], 0, 1, "float32", 7) as tf.Tensor4D;
  const w = tf.randomNormal([5, 2], 0, 1, "float32", 8) as tf.Tensor2D;
  // Predictions 0, 1, 1, 0 against labels 0, 0, 1, 1: the predicted class differs from the label.
  const logits = tf.tensor2d([[2, 0], [0, 1], [-1, 1], [3, 1]]);
  const labels = tf.tensor1d([0, 0, 1, 1], "int32");
  const maps = tf.randomUniform([4, 3, 3], 0, 1, "float32", 9) as tf.Tensor3D;
  const loss = cyborgLoss({
    logits,
    labels,
    features,
    classifierWeight: w,
    maps,
    alpha: 0.5,
    camClass: "pred",
  });
  const cams = lossCams(features, w, logits, labels, "pred");
  const got = meanSquaredError(await cams.data(), await maps.data());
  close(got, (await loss.cam.data())[0], 1e-6, "CAM term");
  tf.dispose([features, w, logits, labels, maps, loss.total, loss.ce, loss.cam, cams]);
});

// ------------------------------------------------------------ real generation

const SIZE = 32;
/** How far outside an ellipse the generator's widest feathered mask reaches (2 px + ½ px). */
const ARTIFACT_MARGIN_PX = 2.5;
const DATA_SEED = 7; // neither the derivation seed nor the default, so a mixed-up seed shows
const DERIVE_SEED = 3;
const out = await Deno.makeTempDir({ prefix: "cyborg-cam-metrics-" });
await generate({
  out,
  seed: DATA_SEED,
  size: SIZE,
  counts: { ...scaleCounts(PAPER_COUNTS, 0.02), testPerSource: 6 },
  variant: "control",
  workers: 0,
});
const control = `${out}/procfaces-control`;
const positive = (await derivePositiveControl({ control, mode: "mark", seed: DERIVE_SEED })).dir;

async function pixels(path: string): Promise<Uint8Array> {
  return (await decodePng(await Deno.readFile(path), 3)).pixels;
}
const equal = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** A fake's face as the generator renders it before any artifact (same face, same noise). */
function cleanFace(base: string): Uint8Array {
  const rng = new Rng(hashString(`${DATA_SEED}:${base}`));
  const face = sampleFace(rng.fork("face"), STYLE_STANDARD);
  const r = renderFace(face, SIZE);
  addSensorNoise(r.image, face.sensorNoise, rng.fork("sensor"));
  return toU8(r.image.data);
}

async function manifest(): Promise<Map<string, string>> {
  const lines = (await Deno.readTextFile(`${control}/manifest.csv`)).trim().split("\n").slice(1);
  return new Map(lines.map((l) => l.split(",")).map((f) => [f[0], f[6]]));
}

Deno.test("procfacesRegions: the recomputed artifacts are the ones in the files (positive folder)", async () => {
  const r = await procfacesRegions(positive);
  assert.equal(r.generated, control);
  assert.equal(r.seed, DATA_SEED);
  assert.deepEqual([...r.sets.keys()], [
    "t1_fake",
    "t1_real",
    "t2_fake",
    "t2_real",
    "t3_fake",
    "t3_real",
  ]);
  const families = await manifest();
  const fakes = await readSplitCsv(`${control}/csvs/test_sets/seen_generators.csv`);
  let inside = 0, total = 0;
  for (const t of ["t1", "t2", "t3"]) {
    const set = r.sets.get(`${t}_fake`)!;
    assert.equal(set.rows.length, fakes.length);
    for (const [i, row] of set.rows.entries()) {
      // Row i of tN_fake comes from row i of the control's seen_generators set.
      const base = fakes[i].path.slice(fakes[i].path.lastIndexOf("/") + 1, -4);
      assert.equal(row.regions.source, base);
      assert.equal(row.regions.families.join(";"), families.get(base), base);
      assert.ok(row.regions.ellipses.length >= 1);
      // Every pixel the artifacts changed lies within ARTIFACT_MARGIN_PX of the ellipses, and
      // every ellipse holds changed pixels; the changed pixels are the recomputed ones.
      const file = await pixels(`${control}${fakes[i].path}`);
      const clean = cleanFace(base);
      const diff = Uint8Array.from(
        { length: SIZE * SIZE },
        (_, p) => [0, 1, 2].some((c) => file[3 * p + c] !== clean[3 * p + c]) ? 1 : 0,
      );
      assert.deepEqual(row.regions.changed, diff, `${base}: changed pixels`);
      const margin = ARTIFACT_MARGIN_PX / SIZE;
      const hit = row.regions.ellipses.map(() => 0);
      let changed = 0;
      for (let p = 0; p < SIZE * SIZE; p++) {
        if (![0, 1, 2].some((c) => file[3 * p + c] !== clean[3 * p + c])) continue;
        changed++;
        const u = (p % SIZE + 0.5) / SIZE, v = (Math.floor(p / SIZE) + 0.5) / SIZE;
        const d = row.regions.ellipses.map((e) => ellipseDistance(e, u, v));
        assert.ok(d.some((x) => x < margin), `${base}: pixel ${p} changed outside the region`);
        d.forEach((x, k) => (hit[k] += x < margin ? 1 : 0));
        if (d.some((x) => x < 0)) inside++;
      }
      assert.ok(changed > 0, `${base}: no pixel changed`);
      assert.ok(hit.every((h) => h > 0), `${base}: an ellipse without a changed pixel: ${hit}`);
      total += changed;
    }
  }
  // At 32 px most changed pixels lie in the feathered rim (measured: 324 of 1671 inside).
  assert.ok(inside / total > 0.1, `changed pixels inside the ellipses: ${inside} of ${total}`);
  // Reals have no artifacts.
  for (const row of r.sets.get("t2_real")!.rows) {
    assert.deepEqual(row.regions.ellipses, []);
    assert.ok(row.regions.changed.every((v) => v === 0));
  }
});

Deno.test("procfacesRegions: the decoy is where the derived files carry it", async () => {
  const r = await procfacesRegions(positive);
  const src = {
    real: await readSplitCsv(`${control}/csvs/test_sets/real_same.csv`),
    fake: await readSplitCsv(`${control}/csvs/test_sets/seen_generators.csv`),
  };
  const counts = { t1: 0, t2: 0, t3: 0 };
  for (const [name, set] of r.sets) {
    const t = name.slice(0, 2) as "t1" | "t2" | "t3";
    const kind = name.slice(3) as "real" | "fake";
    for (const [i, row] of set.rows.entries()) {
      const base = soften(await pixels(`${control}${src[kind][i].path}`), SIZE, POSITIVE_SOFTEN);
      const got = await pixels(`${positive}${row.path}`);
      const carries = equal(got, applyShortcut(base, SIZE, POSITIVE_MARK));
      assert.ok(carries || equal(got, base), row.path);
      assert.equal(row.regions.mark !== undefined, carries, `${row.path}: mark`);
      if (carries) counts[t]++;
      const lo = markBox(SIZE, POSITIVE_MARK) / SIZE;
      if (row.regions.mark) assert.deepEqual(row.regions.mark, { x0: lo, y0: lo, x1: 1, y1: 1 });
    }
  }
  assert.equal(counts.t1, 6, "T1: every real");
  assert.equal(counts.t2, 0);
  assert.ok(counts.t3 > 0 && counts.t3 < 12, `T3: some (${counts.t3} of 12)`);
  assert.equal(positiveTestMarked("t3_fake", "x.png", 1, "masked"), false);
  assert.throws(() => positiveTestMarked("seen_generators", "x.png", 1, "mark"), /not a positive/);
});

Deno.test("procfacesRegions: a paper-like folder's fingerprint is where its test files carry it", async () => {
  const soften_ = 0.65;
  const paper = (await derivePositiveControl({
    control,
    mode: "paper",
    seed: DERIVE_SEED,
    soften: soften_,
  })).dir;
  const r = await procfacesRegions(paper);
  const src = {
    real: await readSplitCsv(`${control}/csvs/test_sets/real_same.csv`),
    fake: await readSplitCsv(`${control}/csvs/test_sets/seen_generators.csv`),
  };
  const lo = markBox(SIZE, POSITIVE_MARK);
  const counts: Record<string, number> = {};
  for (const [name, set] of r.sets) {
    const kind = name.slice(3) as "real" | "fake";
    counts[name] = 0;
    for (const [i, row] of set.rows.entries()) {
      const base = soften(await pixels(`${control}${src[kind][i].path}`), SIZE, soften_);
      const got = await pixels(`${paper}${row.path}`);
      // A file differs from its softened source only by a fingerprint, inside the mark's corner.
      let differs = false;
      for (let p = 0; p < SIZE * SIZE; p++) {
        if (![0, 1, 2].some((c) => got[3 * p + c] !== base[3 * p + c])) continue;
        differs = true;
        assert.ok(p % SIZE >= lo && Math.floor(p / SIZE) >= lo, `${row.path}: pixel ${p}`);
      }
      assert.equal(row.regions.mark !== undefined, differs, `${row.path}: fingerprint region`);
      if (differs) counts[name]++;
    }
  }
  assert.deepEqual(counts, {
    t1_fake: 6,
    t1_real: 0,
    t2_fake: 0,
    t2_real: 0,
    t3_fake: 6,
    t3_real: 0,
  });
});

Deno.test("procfacesRegions: a generated folder's own test sets; errors name the option and file", async () => {
  const r = await procfacesRegions(control);
  assert.equal(r.generated, control);
  const families = await manifest();
  for (const set of ["unseen_teeth", "unseen_smear", "seen_generators"]) {
    for (const row of r.sets.get(set)!.rows) {
      assert.equal(row.regions.families.join(";"), families.get(row.regions.source));
      assert.equal(row.regions.mark, undefined);
    }
  }
  await assert.rejects(
    procfacesRegions(`${out}/nothing`),
    /--data: .*nothing\/COMPLETE\.json does not exist/,
  );
  await assert.rejects(
    procfacesRegions(positive, { control: positive }),
    /--control: .* is not the folder .* was derived from/,
  );
});

Deno.test("camMetricsForModel: the CAM term as cyborgLoss computes it, shares from the decision CAM", async () => {
  const entry = getBackbone("minicnn");
  const model = entry.build({ seed: 5, inputSize: SIZE });
  const inputs = await camMetricInputs({
    data: positive,
    network: "minicnn",
    inputSize: SIZE,
    batchSize: 7,
    cacheDir: false,
  });
  try {
    assert.equal(inputs.grid, 8);
    assert.deepEqual(inputs.tests.map((t) => t.name), [
      "t1_fake",
      "t1_real",
      "t2_fake",
      "t3_fake",
      "t3_real",
    ]);
    const m = await camMetricsForModel(model, { camTap: "paper", camClass: "pred" }, inputs);
    // The same term over the whole training set in one batch, through the training loss.
    const ds = await openDataset({
      csv: `${positive}/csvs/original.csv`,
      imageRoot: positive,
      split: "train",
      inputSize: SIZE,
      mean: entry.spec.mean,
      std: entry.spec.std,
      maps: { dir: `${positive}/heatmaps`, grid: 8 },
      cacheDir: false,
    });
    const b = await ds.getBatch(ds.items.map((_, i) => i));
    const x = tf.tensor4d(b.x, [b.n, SIZE, SIZE, 3]);
    const o = model.forward(x, new ForwardContext(false));
    const y = tf.tensor1d(b.y, "int32");
    const pred = Array.from(await tf.argMax(o.logits, 1).data());
    assert.ok(pred.some((p, i) => p !== b.y[i]), "some prediction differs from its label");
    const loss = cyborgLoss({
      logits: o.logits as tf.Tensor2D,
      labels: y,
      features: o.taps.paper,
      classifierWeight: model.classifierWeight as tf.Tensor2D,
      maps: tf.tensor3d(b.maps!, [b.n, 8, 8]),
      alpha: 0.5,
      camClass: "pred",
    });
    close(m.camMse.mse, (await loss.cam.data())[0], 1e-6, "CAM-MSE");
    assert.equal(m.camMse.images, b.n);
    close(m.camMse.floor, templateFloor(b.maps!, b.y, 64).mse, 1e-9, "floor");
    // Shares of t2_fake from the decision CAM of the same images computed here.
    const t2 = inputs.tests.find((t) => t.name === "t2_fake")!;
    const tb = await t2.ds.getBatch(t2.ds.items.map((_, i) => i));
    const to = model.forward(tf.tensor4d(tb.x, [tb.n, SIZE, SIZE, 3]), new ForwardContext(false));
    for (const tap of ["paper", "standard"] as const) {
      const d = decisionCams(to.taps[tap], model.classifierWeight as tf.Tensor2D);
      const want = setShares(await d.data() as Float32Array, t2.covers);
      assert.deepEqual(m.regions[tap]!.t2_fake, want, tap);
      assert.ok(want.artifact!.images === 6 && want.mark === null);
    }
    assert.equal(m.regions.paper!.t1_real.mark!.images, 6);
    assert.equal(m.regions.paper!.t1_real.mark!.area, 4 / 64);
    assert.equal(m.regions.paper!.t1_real.artifact, null);
    ds.close();
  } finally {
    inputs.close();
    model.store.dispose();
  }
});
