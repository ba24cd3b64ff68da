/**
 * A small annotation study on disk, for the notebook and the tests: a data root in the paper's
 * layout with a few drawn faces, `csvs/original.csv`, and three annotators' maps and judgments
 * under `heatmaps/annotators/` (filled ellipses, the way people paint regions).
 *
 * @module
 */
import { join } from "node:path";
import { encodeGreyPng, saveJudgment, saveMap } from "./store.ts";
import sharp from "sharp";

/** An axis-aligned filled ellipse in pixels. */
export interface PaintedEllipse {
  /** Centre x. */
  cx: number;
  /** Centre y. */
  cy: number;
  /** Radius along x. */
  rx: number;
  /** Radius along y. */
  ry: number;
}

/** A binary `width × height` map (255 inside any of `blobs`, pixel centres tested). */
export function blobMap(
  width: number,
  height: number,
  blobs: readonly PaintedEllipse[],
): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = blobs.some((b) =>
        ((x + 0.5 - b.cx) / b.rx) ** 2 + ((y + 0.5 - b.cy) / b.ry) ** 2 <= 1
      );
      if (inside) out[y * width + x] = 255;
    }
  }
  return out;
}

/** A simple drawn face (`size × size` RGB): skin disc, eyes, mouth; `tint` shifts its colour. */
export function demoFace(size: number, tint: number): Uint8Array {
  const px = new Uint8Array(size * size * 3);
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const d = Math.hypot((x - c) / (0.38 * size), (y - c) / (0.46 * size));
      let rgb = [40 + tint, 60, 90 - tint];
      if (d <= 1) rgb = [220 - tint, 180, 150 + tint];
      const eye = Math.min(
        Math.hypot(x - 0.36 * size, y - 0.4 * size),
        Math.hypot(x - 0.64 * size, y - 0.4 * size),
      );
      if (eye < 0.06 * size) rgb = [30, 30, 30];
      if (Math.abs(y - 0.7 * size) < 0.03 * size && Math.abs(x - c) < 0.15 * size) {
        rgb = [150, 40, 40];
      }
      px.set(rgb.map((v) => Math.max(0, Math.min(255, v))), i);
    }
  }
  return px;
}

/** What {@linkcode createAnnotationDemo} made. */
export interface AnnotationDemo {
  /** The data root. */
  root: string;
  /** The split CSV. */
  csv: string;
  /** The annotators. */
  annotators: string[];
}

/**
 * Writes the demo study into `dir` (which should be empty): four 48 px training faces (two real,
 * two synthetic), one test row, and maps and judgments by `ann_a`, `ann_b`, `ann_c` (`ann_c`
 * skips the last image and calls one real face synthetic).
 */
export async function createAnnotationDemo(dir: string): Promise<AnnotationDemo> {
  const size = 48;
  const names = ["real_0.png", "real_1.png", "fake_0.png", "fake_1.png", "fake_test.png"];
  for (const [k, n] of names.entries()) {
    const folder = join(dir, n.startsWith("real") ? "real" : "fake");
    await Deno.mkdir(folder, { recursive: true });
    await sharp(demoFace(size, 12 * k), { raw: { width: size, height: size, channels: 3 } })
      .png().toFile(join(folder, n));
  }
  await Deno.mkdir(join(dir, "csvs"), { recursive: true });
  const csv = join(dir, "csvs", "original.csv");
  await Deno.writeTextFile(
    csv,
    "train,Real,/real/real_0.png\ntrain,Real,/real/real_1.png\n" +
      "train,Synthetic,/fake/fake_0.png\ntrain,Synthetic,/fake/fake_1.png\n" +
      "test,Synthetic,/fake/fake_test.png\n",
  );
  const eyes = (dx: number, r: number): PaintedEllipse[] => [
    { cx: 17 + dx, cy: 19, rx: r, ry: r * 0.8 },
    { cx: 31 + dx, cy: 19, rx: r, ry: r * 0.8 },
  ];
  const mouth = (dy: number): PaintedEllipse => ({ cx: 24, cy: 34 + dy, rx: 9, ry: 4 });
  const plan: Record<string, [string, PaintedEllipse[], "Real" | "Synthetic"][]> = {
    ann_a: [
      ["real_0.png", eyes(0, 5), "Real"],
      ["real_1.png", [mouth(0)], "Real"],
      ["fake_0.png", [...eyes(0, 5), mouth(0)], "Synthetic"],
      ["fake_1.png", [mouth(0)], "Synthetic"],
    ],
    ann_b: [
      ["real_0.png", eyes(1, 6), "Real"],
      ["real_1.png", [mouth(1), ...eyes(0, 4)], "Real"],
      ["fake_0.png", eyes(-1, 6), "Synthetic"],
      ["fake_1.png", [mouth(2)], "Synthetic"],
    ],
    ann_c: [
      ["real_0.png", eyes(-1, 4), "Real"],
      ["real_1.png", [mouth(-1)], "Synthetic"],
      ["fake_0.png", [...eyes(1, 5), mouth(1)], "Synthetic"],
    ],
  };
  for (const [who, rows] of Object.entries(plan)) {
    for (const [k, [name, blobs, label]] of rows.entries()) {
      await saveMap(dir, who, name, await encodeGreyPng(blobMap(size, size, blobs), size, size));
      await saveJudgment(dir, who, {
        image: name,
        label,
        ms: 900 + 250 * k,
        answeredAt: "2026-01-01T00:00:00.000Z",
      });
    }
  }
  return { root: dir, csv, annotators: Object.keys(plan) };
}
