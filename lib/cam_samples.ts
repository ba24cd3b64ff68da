/**
 * CAMs of a model on a handful of images, for looking at: a trained run's best checkpoint (or any
 * built backbone) is run over chosen rows of a split CSV, and each image comes back with its score,
 * its normalised CAM and its pixels, ready to be drawn as "image | human map | CAM" overlays.
 *
 * @module
 */
import { getBackbone } from "./backbones/registry.ts";
import type { Backbone, CamTap } from "./backbones/types.ts";
import type { CamClass } from "./cam.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { openDataset, resolveImagePath } from "./data/dataset.ts";
import { decodeImage, loadImageRgb } from "./data/image.ts";
import type { Dataset, Label } from "./data/types.ts";
import { predict } from "./evaluate.ts";
import type { Map2D } from "./plots/figures.ts";
import { type GridImage, rawImageDataUrl } from "./plots/images.ts";
import { overlayMap } from "./plots/overlay.ts";
import { readJsonIfExists, RunDir } from "./run_dir.ts";

/** One image with the model's verdict and CAM. */
export interface CamSample {
  /** Path as written in the CSV. */
  csvPath: string;
  /** Image file. */
  image: string;
  /** 0 Real, 1 Synthetic. */
  label: Label;
  /** sigmoid(logit of Synthetic). */
  score: number;
  /** Arg-max class. */
  predicted: number;
  /** Normalised CAM (min-max to [0, 1]) at the backbone's CAM grid. */
  cam: Map2D;
  /** The image resized to the model's input size, RGB uint8. */
  pixels: { data: Uint8Array; size: number };
}

/** Options of {@linkcode camSamples}. */
export interface CamSampleOptions {
  /** The split CSV. */
  csv: string;
  /** Image root of the CSV paths. */
  imageRoot: string;
  /** Rows of this split (default `test`). */
  split?: "train" | "test";
  /** Which rows of the split (indices into its rows, default the first 4). */
  indices?: readonly number[];
  /** CAM tap (default `paper`). */
  tap?: CamTap;
  /** CAM of the predicted (default) or the true class. */
  camClass?: CamClass;
}

/** Runs `model` (eval mode) over chosen rows of a split CSV and returns their CAMs. */
export async function camSamples(model: Backbone, opts: CamSampleOptions): Promise<CamSample[]> {
  const ds = await openDataset({
    csv: opts.csv,
    imageRoot: opts.imageRoot,
    split: opts.split ?? "test",
    inputSize: model.inputSize,
    mean: model.spec.mean,
    std: model.spec.std,
    cacheDir: false,
  });
  const indices = opts.indices ?? [0, 1, 2, 3].filter((i) => i < ds.items.length);
  indices.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0 || i >= ds.items.length) {
      throw new Error(
        `indices[${k}]: ${i} is not a row of ${opts.csv} (${ds.items.length} ${
          opts.split ?? "test"
        } rows)`,
      );
    }
  });
  const subset: Dataset = {
    items: indices.map((i) => ds.items[i]),
    inputSize: ds.inputSize,
    getBatch: (idx) => ds.getBatch(idx.map((j) => indices[j])),
  };
  try {
    const p = await predict(model, subset, {
      batchSize: 16,
      cams: { tap: opts.tap ?? "paper", camClass: opts.camClass ?? "pred" },
    });
    const g = p.camGrid!;
    const out: CamSample[] = [];
    for (let k = 0; k < indices.length; k++) {
      const item = subset.items[k];
      const image = resolveImagePath(opts.imageRoot, item.path);
      out.push({
        csvPath: item.path,
        image,
        label: item.label,
        score: p.scores[k],
        predicted: p.predicted[k],
        cam: { data: p.cams!.slice(k * g * g, (k + 1) * g * g), height: g, width: g },
        pixels: { data: await loadImageRgb(image, model.inputSize), size: model.inputSize },
      });
    }
    return out;
  } finally {
    ds.close();
  }
}

/**
 * Builds a run's model from its `config.json` and loads its best checkpoint
 * (`<runDir>/checkpoints/best.safetensors`). Data paths in the returned config are as the run
 * recorded them (relative to the project root for runs of the reproduce job and the notebooks).
 */
export async function loadRunModel(
  runDir: string,
): Promise<{ model: Backbone; config: TrainConfig }> {
  const run = new RunDir(runDir);
  const file = await readJsonIfExists<{ config: TrainConfig }>(run.config);
  if (!file) throw new Error(`${run.config}: no such file (not a run folder?)`);
  const cfg = file.config;
  const entry = getBackbone(cfg.network);
  const model = entry.build({ seed: cfg.seed, inputSize: cfg.inputSize ?? entry.spec.inputSize });
  await loadCheckpoint(run.bestCheckpoint, model, null);
  return { model, config: cfg };
}

/** A grey map file (human map, mask) as a `size × size` map with values in [0, 1]. */
export async function readMapFile(path: string): Promise<Map2D> {
  const img = await decodeImage(path, "L");
  return {
    data: Float32Array.from(img.data, (v) => v / 255),
    height: img.height,
    width: img.width,
  };
}

/** An extra map drawn between a sample's image and its CAM (e.g. its human map or mask). */
export interface ExtraMap {
  /** Grey map file. */
  file: string;
  /** Caption. */
  title: string;
}

/**
 * Grid cells for samples, one row each: the image (captioned with its label and score), then,
 * when `extra` is given, the map it names drawn over the image (the plain image, captioned
 * "no map", where it returns undefined), then the CAM over the image. Use `cols` = 2 or 3.
 */
export async function camSampleCells(
  samples: readonly CamSample[],
  extra?: (s: CamSample) => ExtraMap | undefined | Promise<ExtraMap | undefined>,
  alpha = 0.5,
): Promise<GridImage[]> {
  const cells: GridImage[] = [];
  const cls = (l: number) => (l === 1 ? "Synthetic" : "Real");
  for (const s of samples) {
    const plain = await rawImageDataUrl({
      data: s.pixels.data,
      width: s.pixels.size,
      height: s.pixels.size,
      channels: 3,
    });
    cells.push({ src: plain, title: `${cls(s.label)}, score ${s.score.toFixed(2)}` });
    if (extra) {
      const m = await extra(s);
      cells.push(
        m
          ? {
            src: await rawImageDataUrl(overlayMap(s.pixels, await readMapFile(m.file), { alpha })),
            title: m.title,
          }
          : { src: plain, title: "no map" },
      );
    }
    cells.push({
      src: await rawImageDataUrl(overlayMap(s.pixels, s.cam, { alpha })),
      title: `CAM (${cls(s.predicted)})`,
    });
  }
  return cells;
}

/**
 * For {@linkcode camSampleCells}: the map of a sample in `dir` (`<dir>/<image base name>.png`,
 * the paper's heatmaps/masks layout) captioned `title`, or undefined when there is none.
 */
export function mapsIn(
  dir: string,
  title: string,
): (s: { csvPath: string }) => Promise<ExtraMap | undefined> {
  return async (s) => {
    const name = s.csvPath.slice(s.csvPath.lastIndexOf("/") + 1).replace(/\.[^.]+$/, "");
    const file = `${dir}/${name}.png`;
    return (await Deno.stat(file).then((st) => st.isFile, () => false))
      ? { file, title }
      : undefined;
  };
}
