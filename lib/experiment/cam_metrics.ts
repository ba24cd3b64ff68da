/**
 * Two CAM metrics of trained runs on the embedded benchmark, so that an experiment folder can
 * say where its models' evidence lies and whether their CAMs carry per-image information.
 *
 * **Region share of the decision CAM.** For each test image, the decision CAM
 * `(W_fake − W_real)·features` at the feature grid (`rawCam` with `camClassOneHot(…, "diff")`, no
 * normalisation), its positive part `max(cam, 0)` (the evidence for "fake"), and the share of that
 * positive mass inside a region: `Σ pos·cover / Σ pos`, where `cover` is the fraction of each grid
 * cell inside the region. Regions are resampled to the grid by area: cell `(i, j)` of a `g × g`
 * grid stands for the image box `[j/g, (j+1)/g) × [i/g, (i+1)/g)` (the grid spans the image
 * evenly; receptive fields are larger), and `cover` is the fraction of that box inside the region
 * (ellipses: the share of a `k × k` lattice of points per cell inside any ellipse of the union;
 * pixel masks: the mask averaged over the box; boxes: the exact overlap). Next to each share
 * stands the region's area share (the mean of `cover`), what a uniform CAM would give. An image
 * whose decision CAM has no positive cell has no share and is counted apart. Regions:
 *
 * - `artifact`: the union of a fake's artifact ellipses, recomputed from the dataset seed and the
 *   image's base name with the generator itself (`manifest.csv` lists only the family names);
 * - `artifactPixels`: the pixels its artifacts changed (the generated fake against the same item
 *   rendered without them, same face and sensor noise, any channel differing at 8 bits), since the
 *   generator feathers its masks beyond the ellipses: at 32 px about four fifths of the changed
 *   pixels lie outside them (the pixels of the generated image, before a positive-control
 *   folder's softening);
 * - `mark`: in the positive-control folders, the decoy's box (`markBox`), on the images that carry
 *   the decoy; in the paper-like folders, the same corner on the test fakes that carry a generator
 *   fingerprint (T1: the unseen generator's, T3: the seen generators').
 *
 * The shares are computed at the run's CAM tap and at the `standard` tap, the features global
 * pooling sees, whose decision CAM averages to the logit difference (less the bias difference).
 *
 * **CAM-MSE and the template floor.** The CAM term of the training loss, exactly as
 * {@linkcode cyborgLoss} computes it (the run's CAM tap and CAM class, min-max normalised CAM
 * against the human map resized to the grid, mean over images and cells), over the training rows
 * of `csvs/original.csv` with their own human maps, and the floor: the same MSE when every image's
 * CAM is replaced by one fixed map per class, the per-class mean of the normalised target maps.
 * That mean is the MSE-optimal image-agnostic per-class map (for each class, `Σ_i ‖T − M_i‖²` is
 * smallest at `T = mean_i M_i`), so a CAM-MSE below the floor is possible only for CAMs that carry
 * per-image information. The mean template min-max normalised, as a CAM always is, is reported too
 * (`normalisedTemplateMse`, at or above the floor). Models run in eval mode (running batch-norm
 * statistics), as when they are scored; training computed the term with batch statistics.
 *
 * The pure functions ({@linkcode ellipseCoverage}, {@linkcode maskCoverage},
 * {@linkcode boxCoverage}, {@linkcode positiveShare}, {@linkcode templateFloor}, …) take plain
 * arrays; the rest reads data folders and run folders ({@linkcode procfacesRegions},
 * {@linkcode camMetricsForModel}, {@linkcode experimentCamMetrics}); `tools/cam_metrics.ts` is the
 * command line.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../backbones/registry.ts";
import type { Backbone, CamTap } from "../backbones/types.ts";
import { type CamClass, camClassOneHot, computeCam, rawCam } from "../cam.ts";
import { loadRunModel } from "../cam_samples.ts";
import type { TrainConfig } from "../config.ts";
import { readSplitCsv } from "../data/csv.ts";
import { openDataset } from "../data/dataset.ts";
import {
  type Counts,
  PAPER_COUNTS,
  planDataset,
  type PlannedItem,
} from "../data/procfaces/layout.ts";
import { markBox, POSITIVE_MARK } from "../data/procfaces/positive_control.ts";
import { type Ellipse, ellipseDistance } from "../data/procfaces/raster.ts";
import { renderItem } from "../data/procfaces/sample.ts";
import type { AppliedArtifact } from "../data/procfaces/artifacts.ts";
import type { ShortcutSpec } from "../data/procfaces/shortcut.ts";
import { COMPLETE_MARKER } from "../data/procfaces/writer.ts";
import type { Batch, Dataset } from "../data/types.ts";
import { DATA_IDENTITY_FILE, dataIdentity } from "../data_identity.ts";
import { ForwardContext } from "../nn.ts";
import { summary } from "../positive_claims.ts";
import { hashString, Rng } from "../rng.ts";
import { readJsonIfExists, RunDir } from "../run_dir.ts";

// ------------------------------------------------------------------ pure functions

/** An axis-aligned box in normalised image coordinates (`x0 ≤ x < x1`, `y0 ≤ y < y1`, in [0, 1]). */
export interface Box {
  /** Left. */
  x0: number;
  /** Top. */
  y0: number;
  /** Right. */
  x1: number;
  /** Bottom. */
  y1: number;
}

