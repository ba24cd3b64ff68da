/**
 * Test helpers: small images and paper-layout datasets written to a temporary folder with sharp.
 *
 * @module
 */
import sharp from "sharp";
import { dirname } from "node:path";

/** Deterministic pixel pattern: channel c of pixel (x, y) is `(x * 37 + y * 91 + c * 53 + seed) % 256`. */
export function pattern(w: number, h: number, channels: number, seed = 0): Uint8Array {
  const a = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        a[(y * w + x) * channels + c] = (x * 37 + y * 91 + c * 53 + seed) % 256;
      }
    }
  }
  return a;
}

/** Writes raw interleaved uint8 pixels as a PNG (creating folders). */
export async function writePng(
  path: string,
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const png = await sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
  await Deno.writeFile(path, png);
}

/** A temporary folder removed by the returned `cleanup`. */
export async function tempDir(
  prefix: string,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}
