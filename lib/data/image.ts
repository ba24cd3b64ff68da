/**
 * Image decoding and preprocessing with the paper's PyTorch semantics: torchvision's default
 * loader (`PIL.Image.open(f).convert("RGB")`), `Resize([s, s])` (Pillow bilinear with antialias, no
 * crop), `ToTensor()` and `Normalize(mean, std)`; saliency maps decoded as Pillow `L`, resized to
 * the CAM grid the same way and min-max normalised.
 *
 * Decoding uses sharp (libvips) with the embedded ICC profile ignored and no EXIF rotation, as
 * Pillow does, and reproduces Pillow's mode conversions on the raw samples:
 *
 * | file                     | RGB (`convert("RGB")`)      | L (`convert("L")`)            |
 * | ------------------------ | --------------------------- | ----------------------------- |
 * | 8-bit grey (+alpha)      | grey replicated, alpha dropped | grey                        |
 * | 8-bit RGB / RGBA / palette | RGB, alpha dropped (no compositing) | `(19595 R + 38470 G + 7471 B + 2^15) >> 16` |
 * | 16-bit grey (Pillow "I") | clipped to 0..255 (Pillow does not rescale!) | clipped to 0..255 |
 * | 16-bit grey+alpha / RGB(A) | high byte of each sample   | from the high bytes as above  |
 *
 * The 16-bit grey row is Pillow's behaviour (mode "I" converts by clipping), kept for parity with
 * the reference pipeline: such images come out mostly saturated there too.
 *
 * Parity (tests/data/image_test.ts against tests/fixtures/preprocess, made by Pillow 9.4 and
 * torchvision 0.14): decoded PNGs of every mode above, and the JPEGs tested, are byte-identical;
 * resized uint8 images are byte-identical (lib/data/resize.ts is a port of Pillow's resampler);
 * normalised float32 tensors are identical (the arithmetic below rounds to float32 after each
 * operation, as torch does). JPEG decoding could differ by a grey level from another libjpeg build
 * (IDCT/upsampling variants); with the libraries pinned here it does not.
 *
 * @module
 */
import sharp from "sharp";
import { resizeBilinearPil } from "./resize.ts";

/** A decoded 8-bit image, interleaved, row-major. */
export interface DecodedImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel: 3 for `RGB`, 1 for `L`. */
  channels: 1 | 3;
  /** `width × height × channels` samples. */
  data: Uint8Array;
}

/** Pillow target mode of a decode: colour image or single-channel map. */
export type DecodeMode = "RGB" | "L";

function sourceName(input: string | Uint8Array): string {
  return typeof input === "string" ? input : "<buffer>";
}

/** Pillow's `L24` luma (ITU-R 601-2, fixed point), used by `convert("L")` from colour. */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * For a PNG (by its signature): walks the chunks and throws "truncated" when one runs past the
 * end of the file, "PNG ends before IEND" when the end chunk is missing. Other formats pass.
 */
export function checkPngStructure(bytes: Uint8Array): void {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  while (p + 8 <= bytes.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (p + 12 + len > bytes.length) {
      throw new Error(
        `truncated PNG: chunk ${type} needs ${len + 12} bytes at offset ${p}, the file ends at ` +
          `${bytes.length}`,
      );
    }
    if (type === "IEND") return;
    p += 12 + len;
  }
  throw new Error(`PNG ends before IEND (truncated after ${bytes.length} bytes)`);
}

/**
 * Decodes an image file (PNG, JPEG, or anything else sharp reads) to 8-bit `RGB` or `L` with
 * Pillow's conversion rules (module doc). Errors name the file.
 */
