import assert from "node:assert/strict";
import { assertThrows } from "./assert.ts";
import { bilinearCoefficients, resizeBilinearPil } from "../../lib/data/resize.ts";
import { firstDifference, loadPreprocessFixture } from "./preprocess_fixture.ts";

const fixture = await loadPreprocessFixture();

Deno.test("resizeBilinearPil equals Pillow's BILINEAR resize byte for byte (fixture)", () => {
  let compared = 0;
  for (const img of fixture.images) {
    for (const s of fixture.sizes) {
      const out = resizeBilinearPil(img.decoded, img.width, img.height, 3, s, s);
      const i = firstDifference(out, img.rgb[String(s)]);
      assert.equal(i, -1, `${img.file} -> ${s}x${s}: first difference at ${i}`);
      compared++;
    }
    const map = resizeBilinearPil(img.gray, img.width, img.height, 1, fixture.grid, fixture.grid);
    assert.equal(firstDifference(map, img.map7), -1, `${img.file} L -> 7x7`);
  }
  assert.equal(compared, fixture.images.length * fixture.sizes.length);
  // The fixture covers down- and upscaling on each axis and a skipped (same size) axis.
  assert.ok(fixture.images.some((e) => e.width < 16 && e.height < 16));
  assert.ok(fixture.images.some((e) => e.width > 48 && e.height > 48));
  assert.ok(fixture.images.some((e) => e.width === 7 && e.height === 7));
});

Deno.test("bilinearCoefficients: integer weights sum to 2^22 (±rounding) within bounds", () => {
  for (const [inSize, outSize] of [[37, 16], [9, 48], [224, 224], [1024, 224], [5, 1]]) {
    const c = bilinearCoefficients(inSize, outSize);
    for (let o = 0; o < outSize; o++) {
      assert.ok(c.start[o] >= 0 && c.start[o] + c.count[o] <= inSize);
      let sum = 0;
      for (let k = 0; k < c.count[o]; k++) sum += c.weights[o * c.ksize + k];
      assert.ok(Math.abs(sum - (1 << 22)) <= c.count[o], `${inSize}->${outSize} out ${o}: ${sum}`);
    }
  }
});

Deno.test("resizeBilinearPil: same size copies, constant stays constant, mid-grey rounds", () => {
  const src = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  const same = resizeBilinearPil(src, 2, 2, 3, 2, 2);
  assert.deepEqual(same, src);
  assert.notEqual(same, src);
  const flat = new Uint8Array(13 * 7 * 3).fill(201);
  assert.ok(resizeBilinearPil(flat, 13, 7, 3, 5, 11).every((v) => v === 201));
  // Two pixels 0 and 255 averaged to one: 127.5 rounds half up in fixed point.
  assert.deepEqual(resizeBilinearPil(Uint8Array.of(0, 255), 2, 1, 1, 1, 1), Uint8Array.of(128));
});

Deno.test("resizeBilinearPil rejects bad sizes and buffers", () => {
  assertThrows(
    () => resizeBilinearPil(new Uint8Array(5), 2, 2, 1, 3, 3),
    Error,
    "pixel buffer has 5 bytes, expected 2×2×1 = 4",
  );
  assertThrows(() => resizeBilinearPil(new Uint8Array(4), 2, 2, 1, 0, 3), Error, "outWidth");
  assertThrows(() => resizeBilinearPil(new Uint8Array(4), 2, 2, 0, 3, 3), Error, "channels");
  assertThrows(() => bilinearCoefficients(3, 1.5), Error, "positive integers");
});