/** Points per cell side at which {@linkcode ellipseCoverage} samples the union (default). */
export const COVERAGE_SAMPLES = 16;

/**
 * Fraction of each cell of a `grid × grid` feature grid (row-major) inside the union of
 * `ellipses` (normalised image coordinates, as the generator reports them): the share of a
 * `samples × samples` lattice of points (cell-centred) that lie inside at least one ellipse.
 */
export function ellipseCoverage(
  grid: number,
  ellipses: readonly Ellipse[],
  samples = COVERAGE_SAMPLES,
): Float32Array {
  const out = new Float32Array(grid * grid);
  if (ellipses.length === 0) return out;
  const n = grid * samples;
  const reach = ellipses.map((e) => Math.max(e.rx, e.ry));
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      // Only the ellipses whose bounding square meets the cell can hold its points.
      const near = ellipses.filter((e, k) =>
        e.cx + reach[k] >= j / grid && e.cx - reach[k] <= (j + 1) / grid &&
        e.cy + reach[k] >= i / grid && e.cy - reach[k] <= (i + 1) / grid
      );
      if (near.length === 0) continue;
      let inside = 0;
      for (let a = 0; a < samples; a++) {
        const v = (i * samples + a + 0.5) / n;
        for (let b = 0; b < samples; b++) {
          const u = (j * samples + b + 0.5) / n;
          if (near.some((e) => ellipseDistance(e, u, v) < 0)) inside++;
        }
      }
      out[i * grid + j] = inside / (samples * samples);
    }
  }
  return out;
}

/** Fraction of each cell of a `grid × grid` feature grid (row-major) inside `box` (exact overlap). */
export function boxCoverage(grid: number, box: Box): Float32Array {
  const out = new Float32Array(grid * grid);
  const overlap = (lo: number, hi: number, a: number, b: number) =>
    Math.max(0, Math.min(hi, b) - Math.max(lo, a));
  for (let i = 0; i < grid; i++) {
    const fy = overlap(i / grid, (i + 1) / grid, box.y0, box.y1) * grid;
    for (let j = 0; j < grid; j++) {
      out[i * grid + j] = fy * overlap(j / grid, (j + 1) / grid, box.x0, box.x1) * grid;
    }
  }
  return out;
}

/**
 * Fraction of each cell of a `grid × grid` feature grid (row-major) covered by a `size × size`
 * pixel mask (values in [0, 1], row-major): the mask averaged over the image box of each cell
 * (pixels straddling a cell border count with the part inside it).
 */
export function maskCoverage(mask: ArrayLike<number>, size: number, grid: number): Float32Array {
  if (mask.length !== size * size) {
    throw new Error(`maskCoverage: ${mask.length} values for a ${size}×${size} mask`);
  }
  // w[i][y]: the part of pixel row (or column) y inside cell i, in pixels.
  const w = Array.from({ length: grid }, (_, i) => {
    const lo = (i * size) / grid, hi = ((i + 1) * size) / grid;
    return Array.from(
      { length: size },
      (_, y) => Math.max(0, Math.min(hi, y + 1) - Math.max(lo, y)),
    );
  });
  const out = new Float32Array(grid * grid);
  const cellArea = (size / grid) ** 2;
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      let s = 0;
      for (let y = 0; y < size; y++) {
        if (w[i][y] === 0) continue;
        for (let x = 0; x < size; x++) {
          if (w[j][x] !== 0) s += w[i][y] * w[j][x] * mask[y * size + x];
        }
      }
      out[i * grid + j] = s / cellArea;
    }
  }
  return out;
}

/** The mean of a coverage map: the region's share of the image area (what a uniform CAM gives). */
export function areaShare(cover: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < cover.length; i++) s += cover[i];
  return s / cover.length;
}

/**
 * Share of the positive part of `cam` that lies in a region: `Σ max(cam, 0)·cover / Σ max(cam, 0)`
 * over the cells; null when no cell is positive.
 */
export function positiveShare(cam: ArrayLike<number>, cover: ArrayLike<number>): number | null {
  if (cam.length !== cover.length) {
    throw new Error(`positiveShare: CAM has ${cam.length} cells, the coverage ${cover.length}`);
  }
  let total = 0, inside = 0;
  for (let i = 0; i < cam.length; i++) {
    const p = cam[i] > 0 ? cam[i] : 0;
    total += p;
    inside += p * cover[i];
  }
  return total > 0 ? inside / total : null;
}

/** Region shares of a set of images: means over the images whose decision CAM has positive cells. */
export interface ShareSummary {
  /** Images with the region. */
  images: number;
  /** Of them, with a positive decision-CAM cell (the means are over these). */
  withPositive: number;
  /** Mean share of the positive decision CAM in the region (null when none has a positive cell). */
  share: number | null;
  /** Mean area share of the region (the share a uniform CAM would give), over the same images. */
  area: number | null;
}

/** Summarises per-image `(share, area)` pairs into a {@linkcode ShareSummary}. */
export function summariseShares(
  items: readonly { share: number | null; area: number }[],
): ShareSummary {
  const ok = items.filter((x) => x.share !== null);
  const avg = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null);
  return {
    images: items.length,
    withPositive: ok.length,
    share: avg(ok.map((x) => x.share!)),
    area: avg(ok.map((x) => x.area)),
  };
}

/** Mean of `(a − b)²` over all elements (the CAM term's mean over images and cells). */
export function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`meanSquaredError: ${a.length} values against ${b.length}`);
  }
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

