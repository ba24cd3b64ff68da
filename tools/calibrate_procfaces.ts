/**
 * Quick calibration check of a generated procedural-faces dataset (not a test; trains no CNN).
 *
 *   deno run -A tools/calibrate_procfaces.ts [--root data] [--variant both|shortcut|control]
 *     [--grid 8] [--lambda 1] [--json out.json]
 *
 * Fits two trivial linear probes (ridge regression on ±1 labels) on the training rows of
 * `csvs/original.csv` and reports their AUC in-sample, on the validation rows, and on every test
 * set (each fake test set scored against the `real_same` reals; `real_shifted` against the
 * `seen_generators` fakes):
 *
 * - `pixels`: the image box-downsampled to grid×grid RGB (global colour/layout statistics; sees
 *   the corner shortcut, cannot see pixel-period artifacts);
 * - `hp-energy`: log energy of the high-pass residual (pixel minus 3×3 mean) in grid×grid cells
 *   (a crude local-artifact detector).
 *
 * It also reports the mean shortcut-mark score per class and split. The intent is a sanity check
 * of "separable in training, much less on unseen generators" and of the shortcut's strength;
 * the real calibration uses the CNN in the training pipeline.
 *
 * @module
 */
import { rocAuc } from "../lib/metrics.ts";
import { shortcutScore } from "../lib/data/procfaces/shortcut.ts";
import { decodePng } from "../lib/data/procfaces/writer.ts";

interface Row {
  split: string;
  label: 0 | 1;
  path: string;
}

function parseArgs(argv: string[]) {
  const a = { root: "data", variant: "both", grid: 8, lambda: 1, json: "" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i], v = argv[++i];
    if (v === undefined) throw new Error(`${flag}: missing value`);
    if (flag === "--root") a.root = v;
    else if (flag === "--variant") {
      if (!["both", "shortcut", "control"].includes(v)) {
        throw new Error(`--variant: expected both, shortcut or control, got "${v}"`);
      }
      a.variant = v;
    } else if (flag === "--grid") {
      a.grid = Number(v);
      if (!Number.isInteger(a.grid) || a.grid < 1 || a.grid > 32) {
        throw new Error(`--grid: expected 1..32, got "${v}"`);
      }
    } else if (flag === "--lambda") {
      a.lambda = Number(v);
      if (!(a.lambda >= 0)) throw new Error(`--lambda: expected a number >= 0, got "${v}"`);
    } else if (flag === "--json") a.json = v;
    else throw new Error(`unknown option "${flag}"`);
  }
  return a;
}

async function readCsv(file: string): Promise<Row[]> {
  const text = await Deno.readTextFile(file);
  return text.trim().split("\n").map((l, i) => {
    const [split, label, path] = l.split(",");
    if (!path || (label !== "Real" && label !== "Synthetic")) {
      throw new Error(`${file}:${i + 1}: bad row "${l}"`);
    }
    return { split, label: label === "Real" ? 0 : 1, path };
  });
}

/** Both feature vectors and the shortcut score of one image. */
async function features(root: string, row: Row, grid: number) {
  const file = `${root}${row.path}`;
  const { size, pixels } = await decodePng(await Deno.readFile(file), 3);
  const cell = size / grid;
  const px = new Float32Array(grid * grid * 3), hp = new Float32Array(grid * grid);
  const lum = new Float32Array(size * size);
  for (let i = 0; i < size * size; i++) {
    lum[i] = (pixels[3 * i] + pixels[3 * i + 1] + pixels[3 * i + 2]) / 765;
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const c = Math.min(grid - 1, Math.floor(y / cell)) * grid +
        Math.min(grid - 1, Math.floor(x / cell));
      const i = y * size + x;
      for (let k = 0; k < 3; k++) px[3 * c + k] += pixels[3 * i + k] / 255;
      let m = 0, n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
          m += lum[yy * size + xx];
          n++;
        }
      }
      const r = lum[i] - m / n;
      hp[c] += r * r;
    }
  }
  const per = cell * cell;
  for (let i = 0; i < px.length; i++) px[i] /= per;
  for (let i = 0; i < hp.length; i++) hp[i] = Math.log(1e-6 + hp[i] / per);
  return { px, hp, shortcut: shortcutScore(pixels, size) };
}

