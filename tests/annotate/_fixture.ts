/**
 * Test support for the annotation tests: a small data root in the paper's layout with non-square
 * images (40×30 PNGs and a 32×32 JPEG), written into a fresh temporary folder.
 *
 * @module
 */
import { join } from "node:path";
import sharp from "sharp";
import { demoFace } from "../../lib/annotate/demo.ts";

/** A fresh data root. */
export interface Fixture {
  /** The data root (a temporary folder; remove it when done). */
  root: string;
  /** `csvs/original.csv`. */
  csv: string;
}

/** A `width × height` RGB image: a face drawn in a square, cropped. */
function picture(width: number, height: number, tint: number): Uint8Array {
  const s = Math.max(width, height);
  const face = demoFace(s, tint);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    out.set(face.subarray(y * s * 3, y * s * 3 + width * 3), y * width * 3);
  }
  return out;
}

/** Writes the data root: train rows a.png (Real), b.png (Synthetic), c.jpg (Synthetic); one test row. */
export async function makeFixture(): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "cyborg-annot-" });
  await Deno.mkdir(join(root, "images", "real"), { recursive: true });
  await Deno.mkdir(join(root, "images", "fake"), { recursive: true });
  await Deno.mkdir(join(root, "csvs"));
  const raw = (w: number, h: number, t: number) =>
    sharp(picture(w, h, t), { raw: { width: w, height: h, channels: 3 } });
  await raw(40, 30, 0).png().toFile(join(root, "images/real/a.png"));
  await raw(40, 30, 30).png().toFile(join(root, "images/fake/b.png"));
  await raw(32, 32, 60).jpeg().toFile(join(root, "images/fake/c.jpg"));
  await raw(40, 30, 90).png().toFile(join(root, "images/fake/t.png"));
  const csv = join(root, "csvs", "original.csv");
  await Deno.writeTextFile(
    csv,
    "train,Real,/images/real/a.png\ntrain,Synthetic,/images/fake/b.png\n" +
      "train,Synthetic,/images/fake/c.jpg\ntest,Synthetic,/images/fake/t.png\n",
  );
  return { root, csv };
}

/** Every file under `dir` with its bytes' length and a content digest (a snapshot for "nothing written"). */
export async function treeSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        out[r + "/"] = "dir";
        await walk(p, r);
      } else if (e.isSymlink) {
        out[r] = `link:${await Deno.readLink(p)}`;
      } else {
        const b = await Deno.readFile(p);
        const h = await crypto.subtle.digest("SHA-256", b);
        out[r] = [...new Uint8Array(h)].slice(0, 8).map((x) => x.toString(16)).join("");
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** An 8-bit grey PNG of `width × height` from a fill function. */
export async function greyPng(
  width: number,
  height: number,
  f: (x: number, y: number) => number,
): Promise<Uint8Array<ArrayBuffer>> {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  const b = await sharp(data, { raw: { width, height, channels: 1 } }).toColourspace("b-w").png()
    .toBuffer();
  return new Uint8Array(b);
}