/** Min-max normalises one map with the CAM's guard (a constant map becomes zeros). */
export function minMaxMap(map: ArrayLike<number>, epsilon = 1e-8): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    lo = Math.min(lo, map[i]);
    hi = Math.max(hi, map[i]);
  }
  return Float64Array.from(map as ArrayLike<number>, (v) => (v - lo) / (hi - lo + epsilon));
}

/** What {@linkcode templateFloor} returns. */
export interface TemplateFloor {
  /** Images per class (index = label). */
  counts: number[];
  /** The per-class mean target map (index = label), `cells` values each. */
  templates: Float64Array[];
  /** MSE of every image's target against its class's mean map: the floor. */
  mse: number;
  /** The same with each template min-max normalised first (as a CAM always is). */
  normalisedTemplateMse: number;
}

/**
 * The image-agnostic template floor of the CAM-MSE: `maps` holds one normalised target map of
 * `cells` values per image (row-major, `[n, cells]`), `labels` its class. The per-class mean map is
 * the MSE-optimal map that depends on the class only; its MSE against the targets is the floor.
 */
export function templateFloor(
  maps: ArrayLike<number>,
  labels: ArrayLike<number>,
  cells: number,
): TemplateFloor {
  const n = labels.length;
  if (maps.length !== n * cells) {
    throw new Error(`templateFloor: ${maps.length} map values for ${n} images of ${cells} cells`);
  }
  let k = 0;
  for (let i = 0; i < n; i++) k = Math.max(k, labels[i] + 1);
  const sums = Array.from({ length: k }, () => new Float64Array(cells));
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    counts[labels[i]]++;
    for (let j = 0; j < cells; j++) sums[labels[i]][j] += maps[i * cells + j];
  }
  const templates = sums.map((s, c) => s.map((v) => v / Math.max(counts[c], 1)));
  const normalised = templates.map((t) => minMaxMap(t));
  const mseOf = (ts: Float64Array[]) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const t = ts[labels[i]];
      for (let j = 0; j < cells; j++) s += (maps[i * cells + j] - t[j]) ** 2;
    }
    return n ? s / (n * cells) : 0;
  };
  return { counts, templates, mse: mseOf(templates), normalisedTemplateMse: mseOf(normalised) };
}

// ------------------------------------------------------------------ tensors

/**
 * The decision CAMs `(W_fake − W_real)·features` [B, h, w] of a batch of tap features: the raw
 * {@linkcode rawCam} with the `diff` class row, not normalised (its sign is the evidence's).
 */
export function decisionCams(features: tf.Tensor4D, classifierWeight: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const b = features.shape[0];
    const diff = camClassOneHot(tf.zeros([b, 2]) as tf.Tensor2D, tf.zeros([b], "int32"), "diff");
    return rawCam(features, classifierWeight, diff);
  });
}

/**
 * The CAMs the training loss compares with the maps: {@linkcode computeCam} of the tap features
 * with the class rows of `camClass` (exactly as {@linkcode cyborgLoss} builds them).
 */
export function lossCams(
  features: tf.Tensor4D,
  classifierWeight: tf.Tensor2D,
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  camClass: CamClass,
): tf.Tensor3D {
  return tf.tidy(() =>
    computeCam(features, classifierWeight, camClassOneHot(logits, labels, camClass))
  );
}

// ------------------------------------------------------------------ regions of the benchmark

/** The regions of one test image. */
export interface ImageRegions {
  /** The base name of the generated image it derives from. */
  source: string;
  /** Artifact families applied (fakes; empty for reals). */
  families: string[];
  /** Their ellipses (normalised image coordinates). */
  ellipses: Ellipse[];
  /** 1 where the artifacts changed the generated image (`size × size`; all 0 for reals). */
  changed: Uint8Array;
  /** The decoy mark's box, where the image carries the mark. */
  mark?: Box;
}

/** The regions of every test set of a benchmark folder, by test-set name, in CSV order. */
export interface BenchmarkRegions {
  /** The folder (`--data`). */
  root: string;
  /** The generated folder the images come from (the root itself, or its `procfaces-control`). */
  generated: string;
  /** Dataset seed of the generated folder. */
  seed: number;
  /** Image side. */
  size: number;
  /** Test-set name → its CSV and each row's regions. */
  sets: Map<string, { csv: string; rows: { path: string; label: 0 | 1; regions: ImageRegions }[] }>;
}

interface GeneratedMarker {
  format?: string;
  variant?: string;
  seed?: number;
  size?: number;
  counts?: Counts;
  digest?: string;
}

interface PositiveMarker {
  format?: string;
  mode?: string;
  seed?: number;
  spec?: ShortcutSpec;
  source?: string;
}

/**
 * Recomputes what the generator applied to the images of a generated folder: a function of the
 * dataset seed and the base name (`renderItem`, the generator itself, at the folder's size).
 */
export class ArtifactOracle {
  readonly #items: Map<string, PlannedItem>;
  readonly #memo = new Map<
    string,
    { families: string[]; ellipses: Ellipse[]; changed: Uint8Array }
  >();

  /** @param seed dataset seed; `size` image side; `counts` the folder's counts. */
  constructor(readonly seed: number, readonly size: number, counts: Counts = PAPER_COUNTS) {
    this.#items = new Map(planDataset(counts).items.map((it) => [it.base, it]));
  }

