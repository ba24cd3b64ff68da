import assert from "node:assert/strict";
import { assertRejects, assertThrows } from "./assert.ts";
import {
  decodeImage,
  loadImageRgb,
  loadMapGray,
  normalizeInto,
  normalizeMapInto,
  normalizeTable,
} from "../../lib/data/image.ts";
import { firstDifference, FIXTURE_DIR, loadPreprocessFixture } from "./preprocess_fixture.ts";
import { pattern, tempDir, writePng } from "./tmp_images.ts";

const fixture = await loadPreprocessFixture();

Deno.test("decodeImage matches Pillow's convert('RGB') and convert('L') for every mode", async () => {
  const modes = new Set<string>();
  for (const img of fixture.images) {
    const path = FIXTURE_DIR + img.file;
    const rgb = await decodeImage(path, "RGB");
    assert.equal(rgb.width, img.width, img.file);
    assert.equal(rgb.height, img.height, img.file);
    assert.equal(rgb.channels, 3);
    assert.equal(firstDifference(rgb.data, img.decoded), -1, `${img.file} RGB`);
    const l = await decodeImage(await Deno.readFile(path), "L");
    assert.equal(firstDifference(l.data, img.gray), -1, `${img.file} L`);
    modes.add(`${img.pilMode}:${img.file.split(".").pop()}`);
  }
  for (
    const m of ["RGB:png", "L:png", "LA:png", "RGBA:png", "P:png", "I:png", "RGB:jpg", "L:jpg"]
  ) {
    assert.ok(modes.has(m), `fixture lacks ${m}`);
  }
});

Deno.test("16-bit files follow Pillow: grey clips to 255, colour keeps the high byte", async () => {
  const g16 = fixture.images.find((e) => e.file.startsWith("gray16"))!;
  const rgb = await decodeImage(FIXTURE_DIR + g16.file, "RGB");
  // Values run 0, 37, 74, ... (16-bit): those above 255 saturate instead of being rescaled.
  assert.deepEqual(Array.from(rgb.data.subarray(0, 24)), [
    ...[0, 37, 74, 111, 148, 185, 222, 255].flatMap((v) => [v, v, v]),
  ]);
});

Deno.test("loadImageRgb + normalize equals torchvision Resize+ToTensor+Normalize exactly", async () => {
  const table = normalizeTable(fixture.mean, fixture.std);
  for (const img of fixture.images) {
    const u8 = await loadImageRgb(FIXTURE_DIR + img.file, 16);
    const x = new Float32Array(2 * 16 * 16 * 3).fill(NaN);
    normalizeInto(u8, table, x, 768);
    assert.ok(x.subarray(0, 768).every(Number.isNaN), "writes only at the offset");
    const chw = new Float32Array(768);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 256; i++) chw[c * 256 + i] = x[768 + i * 3 + c];
    assert.equal(firstDifference(chw, img.tensor16), -1, img.file);
  }
});

Deno.test("maps: L, resized to the grid, min-max normalised as the reference (0 map -> 0)", async () => {
  let sawZero = false;
  for (const img of fixture.images) {
    const m = await loadMapGray(FIXTURE_DIR + img.file, fixture.grid);
    assert.equal(firstDifference(m, img.map7), -1, img.file);
    const out = new Float32Array(49);
    normalizeMapInto(m, out, 0);
    assert.equal(firstDifference(out, img.map7Norm), -1, `${img.file} normalised`);
    assert.ok(out.every((v) => v >= 0 && v <= 1));
    if (m.every((v) => v === 0)) {
      sawZero = true;
      assert.ok(out.every((v) => v === 0), "a constant map becomes zeros, not NaN");
    } else {
      assert.equal(Math.max(...out), 1, "in float32 the maximum rounds to 1");
    }
  }
  assert.ok(sawZero, "fixture has an all-zero map");
  const flat = new Float32Array(4);
  normalizeMapInto(new Uint8Array(4).fill(200), flat, 0);
  assert.deepEqual(Array.from(flat), [0, 0, 0, 0]);
});

Deno.test("decodeImage: a corrupt or missing file is an error naming the file", async () => {
  const { dir, cleanup } = await tempDir("image_test_");
  try {
    const bad = `${dir}/broken.png`;
    const png = await Deno.readFile(FIXTURE_DIR + "rgb_37x23.png");
    await Deno.writeFile(bad, png.subarray(0, 60));
    await assertRejects(() => decodeImage(bad, "RGB"), Error, `image: cannot decode ${bad}`);
    await Deno.writeTextFile(`${dir}/text.png`, "not an image");
    await assertRejects(() => loadImageRgb(`${dir}/text.png`, 8), Error, `${dir}/text.png`);
    await assertRejects(() => decodeImage(`${dir}/none.png`, "L"), Error, `${dir}/none.png`);
  } finally {
    await cleanup();
  }
});

Deno.test("normalizeTable rejects a zero or non-finite std", () => {
  assertThrows(() => normalizeTable([0.5, 0.5, 0.5], [0.5, 0, 0.5]), Error, "std[1]");
  assertThrows(() => normalizeTable([0.5, NaN, 0.5], [1, 1, 1]), Error, "mean[1]");
});

Deno.test("decodeImage names a damaged PNG: truncated chunk, missing IEND, corrupt data", async () => {
  const { dir, cleanup } = await tempDir("image_test_");
  try {
    await writePng(`${dir}/ok.png`, pattern(24, 24, 3, 7), 24, 24, 3);
    const png = await Deno.readFile(`${dir}/ok.png`);
    const cases: [string, Uint8Array, RegExp][] = [
      ["tail.png", png.subarray(0, png.length - 30), /tail\.png: truncated PNG: chunk IDAT/],
      ["noiend.png", png.subarray(0, png.length - 12), /noiend\.png: PNG ends before IEND/],
    ];
    // IDAT bytes scrambled, chunk structure intact: libvips's warning becomes a plain message.
    const bad = png.slice();
    for (let i = 45; i < bad.length - 20; i++) bad[i] ^= 0x5a;
    cases.push(["corrupt.png", bad, /corrupt\.png: /]);
    for (const [name, bytes, re] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      const e = await decodeImage(`${dir}/${name}`, "RGB").then(() => undefined, (e) => e);
      assert.ok(e instanceof Error, `${name} decoded`);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /failOn/);
    }
  } finally {
    await cleanup();
  }
});
