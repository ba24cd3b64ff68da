/**
 * Loads tests/fixtures/preprocess/fixture.json (made by tools/fixtures/make_preprocess_fixture.py
 * with Pillow and torchvision) and decodes its base64 arrays.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Folder of the fixture images. */
export const FIXTURE_DIR = fileURLToPath(new URL("../fixtures/preprocess/", import.meta.url));

/** One fixture image and what the reference pipeline made of it. */
export interface FixtureImage {
  /** File name inside {@linkcode FIXTURE_DIR}. */
  file: string;
  /** Pillow's mode after `Image.open`. */
  pilMode: string;
  /** Width of the decoded image. */
  width: number;
  /** Height of the decoded image. */
  height: number;
  /** `convert("RGB")`, HWC uint8. */
  decoded: Uint8Array;
  /** `convert("L")`, uint8. */
  gray: Uint8Array;
  /** `convert("RGB").resize((s, s), BILINEAR)` by size. */
  rgb: Record<string, Uint8Array>;
  /** `Resize([16,16]) + ToTensor + Normalize`, CHW float32. */
  tensor16: Float32Array;
  /** `convert("L").resize((7, 7), BILINEAR)`, uint8. */
  map7: Uint8Array;
  /** The min-max rule applied to `map7 / 255`, float32. */
  map7Norm: Float32Array;
}

/** The parsed fixture. */
export interface PreprocessFixture {
  /** Normalize mean. */
  mean: [number, number, number];
  /** Normalize std. */
  std: [number, number, number];
  /** Resize targets recorded in `rgb`. */
  sizes: number[];
  /** Map grid. */
  grid: number;
  /** Images. */
  images: FixtureImage[];
}

function bytes(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function floats(b64: string): Float32Array {
  const b = bytes(b64);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

/** Reads and decodes the fixture. */
export async function loadPreprocessFixture(): Promise<PreprocessFixture> {
  // deno-lint-ignore no-explicit-any
  const raw: any = JSON.parse(await Deno.readTextFile(`${FIXTURE_DIR}fixture.json`));
  return {
    mean: raw.mean,
    std: raw.std,
    sizes: raw.sizes,
    grid: raw.grid,
    // deno-lint-ignore no-explicit-any
    images: raw.images.map((e: any) => ({
      file: e.file,
      pilMode: e.pilMode,
      width: e.width,
      height: e.height,
      decoded: bytes(e.decoded),
      gray: bytes(e.gray),
      rgb: Object.fromEntries(Object.entries(e.rgb).map(([k, v]) => [k, bytes(v as string)])),
      tensor16: floats(e.tensor16),
      map7: bytes(e.map7),
      map7Norm: floats(e.map7_norm),
    })),
  };
}

/** Index of the first differing element, or -1 (with lengths compared first). */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(isNaN(a[i]) && isNaN(b[i]))) return i;
  return -1;
}