  /**
   * Families (in order, each once) and ellipses of the artifacts applied to `base`, and the pixels
   * they changed: the image against the same item rendered as a real (same face, same sensor
   * noise, no artifacts).
   */
  artifacts(base: string): { families: string[]; ellipses: Ellipse[]; changed: Uint8Array } {
    const hit = this.#memo.get(base);
    if (hit) return hit;
    const item = this.#items.get(base);
    if (!item) throw new Error(`no image "${base}" in the benchmark's plan`);
    const changed = new Uint8Array(this.size * this.size);
    let applied: AppliedArtifact[] = [];
    if (item.label === 1) {
      const fake = renderItem(this.seed, item, this.size, null);
      const clean = renderItem(this.seed, { ...item, label: 0, hasMap: false }, this.size, null);
      applied = fake.artifacts;
      for (let p = 0; p < changed.length; p++) {
        for (let c = 0; c < 3; c++) {
          if (fake.rgb[3 * p + c] !== clean.rgb[3 * p + c]) changed[p] = 1;
        }
      }
    }
    const out = {
      families: [...new Set(applied.map((a) => a.family))],
      ellipses: applied.map((a) => a.ellipse),
      changed,
    };
    this.#memo.set(base, out);
    return out;
  }
}

const baseOf = (p: string) => p.slice(p.lastIndexOf("/") + 1).replace(/\.[^.]+$/, "");

/**
 * Whether a positive-control test image carries the decoy, by the rule of
 * `derivePositiveControl`: T1 on every real and no fake, T2 on none, T3 on each image with
 * probability ½ (seeded by the derivation seed and the file name); none in the `masked` folder
 * (its mark region is painted black). In the paper-like folders (`paper`, `paper-twin`) the
 * region is the generators' fingerprint, in the same corner: on every T1 fake (the unseen
 * generator's) and every T3 fake (the seen generators'), on no real and no T2 image.
 */
export function positiveTestMarked(
  set: string,
  file: string,
  seed: number,
  mode: string,
): boolean {
  if (mode === "masked") return false;
  const m = /^(t[123])_(real|fake)$/.exec(set);
  if (!m) throw new Error(`not a positive-control test set: ${set}`);
  if (mode === "paper" || mode === "paper-twin") return m[2] === "fake" && m[1] !== "t2";
  if (m[1] === "t1") return m[2] === "real";
  if (m[1] === "t2") return false;
  return new Rng(hashString(`${seed}:${file}:t3`)).chance(0.5);
}

async function readMarker<T>(path: string, option: string): Promise<T> {
  const m = await readJsonIfExists<T>(path);
  if (!m) {
    throw new Error(
      `${option}: ${path} does not exist (not a complete benchmark folder: run deno task data)`,
    );
  }
  return m;
}