/** Ridge regression on standardised features; returns a scoring function. */
function fitRidge(xs: Float32Array[], ys: number[], lambda: number): (x: Float32Array) => number {
  const n = xs.length, d = xs[0].length;
  const mean = new Float64Array(d), std = new Float64Array(d);
  for (const x of xs) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  for (const x of xs) for (let j = 0; j < d; j++) std[j] += (x[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  const D = d + 1; // with bias
  const A = new Float64Array(D * D), b = new Float64Array(D);
  const z = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) z[j] = (xs[i][j] - mean[j]) / std[j];
    z[d] = 1;
    const t = ys[i] ? 1 : -1;
    for (let p = 0; p < D; p++) {
      b[p] += z[p] * t;
      for (let q = 0; q < D; q++) A[p * D + q] += z[p] * z[q];
    }
  }
  for (let p = 0; p < d; p++) A[p * D + p] += lambda;
  // Gaussian elimination with partial pivoting.
  for (let c = 0; c < D; c++) {
    let piv = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(A[r * D + c]) > Math.abs(A[piv * D + c])) piv = r;
    if (piv !== c) {
      for (let q = 0; q < D; q++) [A[c * D + q], A[piv * D + q]] = [A[piv * D + q], A[c * D + q]];
      [b[c], b[piv]] = [b[piv], b[c]];
    }
    for (let r = c + 1; r < D; r++) {
      const f = A[r * D + c] / A[c * D + c];
      if (f === 0) continue;
      for (let q = c; q < D; q++) A[r * D + q] -= f * A[c * D + q];
      b[r] -= f * b[c];
    }
  }
  const w = new Float64Array(D);
  for (let r = D - 1; r >= 0; r--) {
    let s = b[r];
    for (let q = r + 1; q < D; q++) s -= A[r * D + q] * w[q];
    w[r] = s / A[r * D + r];
  }
  return (x) => {
    let s = w[d];
    for (let j = 0; j < d; j++) s += w[j] * (x[j] - mean[j]) / std[j];
    return s;
  };
}

type Feat = Awaited<ReturnType<typeof features>>;

async function calibrate(root: string, grid: number, lambda: number) {
  const orig = await readCsv(`${root}/csvs/original.csv`);
  const testDir = `${root}/csvs/test_sets`;
  const testSets: Record<string, Row[]> = {};
  for await (const e of Deno.readDir(testDir)) {
    if (e.name.endsWith(".csv")) {
      testSets[e.name.replace(/\.csv$/, "")] = await readCsv(`${testDir}/${e.name}`);
    }
  }
  const load = (rows: Row[]) => Promise.all(rows.map((r) => features(root, r, grid)));
  const train = orig.filter((r) => r.split === "train"),
    val = orig.filter((r) => r.split === "test");
  const [fTrain, fVal] = [await load(train), await load(val)];
  const fTest: Record<string, Feat[]> = {};
  for (const [k, rows] of Object.entries(testSets)) fTest[k] = await load(rows);
  const probes = {
    pixels: fitRidge(fTrain.map((f) => f.px), train.map((r) => r.label), lambda),
    "hp-energy": fitRidge(fTrain.map((f) => f.hp), train.map((r) => r.label), lambda),
  };
  const result: Record<string, Record<string, number>> = {};
  const evalSet = (name: string, rows: Row[], feats: Feat[]) => {
    result[name] = {};
    for (const [p, score] of Object.entries(probes)) {
      const s = feats.map((f) => score(p === "pixels" ? f.px : f.hp));
      result[name][p] = rocAuc(rows.map((r) => r.label), s);
    }
    const mean = (l: number) => {
      const v = feats.filter((_, i) => rows[i].label === l).map((f) => f.shortcut);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    };
    result[name]["mark(real)"] = mean(0);
    result[name]["mark(fake)"] = mean(1);
  };
  evalSet("train (in-sample)", train, fTrain);
  evalSet("validation", val, fVal);
  const reals = testSets["real_same"] ?? [];
  for (const [k, rows] of Object.entries(testSets).sort()) {
    if (k.startsWith("real_")) continue;
    evalSet(`test ${k} vs real_same`, [...reals, ...rows], [...fTest["real_same"], ...fTest[k]]);
  }
  if (testSets["real_shifted"] && testSets["seen_generators"]) {
    evalSet(
      "test real_shifted vs seen_generators",
      [...testSets["real_shifted"], ...testSets["seen_generators"]],
      [...fTest["real_shifted"], ...fTest["seen_generators"]],
    );
  }
  return result;
}

if (import.meta.main) {
  let args;
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error(`calibrate_procfaces: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const variants = args.variant === "both"
    ? ["procfaces", "procfaces-control"]
    : [args.variant === "shortcut" ? "procfaces" : "procfaces-control"];
  const all: Record<string, unknown> = {};
  for (const v of variants) {
    const root = `${args.root}/${v}`;
    try {
      await Deno.stat(`${root}/COMPLETE.json`);
    } catch {
      console.error(
        `calibrate_procfaces: ${root} is missing or incomplete (no COMPLETE.json): run deno task data`,
      );
      Deno.exit(1);
    }
    const t0 = performance.now();
    const res = await calibrate(root, args.grid, args.lambda);
    all[v] = res;
    console.log(
      `\n${root}  (ridge probes on ${args.grid}x${args.grid} cells, lambda ${args.lambda}; ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s)`,
    );
    console.log(
      `${"set".padEnd(42)} ${"AUC pixels".padStart(10)} ${"AUC hp".padStart(8)} ${
        "mark real".padStart(10)
      } ${"mark fake".padStart(10)}`,
    );
    for (const [k, r] of Object.entries(res)) {
      console.log(
        `${k.padEnd(42)} ${r.pixels.toFixed(3).padStart(10)} ${
          r["hp-energy"].toFixed(3).padStart(8)
        } ${r["mark(real)"].toFixed(2).padStart(10)} ${r["mark(fake)"].toFixed(2).padStart(10)}`,
      );
    }
  }
  if (args.json) await Deno.writeTextFile(args.json, JSON.stringify(all, null, 2) + "\n");
}
