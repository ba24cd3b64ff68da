/**
 * Figures of a data root's images (from `lib/data/samples.ts`): grids of faces per source, the
 * human saliency maps and segmentation masks drawn over their images, and the shortcut variant
 * next to its control.
 *
 * @module
 */
import { type DataSample } from "../data/samples.ts";
import { decodeImage, loadImageRgb } from "../data/image.ts";
import { readMapFile } from "../cam_samples.ts";
import type { Figure } from "../plots/display.ts";
import { type GridImage, imageGridFigure, rawImageDataUrl } from "../plots/images.ts";
import { overlayMap } from "../plots/overlay.ts";

async function rgb(path: string): Promise<{ data: Uint8Array; size: number }> {
  const img = await decodeImage(path, "RGB").catch((e) => {
    throw new Error(`${path}: cannot read image (${(e as Error).message})`);
  });
  const size = Math.max(img.width, img.height);
  if (img.width === img.height) return { data: img.data, size };
  return { data: await loadImageRgb(path, size), size };
}

async function png(image: { data: Uint8Array; size: number }): Promise<string> {
  return await rawImageDataUrl({
    data: image.data,
    width: image.size,
    height: image.size,
    channels: 3,
  });
}

/** Options of the sample figures. */
export interface SampleFigureOptions {
  /** Figure title. */
  title?: string;
  /** Pixel size of a cell (default 96). */
  cellSize?: number;
}

/**
 * One row per source (generator / real source), its images left to right; the first image of a
 * row is captioned with the source, the others with their artifact families when known (both cut
 * to 18 characters).
 */
export async function sampleGridFigure(
  groups: ReadonlyMap<string, readonly DataSample[]>,
  options: SampleFigureOptions = {},
): Promise<Figure> {
  const cols = Math.max(0, ...[...groups.values()].map((g) => g.length));
  if (cols === 0) throw new Error("sampleGridFigure: no samples");
  const cells: GridImage[] = [];
  for (const [source, group] of groups) {
    for (let i = 0; i < cols; i++) {
      const s = group[i];
      if (!s) {
        cells.push({ src: await png({ data: new Uint8Array(3).fill(255), size: 1 }) });
        continue;
      }
      const detail = s.artifacts ? shorten(s.artifacts.replaceAll(";", "+"), 18) : "";
      cells.push({
        src: await png(await rgb(s.image)),
        title: i === 0 ? shorten(source, 18) : detail,
      });
    }
  }
  return imageGridFigure(cells, {
    cols,
    cellSize: options.cellSize ?? 130,
    title: options.title,
  });
}

/** `text` cut to `max` characters with an ellipsis. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * One row per sample: the image, its human saliency map over it, its segmentation mask over it
 * (a plain image captioned "none" where the sample has no map or mask).
 */
export async function mapOverlayFigure(
  samples: readonly DataSample[],
  options: SampleFigureOptions & { alpha?: number } = {},
): Promise<Figure> {
  if (!samples.length) throw new Error("mapOverlayFigure: no samples");
  const alpha = options.alpha ?? 0.55;
  const cells: GridImage[] = [];
  for (const s of samples) {
    const img = await rgb(s.image);
    const plain = await png(img);
    cells.push({
      src: plain,
      title: shorten(`${s.label === 1 ? "fake" : "real"} ${s.source}`, 20),
    });
    for (const [file, what] of [[s.map, "human map"], [s.mask, "mask"]] as const) {
      cells.push(
        file
          ? { src: await png(overlayOf(img, await readMapFile(file), alpha)), title: what }
          : { src: plain, title: `no ${what}` },
      );
    }
  }
  return imageGridFigure(cells, {
    cols: 3,
    cellSize: options.cellSize ?? 140,
    title: options.title ?? "Images, human maps, masks",
  });
}

function overlayOf(
  img: { data: Uint8Array; size: number },
  map: Awaited<ReturnType<typeof readMapFile>>,
  alpha: number,
): { data: Uint8Array; size: number } {
  const o = overlayMap(img, map, { alpha });
  return { data: o.data, size: o.width };
}

/**
 * The same images in two data roots side by side (e.g. the shortcut variant and its control),
 * with their absolute difference amplified `gain` times (default 12: the embedded shortcut's mark
 * has an amplitude of 14 grey levels) in a third column.
 */
export async function variantPairFigure(
  samples: readonly DataSample[],
  otherRoot: string,
  labels: [string, string],
  options: SampleFigureOptions & { gain?: number } = {},
): Promise<Figure> {
  if (!samples.length) throw new Error("variantPairFigure: no samples");
  const gain = options.gain ?? 12;
  const cells: GridImage[] = [];
  for (const s of samples) {
    const a = await rgb(s.image);
    const otherPath = `${otherRoot}/${s.csvPath.replace(/^[/\\]+/, "")}`;
    const b = await rgb(otherPath);
    if (a.size !== b.size) {
      throw new Error(`${otherPath}: ${b.size} px, but ${s.image} is ${a.size} px`);
    }
    const diff = new Uint8Array(a.data.length);
    for (let i = 0; i < diff.length; i++) {
      diff[i] = Math.min(255, Math.abs(a.data[i] - b.data[i]) * gain);
    }
    cells.push(
      { src: await png(a), title: shorten(`${labels[0]}: ${s.base}`, 22) },
      { src: await png(b), title: labels[1] },
      { src: await png({ data: diff, size: a.size }), title: `|difference| × ${gain}` },
    );
  }
  return imageGridFigure(cells, {
    cols: 3,
    cellSize: options.cellSize ?? 140,
    title: options.title,
  });
}