async function testSetNames(root: string, option: string): Promise<string[]> {
  const dir = `${root}/csvs/test_sets`;
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".csv")) names.push(e.name.slice(0, -4));
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${option}: ${dir} does not exist`);
    throw e;
  }
  if (names.length === 0) throw new Error(`${option}: ${dir} holds no CSV`);
  return names.sort();
}

/**
 * The regions of every test image of a benchmark folder: a generated `procfaces*` folder (base
 * names are the plan's) or a positive-control folder (`procfaces-positive*`, whose test image
 * `tN_<kind>_<i>` derives from row `i` of the control's `real_same` / `seen_generators` set). The
 * control folder defaults to the sibling `procfaces-control/` and must be the one the folder was
 * derived from (its digest). Errors name `option` (default `--data`) or `controlOption`.
 */
export async function procfacesRegions(
  root: string,
  opts: { control?: string; option?: string; controlOption?: string } = {},
): Promise<BenchmarkRegions> {
  const option = opts.option ?? "--data";
  const controlOption = opts.controlOption ?? "--control";
  root = root.replace(/\/+$/, "");
  const marker = await readMarker<GeneratedMarker & PositiveMarker>(
    `${root}/${COMPLETE_MARKER}`,
    option,
  );
  const sets: BenchmarkRegions["sets"] = new Map();
  if (marker.format?.startsWith("procfaces-positive/")) {
    const control = (opts.control ??
      `${root.slice(0, Math.max(0, root.lastIndexOf("/"))) || "."}/procfaces-control`)
      .replace(/\/+$/, "");
    const gen = await readMarker<GeneratedMarker>(
      `${control}/${COMPLETE_MARKER}`,
      opts.control ? controlOption : option,
    );
    if (gen.digest !== marker.source) {
      throw new Error(
        `${opts.control ? controlOption : option}: ${control} (digest ${gen.digest}) is not the ` +
          `folder ${root} was derived from (source digest ${marker.source})` +
          (opts.control ? "" : "; name it with --control"),
      );
    }
    const oracle = new ArtifactOracle(gen.seed!, gen.size!, gen.counts);
    const spec = marker.spec ?? POSITIVE_MARK;
    const lo = markBox(gen.size!, spec) / gen.size!;
    const box: Box = { x0: lo, y0: lo, x1: 1, y1: 1 };
    const sources = { real: "real_same", fake: "seen_generators" } as const;
    for (const set of await testSetNames(root, option)) {
      const m = /^t[123]_(real|fake)$/.exec(set);
      if (!m) continue;
      const csv = `${root}/csvs/test_sets/${set}.csv`;
      const rows = await readSplitCsv(csv);
      const srcCsv = `${control}/csvs/test_sets/${sources[m[1] as "real" | "fake"]}.csv`;
      const src = await readSplitCsv(srcCsv);
      if (src.length !== rows.length) {
        throw new Error(
          `${option}: ${csv} has ${rows.length} rows, its source ${srcCsv} ${src.length}`,
        );
      }
      sets.set(set, {
        csv,
        rows: rows.map((r, i) => {
          const source = baseOf(src[i].path);
          const file = r.path.slice(r.path.lastIndexOf("/") + 1);
          const marked = positiveTestMarked(set, file, marker.seed ?? 1, marker.mode ?? "mark");
          return {
            path: r.path,
            label: r.label,
            regions: { source, ...oracle.artifacts(source), ...(marked ? { mark: box } : {}) },
          };
        }),
      });
    }
    return { root, generated: control, seed: gen.seed!, size: gen.size!, sets };
  }
  if (!marker.format?.startsWith("procfaces/") || marker.seed === undefined || !marker.size) {
    throw new Error(
      `${option}: ${root} is not a procfaces benchmark folder (${COMPLETE_MARKER} format ` +
        `${marker.format})`,
    );
  }
  const oracle = new ArtifactOracle(marker.seed, marker.size, marker.counts);
  for (const set of await testSetNames(root, option)) {
    const csv = `${root}/csvs/test_sets/${set}.csv`;
    const rows = await readSplitCsv(csv);
    sets.set(set, {
      csv,
      rows: rows.map((r) => {
        const source = baseOf(r.path);
        return { path: r.path, label: r.label, regions: { source, ...oracle.artifacts(source) } };
      }),
    });
  }
  return { root, generated: root, seed: marker.seed, size: marker.size, sets };
}

// ------------------------------------------------------------------ runs

/** The regions measured: artifact ellipses, the pixels the artifacts changed, the decoy's box. */
export const REGION_KINDS = ["artifact", "artifactPixels", "mark"] as const;

/** One of {@linkcode REGION_KINDS}. */
export type RegionKind = (typeof REGION_KINDS)[number];

/**
 * Region shares of one test set at one tap: `artifact` and `artifactPixels` over the fakes (null
 * for a set of reals), `mark` over the images that carry the decoy (null when none does).
 */
export type SetShares = Record<RegionKind, ShareSummary | null>;

/** CAM-MSE of a run against the training maps, with the floor. */
export interface CamMseResult {
  /** CAM tap (the run's). */
  tap: CamTap;
  /** CAM class (the run's). */
  camClass: CamClass;
  /** Training images (all with a map). */
  images: number;
  /** The CAM term of the loss over them. */
  mse: number;
  /** The image-agnostic template floor ({@linkcode templateFloor}). */
  floor: number;
  /** `mse − floor` (negative: the CAMs carry per-image information). */
  belowFloor: number;
}

/** Both metrics of one run. */
export interface RunCamMetrics {
  /** Strategy folder name. */
  strategy: string;
  /** Seed. */
  seed: number;
  /** The run folder. */
  dir: string;
  /** α of the run. */
  alpha: number;
  /** CAM-MSE against the training maps. */
  camMse: CamMseResult;
  /** Region shares of the decision CAM, per tap, per test set. */
  regions: Partial<Record<CamTap, Record<string, SetShares>>>;
}

/**
 * A dataset's batches, read once and kept (up to `budgetBytes` of pixels in all; beyond that they
 * are read again each time).
 */
export class BatchMemo {
  readonly #memo = new Map<string, Batch[]>();
  #bytes = 0;

  /** @param budgetBytes pixel bytes to keep in memory. */
  constructor(readonly budgetBytes = 512 * 2 ** 20) {}

  /** The batches of `ds` in order, `batchSize` images each. */
  async batches(key: string, ds: Dataset, batchSize: number): Promise<Batch[]> {
    const hit = this.#memo.get(key);
    if (hit) return hit;
    const out: Batch[] = [];
    for (let i = 0; i < ds.items.length; i += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, ds.items.length - i) }, (_, k) => i + k);
      out.push(await ds.getBatch(idx));
    }
    const bytes = out.reduce((n, b) => n + b.x.byteLength + (b.maps?.byteLength ?? 0), 0);
    if (this.#bytes + bytes <= this.budgetBytes) {
      this.#memo.set(key, out);
      this.#bytes += bytes;
    }
    return out;
  }
}

/** The inputs shared by every run of an experiment: datasets, regions, the floor. */
export interface CamMetricInputs {
  /** Network and input size of the runs. */
  network: string;
  /** Input side. */
  inputSize: number;
  /** CAM grid side. */
  grid: number;
  /** The benchmark's regions. */
  regions: BenchmarkRegions;
  /** Training rows of `csvs/original.csv` with their maps at the grid. */
  train: Dataset;
  /** The test sets that have a region to measure, in name order. */
  tests: { name: string; ds: Dataset; regions: ImageRegions[]; covers: CoverMaps[] }[];
  /** The template floor of the training maps. */
  floor: TemplateFloor;
  /** Batch size of the forward passes. */
  batchSize: number;
  /** Batches kept in memory across runs. */
  memo: BatchMemo;
  /** Closes the datasets. */
  close(): void;
}

/** The coverage maps of one image at the grid. */
export interface CoverMaps {
  /** The union of its artifact ellipses (fakes). */
  artifact?: Float32Array;
  /** The pixels its artifacts changed (fakes). */
  artifactPixels?: Float32Array;
  /** The decoy's box (images with the mark). */
  mark?: Float32Array;
}

/**
 * Opens what every run of an experiment needs: the benchmark's regions, the training maps of
 * `csvs/original.csv` at the CAM grid (and their floor), and the test sets with a region (fakes, or
 * images with the decoy) with each image's coverage maps.
 */
export async function camMetricInputs(opts: {
  data: string;
  network: string;
  inputSize: number;
  control?: string;
  batchSize?: number;
  memoBytes?: number;
  /** Pixel cache of the datasets (`openDataset`'s `cacheDir`; default its default). */
  cacheDir?: string | false;
}): Promise<CamMetricInputs> {
  const regions = await procfacesRegions(opts.data, { control: opts.control });
  const entry = getBackbone(opts.network);
  const grid = entry.spec.camGrid(opts.inputSize);
  const { mean, std } = entry.spec;
  const batchSize = opts.batchSize ?? 128;
  const memo = new BatchMemo(opts.memoBytes);
  const root = regions.root;
  const train = await openDataset({
    csv: `${root}/csvs/original.csv`,
    imageRoot: root,
    split: "train",
    inputSize: opts.inputSize,
    mean,
    std,
    maps: { dir: `${root}/heatmaps`, grid },
    cacheDir: opts.cacheDir,
  });
  const closers = [() => train.close()];
  const maps = new Float32Array(train.items.length * grid * grid);
  const labels = new Int32Array(train.items.length);
  let off = 0;
  for (const b of await memo.batches("train", train, batchSize)) {
    maps.set(b.maps!, off * grid * grid);
    labels.set(b.y, off);
    off += b.n;
  }
  const floor = templateFloor(maps, labels, grid * grid);
  // Test images that derive from the same generated image share its ellipses.
  const byImage = new Map<string, Pick<CoverMaps, "artifact" | "artifactPixels">>();
  const artifactCover = (r: ImageRegions) => {
    let c = byImage.get(r.source);
    if (!c) {
      c = {
        artifact: ellipseCoverage(grid, r.ellipses),
        artifactPixels: maskCoverage(r.changed, regions.size, grid),
      };
      byImage.set(r.source, c);
    }
    return c;
  };
  const tests: CamMetricInputs["tests"] = [];
  for (const [name, set] of regions.sets) {
    const covers = set.rows.map((r): CoverMaps => ({
      ...(r.label === 1 ? artifactCover(r.regions) : {}),
      ...(r.regions.mark ? { mark: boxCoverage(grid, r.regions.mark) } : {}),
    }));
    if (!covers.some((c) => c.artifact || c.mark)) continue;
    const ds = await openDataset({
      csv: set.csv,
      imageRoot: root,
      split: "test",
      inputSize: opts.inputSize,
      mean,
      std,
      cacheDir: opts.cacheDir,
    });
    closers.push(() => ds.close());
    if (ds.items.length !== set.rows.length) {
      throw new Error(`${set.csv}: ${ds.items.length} test rows, expected ${set.rows.length}`);
    }
    tests.push({ name, ds, regions: set.rows.map((r) => r.regions), covers });
  }
  return {
    network: opts.network,
    inputSize: opts.inputSize,
    grid,
    regions,
    train,
    tests,
    floor,
    batchSize,
    memo,
    close: () => closers.forEach((c) => c()),
  };
}

/**
 * Region shares of decision CAMs: `cams` holds `[n, cells]` raw decision CAMs, `covers` each
 * image's coverage maps at the same grid.
 */
export function setShares(cams: Float32Array, covers: readonly CoverMaps[]): SetShares {
  const cells = cams.length / covers.length;
  const per = new Map<RegionKind, { share: number | null; area: number }[]>(
    REGION_KINDS.map((k) => [k, []]),
  );
  covers.forEach((c, i) => {
    const cam = cams.subarray(i * cells, (i + 1) * cells);
    for (const kind of REGION_KINDS) {
      const cover = c[kind];
      if (cover) per.get(kind)!.push({ share: positiveShare(cam, cover), area: areaShare(cover) });
    }
  });
  const of = (k: RegionKind) => (per.get(k)!.length ? summariseShares(per.get(k)!) : null);
  return { artifact: of("artifact"), artifactPixels: of("artifactPixels"), mark: of("mark") };
}

/**
 * Both metrics for one trained model: the CAM-MSE at its training tap and CAM class (and the
 * floor), and the decision CAM's region shares at `taps` (default: the run's tap and `standard`,
 * the features global pooling sees, whose decision CAM sums to the logit difference without bias).
 * One forward pass per batch, one read per batch.
 */
export async function camMetricsForModel(
  model: Backbone,
  config: Pick<TrainConfig, "camTap" | "camClass">,
  inputs: CamMetricInputs,
  taps: readonly CamTap[] = [...new Set<CamTap>([config.camTap, "standard"])],
): Promise<Pick<RunCamMetrics, "camMse" | "regions">> {
  const w = model.classifierWeight as tf.Tensor2D;
  const s = inputs.inputSize;
  const cells = inputs.grid * inputs.grid;
  // CAM-MSE over the training rows.
  let sq = 0, n = 0;
  for (const b of await inputs.memo.batches("train", inputs.train, inputs.batchSize)) {
    const cam = tf.tidy(() => {
      const out = model.forward(tf.tensor4d(b.x, [b.n, s, s, 3]), new ForwardContext(false));
      return lossCams(
        out.taps[config.camTap],
        w,
        out.logits,
        tf.tensor1d(b.y, "int32"),
        config.camClass,
      );
    });
    const v = await cam.data();
    cam.dispose();
    sq += meanSquaredError(v, b.maps!) * b.n * cells;
    n += b.n;
  }
  const mse = sq / (n * cells);
  const regions: RunCamMetrics["regions"] = {};
  for (const tap of taps) regions[tap] = {};
  for (const t of inputs.tests) {
    const all = taps.map(() => new Float32Array(t.covers.length * cells));
    let off = 0;
    for (const b of await inputs.memo.batches(`test:${t.name}`, t.ds, inputs.batchSize)) {
      const cams = tf.tidy(() => {
        const out = model.forward(tf.tensor4d(b.x, [b.n, s, s, 3]), new ForwardContext(false));
        return taps.map((tap) => decisionCams(out.taps[tap], w));
      });
      const vals = await Promise.all(cams.map((c) => c.data()));
      tf.dispose(cams);
      vals.forEach((v, k) => all[k].set(v as Float32Array, off * cells));
      off += b.n;
    }
    taps.forEach((tap, k) => (regions[tap]![t.name] = setShares(all[k], t.covers)));
  }
  return {
    camMse: {
      tap: config.camTap,
      camClass: config.camClass,
      images: n,
      mse,
      floor: inputs.floor.mse,
      belowFloor: mse - inputs.floor.mse,
    },
    regions,
  };
}

/** A run folder of an experiment (`<exp>/<strategy>/s<seed>`). */
export interface ExperimentRun {
  /** Strategy folder name. */
  strategy: string;
  /** Seed. */
  seed: number;
  /** The run folder. */
  dir: string;
}

/**
 * The run folders of an experiment folder: `<exp>/<strategy>/s<seed>/` holding `config.json`
 * and `checkpoints/best.safetensors`, by strategy name, then seed. Errors name `option`.
 */
export async function runFolders(exp: string, option = "--exp"): Promise<ExperimentRun[]> {
  const dirs = async (p: string) => {
    const out: string[] = [];
    for await (const e of Deno.readDir(p)) if (e.isDirectory) out.push(e.name);
    return out.sort();
  };
  let strategies: string[];
  try {
    strategies = await dirs(exp);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${option}: ${exp} does not exist`);
    throw e;
  }
  const runs: ExperimentRun[] = [];
  for (const strategy of strategies) {
    for (const s of await dirs(`${exp}/${strategy}`)) {
      const m = /^s(\d+)$/.exec(s);
      const dir = `${exp}/${strategy}/${s}`;
      if (!m || !(await readJsonIfExists(new RunDir(dir).config))) continue;
      runs.push({ strategy, seed: Number(m[1]), dir });
    }
  }
  runs.sort((a, b) => a.strategy.localeCompare(b.strategy) || a.seed - b.seed);
  if (runs.length === 0) {
    throw new Error(`${option}: no run folders (<strategy>/s<seed>/config.json) under ${exp}`);
  }
  return runs;
}

