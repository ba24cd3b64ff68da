/**
 * Images for figures and reports: PNG encoding of pixel arrays and maps (through sharp), data
 * URLs, and image grids (a Plotly `layout.images` grid or an HTML table).
 *
 * @module
 */
import type { Figure } from "./display.ts";
import { escapeHtml } from "./display.ts";

/** Raw pixels: `height × width × channels`, row-major, top row first. */
export interface RawImage {
  /** Pixel values; Uint8 values are used as is, floats are scaled from `range` to 0..255. */
  data: ArrayLike<number>;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 3 | 4;
  /** Value range mapped to 0..255 for non-Uint8 data (default [0, 1]). */
  range?: [number, number];
}

async function sharpModule() {
  return (await import("sharp")).default;
}

/** Encodes raw pixels as PNG bytes. */
export async function encodePng(image: RawImage): Promise<Uint8Array> {
  const { width, height, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePng: bad size ${width}×${height}`);
  }
  if (![1, 3, 4].includes(channels)) throw new Error(`encodePng: channels ${channels} not 1/3/4`);
  const n = width * height * channels;
  if (image.data.length !== n) {
    throw new Error(
      `encodePng: ${image.data.length} values for ${width}×${height}×${channels} (= ${n})`,
    );
  }
  let bytes: Uint8Array;
  if (image.data instanceof Uint8Array || image.data instanceof Uint8ClampedArray) {
    bytes = new Uint8Array(image.data);
  } else {
    const [lo, hi] = image.range ?? [0, 1];
    if (!(hi > lo)) throw new Error(`encodePng: range [${lo}, ${hi}] is empty`);
    bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = (image.data[i] - lo) / (hi - lo);
      bytes[i] = Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0;
    }
  }
  const sharp = await sharpModule();
  const png = await sharp(bytes, { raw: { width, height, channels } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Base64 of bytes (chunked, safe for large images). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** `data:image/png;base64,…` for PNG bytes. */
export function pngDataUrl(png: Uint8Array): string {
  if (png.length < 8 || png[0] !== 0x89 || png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) {
    throw new Error("pngDataUrl: bytes are not a PNG (bad signature)");
  }
  return `data:image/png;base64,${toBase64(png)}`;
}

/** Encodes raw pixels and returns a PNG data URL. */
export async function rawImageDataUrl(image: RawImage): Promise<string> {
  return pngDataUrl(await encodePng(image));
}

/**
 * Reads an image file (any format sharp decodes), optionally resizes it to fit `maxSide`, and
 * returns a PNG data URL. Errors name the file.
 */
export async function imageFileDataUrl(path: string, maxSide?: number): Promise<string> {
  const sharp = await sharpModule();
  try {
    let img = sharp(await Deno.readFile(path));
    if (maxSide) img = img.resize(maxSide, maxSide, { fit: "inside", withoutEnlargement: true });
    const png = await img.png().toBuffer();
    return pngDataUrl(new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
  } catch (e) {
    throw new Error(`${path}: cannot read image (${(e as Error).message})`);
  }
}

/** One cell of an image grid. */
export interface GridImage {
  /** A `data:image/...;base64,` URL (see {@linkcode rawImageDataUrl}, {@linkcode imageFileDataUrl}). */
  src: string;
  /** Caption shown above the image. */
  title?: string;
}

function checkSrc(images: readonly GridImage[], where: string): void {
  images.forEach((im, i) => {
    if (!/^data:image\/(png|jpeg|gif|webp|svg\+xml);base64,/.test(im.src)) {
      throw new Error(`${where}: image ${i} src is not a base64 image data URL`);
    }
  });
}

/** Options of {@linkcode imageGridFigure}. */
export interface ImageGridOptions {
  /** Columns (default: min(count, 6)). */
  cols?: number;
  /** Pixel size of one square cell (default 160). */
  cellSize?: number;
  /** Figure title. */
  title?: string;
}

/**
 * A Plotly figure showing images in a grid via `layout.images` (paper coordinates) with
 * captions as annotations; axes hidden. Self-contained: the images are data URLs.
 */
export function imageGridFigure(
  images: readonly GridImage[],
  options: ImageGridOptions = {},
): Figure {
  if (images.length === 0) throw new Error("imageGridFigure: no images");
  checkSrc(images, "imageGridFigure");
  const cols = options.cols ?? Math.min(images.length, 6);
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`imageGridFigure: cols=${cols}`);
  const rows = Math.ceil(images.length / cols);
  const cell = options.cellSize ?? 160;
  const caption = 22;
  const margin = { l: 10, r: 10, t: options.title ? 50 : 10, b: 10 };
  const width = cols * cell + margin.l + margin.r;
  const height = rows * (cell + caption) + margin.t + margin.b;
  const rowH = 1 / rows;
  const pad = 0.04;
  const captionFrac = caption / (cell + caption);
  const layoutImages = images.map((im, i) => {
    const r = Math.floor(i / cols);
    const c = i % cols;
    return {
      source: im.src,
      xref: "paper",
      yref: "paper",
      x: c / cols + pad / cols,
      y: 1 - r * rowH - captionFrac * rowH,
      sizex: (1 - 2 * pad) / cols,
      sizey: (1 - captionFrac) * rowH * (1 - pad),
      xanchor: "left",
      yanchor: "top",
      sizing: "contain",
      layer: "above",
    };
  });
  const annotations = images.flatMap((im, i) =>
    im.title
      ? [{
        text: escapeHtml(im.title),
        xref: "paper",
        yref: "paper",
        x: (i % cols + 0.5) / cols,
        y: 1 - Math.floor(i / cols) * rowH,
        xanchor: "center",
        yanchor: "top",
        showarrow: false,
        font: { size: 12 },
      }]
      : []
  );
  const hidden = { visible: false, range: [0, 1], fixedrange: true };
  return {
    // An invisible trace keeps Plotly from drawing an empty-plot placeholder axis.
    data: [{
      type: "scatter",
      x: [0, 1],
      y: [0, 1],
      mode: "markers",
      opacity: 0,
      hoverinfo: "skip",
      showlegend: false,
    }],
    layout: {
      title: options.title ? { text: options.title } : undefined,
      width,
      height,
      margin,
      xaxis: hidden,
      yaxis: hidden,
      images: layoutImages,
      annotations,
      plot_bgcolor: "white",
      paper_bgcolor: "white",
    },
    config: { responsive: false, staticPlot: false },
  };
}

/** The same grid as a plain HTML table (no JavaScript; for reports and e-mail). */
export function imageGridHtml(
  images: readonly GridImage[],
  options: ImageGridOptions = {},
): string {
  checkSrc(images, "imageGridHtml");
  const cols = options.cols ?? Math.min(Math.max(images.length, 1), 6);
  const cell = options.cellSize ?? 160;
  const rows: string[] = [];
  for (let i = 0; i < images.length; i += cols) {
    const tds = images.slice(i, i + cols).map((im) =>
      `<td style="text-align:center;vertical-align:top;padding:4px">` +
      (im.title ? `<div style="font-size:12px">${escapeHtml(im.title)}</div>` : "") +
      `<img src="${im.src}" alt="${escapeHtml(im.title ?? "")}" ` +
      `style="width:${cell}px;height:auto;image-rendering:pixelated"></td>`
    );
    rows.push(`<tr>${tds.join("")}</tr>`);
  }
  const caption = options.title ? `<caption>${escapeHtml(options.title)}</caption>` : "";
  return `<table class="cyborg-image-grid">${caption}${rows.join("")}</table>`;
}