export async function decodeImage(
  input: string | Uint8Array,
  mode: DecodeMode,
): Promise<DecodedImage> {
  const name = sourceName(input);
  let raw: Uint8Array;
  let width: number;
  let height: number;
  let channels: number;
  let sixteen: boolean;
  try {
    const bytes = typeof input === "string" ? await Deno.readFile(input) : input;
    checkPngStructure(bytes);
    const meta = await sharp(bytes).metadata();
    sixteen = meta.depth === "ushort";
    const grey = meta.space === "b-w" || meta.space === "grey16";
    if (!grey && meta.space !== "srgb" && meta.space !== "rgb16") {
      throw new Error(`unsupported colour space "${meta.space}" (expected grey or RGB)`);
    }
    const space = grey ? (sixteen ? "grey16" : "b-w") : (sixteen ? "rgb16" : "srgb");
    const out = await sharp(bytes, { ignoreIcc: true })
      .toColourspace(space)
      .raw({ depth: sixteen ? "ushort" : "uchar" })
      .toBuffer({ resolveWithObject: true });
    raw = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
    width = out.info.width;
    height = out.info.height;
    channels = out.info.channels;
    // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (palette files arrive expanded to RGB(A)).
    if (channels < 1 || channels > 4) throw new Error(`unexpected ${channels} channels`);
  } catch (e) {
    let why = (e as Error).message;
    // libvips reports a damaged stream as a warning that sharp's failOn turns into an error.
    if (/treated as error due to failOn/.test(why)) why = "corrupt or truncated image data";
    throw new Error(`image: cannot decode ${name}: ${why}`);
  }

  const n = width * height;
  // 8-bit samples per pixel, Pillow-style: 16-bit grey clips, other 16-bit keeps the high byte.
  let s8: Uint8Array;
  if (sixteen) {
    s8 = new Uint8Array(n * channels);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const clip = channels === 1;
    for (let i = 0; i < n * channels; i++) {
      const v = dv.getUint16(i * 2, true);
      s8[i] = clip ? (v > 255 ? 255 : v) : v >>> 8;
    }
  } else {
    s8 = raw;
  }

  const colour = channels >= 3;
  if (mode === "RGB") {
    const data = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const p = i * channels;
      if (colour) {
        data[i * 3] = s8[p];
        data[i * 3 + 1] = s8[p + 1];
        data[i * 3 + 2] = s8[p + 2];
      } else {
        data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = s8[p];
      }
    }
    return { width, height, channels: 3, data };
  }
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    data[i] = colour ? luma(s8[p], s8[p + 1], s8[p + 2]) : s8[p];
  }
  return { width, height, channels: 1, data };
}

/** Decodes as `RGB` and resizes to `size × size` (torchvision `Resize([size, size])`): uint8. */
export async function loadImageRgb(path: string | Uint8Array, size: number): Promise<Uint8Array> {
  const img = await decodeImage(path, "RGB");
  return resizeBilinearPil(img.data, img.width, img.height, 3, size, size);
}

/** Decodes a saliency map as `L` and resizes it to the `grid × grid` CAM grid: uint8. */
export async function loadMapGray(path: string | Uint8Array, grid: number): Promise<Uint8Array> {
  const img = await decodeImage(path, "L");
  return resizeBilinearPil(img.data, img.width, img.height, 1, grid, grid);
}

/** Per-channel lookup table of `Normalize(mean, std)(ToTensor(v))` for v = 0..255. */
export type NormalizeTable = Float32Array;

/**
 * Builds the [3 × 256] float32 table of `((v / 255) - mean[c]) / std[c]`, each operation rounded
 * to float32 as torch does, so normalised pixels equal torchvision's exactly.
 */
export function normalizeTable(
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
): NormalizeTable {
  for (let c = 0; c < 3; c++) {
    if (!Number.isFinite(mean[c])) throw new Error(`mean[${c}] must be a finite number`);
    if (!Number.isFinite(std[c]) || std[c] === 0) {
      throw new Error(`std[${c}] must be a finite non-zero number (got ${std[c]})`);
    }
  }
  const f = Math.fround;
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]);
    const s = f(std[c]);
    for (let v = 0; v < 256; v++) t[c * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  return t;
}

/** Writes the normalised float32 NHWC pixels of one uint8 RGB image into `out` at `offset`. */
export function normalizeInto(
  rgb: Uint8Array,
  table: NormalizeTable,
  out: Float32Array,
  offset: number,
): void {
  for (let i = 0; i < rgb.length; i += 3) {
    out[offset + i] = table[rgb[i]];
    out[offset + i + 1] = table[256 + rgb[i + 1]];
    out[offset + i + 2] = table[512 + rgb[i + 2]];
  }
}

/** The epsilon of the map min-max rule. */
export const MAP_EPSILON = 1e-8;

/**
 * Min-max normalises a uint8 map into `out` at `offset`: with `m = v / 255`,
 * `(m - min) / (max - min + 1e-8)` in float32 (as the torch reference computes it). The epsilon
 * makes a constant map (e.g. an all-black "no annotation" map) all zeros instead of NaN; a map
 * with any contrast spans [0, 1] (its maximum, `1 - 1e-8 / (max - min)` exactly, rounds to 1 in
 * float32 since `max - min ≥ 1/255`).
 */
export function normalizeMapInto(map: Uint8Array, out: Float32Array, offset: number): void {
  const f = Math.fround;
  let lo = 255;
  let hi = 0;
  for (const v of map) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const min = f(lo / 255);
  const den = f(f(f(hi / 255) - min) + f(MAP_EPSILON));
  for (let i = 0; i < map.length; i++) out[offset + i] = f(f(f(map[i] / 255) - min) / den);
}