/** Mean ± sd over seeds. */
export type Spread = ReturnType<typeof summary>;

/** Per strategy: the metrics' mean ± sd over its seeds. */
export interface StrategySummary {
  /** Seeds. */
  runs: number;
  /** CAM-MSE. */
  camMse: Spread;
  /** CAM-MSE − floor. */
  belowFloor: Spread;
  /** Per tap, per test set, per region: mean share and mean area. */
  regions: Partial<Record<CamTap, Record<string, Partial<Record<RegionKind, RegionSpread>>>>>;
}

/** A region's share and area, mean ± sd over seeds. */
export interface RegionSpread {
  /** Mean share of the positive decision CAM. */
  share: Spread;
  /** Area share (uniform CAM). */
  area: Spread;
}

/** Mean ± sd over each strategy's seeds of every metric in `runs`. */
export function summariseRuns(runs: readonly RunCamMetrics[]): Record<string, StrategySummary> {
  const out: Record<string, StrategySummary> = {};
  const num = (v: (number | null | undefined)[]) => v.filter((x): x is number => x != null);
  for (const strategy of [...new Set(runs.map((r) => r.strategy))]) {
    const rs = runs.filter((r) => r.strategy === strategy);
    const regions: StrategySummary["regions"] = {};
    for (const tap of Object.keys(rs[0].regions) as CamTap[]) {
      regions[tap] = {};
      for (const set of Object.keys(rs[0].regions[tap]!)) {
        const entry: Partial<Record<RegionKind, RegionSpread>> = {};
        for (const kind of REGION_KINDS) {
          const v = rs.map((r) => r.regions[tap]?.[set]?.[kind]);
          if (v.every((x) => !x)) continue;
          entry[kind] = {
            share: summary(num(v.map((x) => x?.share))),
            area: summary(num(v.map((x) => x?.area))),
          };
        }
        regions[tap]![set] = entry;
      }
    }
    out[strategy] = {
      runs: rs.length,
      camMse: summary(rs.map((r) => r.camMse.mse)),
      belowFloor: summary(rs.map((r) => r.camMse.belowFloor)),
      regions,
    };
  }
  return out;
}

