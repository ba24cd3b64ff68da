/**
 * The annotation study as a figure: per image, the image, its merged map (`heatmaps/`) and each
 * annotator's map, drawn over it in jet colours.
 *
 * @module
 */
import { join } from "node:path";
import { readMapFile } from "../cam_samples.ts";
import { decodeImage, loadImageRgb } from "../data/image.ts";
import { mapPathFor } from "../data/dataset.ts";
import type { Figure } from "../plots/display.ts";
import { type GridImage, imageGridFigure, rawImageDataUrl } from "../plots/images.ts";
import { overlayMap } from "../plots/overlay.ts";
import { createAnnotationDemo } from "./demo.ts";
import { mergeAnnotations, mergeReport } from "./merge.ts";
import { listAnnotators, loadItems, mapPath } from "./store.ts";

/** Options of {@linkcode annotationFigure}. */
export interface AnnotationFigureOptions {
  /** The split CSV (default `<root>/csvs/original.csv`). */
  csv?: string;
  /** Images shown at most (default 3): the first ones with an annotator map. */
  max?: number;
  /** Pixel size of a cell (default 120). */
  cellSize?: number;
}

/**
 * The figure, or undefined when no training image of the CSV has an annotator map. Non-square
 * images are shown resized to a square (as training sees them).
 */
export async function annotationFigure(
  root: string,
  options: AnnotationFigureOptions = {},
): Promise<Figure | undefined> {
  const csv = options.csv ?? join(root, "csvs", "original.csv");
  const items = await loadItems(root, csv);
  const annotators = await listAnnotators(root);
  if (!annotators.length) return undefined;
  const rows: { image: string; name: string; maps: (string | undefined)[] }[] = [];
  for (const it of items) {
    if (rows.length >= (options.max ?? 3)) break;
    const maps = await Promise.all(annotators.map((a) => mapPath(root, a, it.name)));
    if (maps.some((m) => m)) rows.push({ image: it.image, name: it.name, maps });
  }
  if (!rows.length) return undefined;
  const cells: GridImage[] = [];
  for (const r of rows) {
    const dec = await decodeImage(r.image, "RGB");
    const size = Math.max(dec.width, dec.height);
    const img = { data: await loadImageRgb(r.image, size), size };
    const plain = await rawImageDataUrl({ data: img.data, width: size, height: size, channels: 3 });
    cells.push({ src: plain, title: r.name });
    const merged = mapPathFor(join(root, "heatmaps"), r.name);
    const files: [string | undefined, string][] = [
      [await Deno.stat(merged).then(() => merged, () => undefined), "merged"],
      ...r.maps.map((m, k) => [m, annotators[k]] as [string | undefined, string]),
    ];
    for (const [file, title] of files) {
      if (!file) {
        cells.push({ src: plain, title: `${title}: none` });
        continue;
      }
      const o = overlayMap(img, await readMapFile(file), { alpha: 0.55 });
      cells.push({ src: await rawImageDataUrl(o), title });
    }
  }
  return imageGridFigure(cells, {
    cols: annotators.length + 2,
    cellSize: options.cellSize ?? 120,
    title: "Image, merged human map, each annotator's map",
  });
}

/** What {@linkcode annotationStudyView} shows. */
export interface AnnotationStudyView {
  /** The data root shown (the demo's temporary folder when `demo`). */
  root: string;
  /** True when `root` had no annotator maps and a demo study was made instead. */
  demo: boolean;
  /** The merge report (coverage, agreement, accuracy) of the root shown. */
  summary: string;
  /** The figure of {@linkcode annotationFigure}. */
  figure: Figure;
}

/**
 * For a notebook: the annotation study of `root` when it has annotator maps (measured only,
 * nothing written), else a demo study (lib/annotate/demo.ts) created and merged in a temporary
 * folder.
 */
export async function annotationStudyView(
  root: string,
  options: AnnotationFigureOptions = {},
): Promise<AnnotationStudyView> {
  const own = await annotationFigure(root, options);
  if (own) {
    const s = await mergeAnnotations({ data: root, csv: options.csv, write: false });
    return {
      root,
      demo: false,
      summary: mergeReport(s).replace(/^merged maps written: 0\n/, ""),
      figure: own,
    };
  }
  const demo = await createAnnotationDemo(
    await Deno.makeTempDir({ prefix: "cyborg-annotation-demo-" }),
  );
  const s = await mergeAnnotations({ data: demo.root });
  const figure = await annotationFigure(demo.root, { ...options, csv: undefined });
  return { root: demo.root, demo: true, summary: mergeReport(s), figure: figure! };
}