/** What {@linkcode experimentCamMetrics} returns (the CLI writes it as JSON). */
export interface ExperimentCamMetrics {
  /** Format tag. */
  format: "cyborg-kit-cam-metrics/1";
  /** The experiment folder. */
  exp: string;
  /** The benchmark folder. */
  data: string;
  /** Its data identity (`lib/data_identity.ts`). */
  dataIdentity: string;
  /** The generated folder the regions were recomputed from, and its seed and image size. */
  generated: { root: string; seed: number; size: number };
  /** Network, input size and CAM grid of the runs. */
  network: string;
  /** Input side. */
  inputSize: number;
  /** CAM grid side. */
  grid: number;
  /** How each number is defined. */
  definitions: Record<string, string>;
  /** The template floor over the training maps. */
  floor: { images: number; perClass: number[]; mse: number; normalisedTemplateMse: number };
  /** Per run. */
  runs: RunCamMetrics[];
  /** Per strategy, mean ± sd over seeds. */
  summary: Record<string, StrategySummary>;
  /** Wall time in seconds. */
  seconds: number;
}

/** Definitions written next to the numbers. */
export const CAM_METRIC_DEFINITIONS: Record<string, string> = {
  "regions.<tap>.<set>.artifact.share":
    "mean over the set's fakes of Σ max(D,0)·cover / Σ max(D,0), D = (W_fake − W_real)·features " +
    "at the tap (raw decision CAM at the feature grid), cover = fraction of each grid cell " +
    "(the image box it spans) inside the union of the generator's artifact ellipses; images " +
    "without a positive cell are left out (images − withPositive)",
  "regions.<tap>.<set>.artifact.area": "mean area share of the union (what a uniform CAM gives)",
  "regions.<tap>.<set>.artifactPixels": "the same for the pixels the artifacts changed in the " +
    "generated image (against the same face without them; cover = the cell's share of them)",
  "regions.<tap>.<set>.mark.share": "the same for the decoy mark's box, over images carrying it",
  "camMse.mse": "the training loss's CAM term (the run's tap and CAM class, min-max normalised " +
    "CAM vs the human map resized to the grid, mean over images and cells) over the training " +
    "rows of csvs/original.csv with their own maps; model in eval mode",
  "floor.mse": "the same MSE with every CAM replaced by its class's mean normalised target map, " +
    "the MSE-optimal image-agnostic per-class map; a CAM-MSE below it needs per-image information",
  "floor.normalisedTemplateMse": "the same with the mean map min-max normalised (as a CAM is)",
};

/**
 * Both metrics for every run of an experiment folder (`<exp>/<strategy>/s<seed>/`) against the
 * benchmark folder it was trained on (checked against `<exp>/data_identity.json` when present).
 */
export async function experimentCamMetrics(opts: {
  exp: string;
  data: string;
  control?: string;
  batchSize?: number;
  taps?: CamTap[];
  cacheDir?: string | false;
  log?: (line: string) => void;
}): Promise<ExperimentCamMetrics> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const exp = opts.exp.replace(/\/+$/, "");
  const data = opts.data.replace(/\/+$/, "");
  const runs = await runFolders(exp);
  await readMarker(`${data}/${COMPLETE_MARKER}`, "--data");
  const identity = await dataIdentity(data);
  const recorded = await readJsonIfExists<{ identity: string; root: string }>(
    `${exp}/${DATA_IDENTITY_FILE}`,
  );
  if (recorded && recorded.identity !== identity) {
    throw new Error(
      `--data: ${data} is ${identity}, but the runs of ${exp} were trained on ` +
        `${recorded.identity} (${recorded.root}, ${exp}/${DATA_IDENTITY_FILE})`,
    );
  }
  const first = await loadRunModel(runs[0].dir);
  const { network, inputSize } = first.config;
  const size = inputSize ?? getBackbone(network).spec.inputSize;
  const inputs = await camMetricInputs({
    data,
    network,
    inputSize: size,
    control: opts.control,
    batchSize: opts.batchSize,
    cacheDir: opts.cacheDir,
  });
  try {
    const results: RunCamMetrics[] = [];
    for (const [k, run] of runs.entries()) {
      const { model, config } = k === 0 ? first : await loadRunModel(run.dir);
      const runSize = config.inputSize ?? getBackbone(config.network).spec.inputSize;
      if (config.network !== network || runSize !== size) {
        throw new Error(
          `${new RunDir(run.dir).config}: ${config.network} at ${runSize} px, but ` +
            `${runs[0].dir} is ${network} at ${size} px (one network per experiment folder)`,
        );
      }
      const t = performance.now();
      const m = await camMetricsForModel(model, config, inputs, opts.taps);
      model.store.dispose();
      results.push({ ...run, alpha: config.alpha, ...m });
      log(
        `${run.strategy}/s${run.seed}: CAM-MSE ${m.camMse.mse.toFixed(4)} (floor ` +
          `${m.camMse.floor.toFixed(4)}) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    return {
      format: "cyborg-kit-cam-metrics/1",
      exp,
      data,
      dataIdentity: identity,
      generated: {
        root: inputs.regions.generated,
        seed: inputs.regions.seed,
        size: inputs.regions.size,
      },
      network,
      inputSize: size,
      grid: inputs.grid,
      definitions: CAM_METRIC_DEFINITIONS,
      floor: {
        images: inputs.floor.counts.reduce((a, b) => a + b, 0),
        perClass: inputs.floor.counts,
        mse: inputs.floor.mse,
        normalisedTemplateMse: inputs.floor.normalisedTemplateMse,
      },
      runs: results,
      summary: summariseRuns(results),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    inputs.close();
  }
}
