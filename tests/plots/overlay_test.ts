import assert from "node:assert/strict";
import { jetColor, overlayMap, upsampleMap } from "../../lib/plots/overlay.ts";

Deno.test("jetColor: blue at 0, red at 1, green in the middle, clamped, NaN as 0", () => {
  assert.deepEqual(jetColor(0), [0, 0, 128]);
  assert.deepEqual(jetColor(1), [128, 0, 0]);
  assert.deepEqual(jetColor(0.5), [128, 255, 128]);
  assert.deepEqual(jetColor(-3), jetColor(0));
  assert.deepEqual(jetColor(7), jetColor(1));
  assert.deepEqual(jetColor(NaN), jetColor(0));
});

Deno.test("upsampleMap: half-pixel bilinear (constant stays constant, 2→4 matches hand values)", () => {
  const flat = upsampleMap({ data: [0.3], height: 1, width: 1 }, 5);
  assert.ok(flat.every((v) => Math.abs(v - 0.3) < 1e-7));
  // 1×2 map [0, 1] to 4 columns: sample points -0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
  const up = upsampleMap({ data: [0, 1, 0, 1], height: 2, width: 2 }, 4);
  const row = Array.from(up.slice(0, 4));
  assert.deepEqual(row.map((v) => Math.round(v * 100) / 100), [0, 0.25, 0.75, 1]);
  assert.deepEqual(Array.from(up.slice(12, 16)), row, "rows are equal (vertical constant)");
  assert.throws(() => upsampleMap({ data: [1, 2, 3], height: 2, width: 2 }, 4), /3 values/);
  assert.throws(() => upsampleMap({ data: [1], height: 1, width: 1 }, 0), /bad size/);
});

Deno.test("overlayMap: alpha 0 keeps the image, alpha 1 is the colour map, errors name the problem", () => {
  const img = { data: new Uint8Array(2 * 2 * 3).fill(200), size: 2 };
  const map = { data: [0, 1, 1, 0], height: 2, width: 2 };
  assert.deepEqual(Array.from(overlayMap(img, map, { alpha: 0 }).data), Array.from(img.data));
  const full = overlayMap(img, map, { alpha: 1 });
  assert.equal(full.width, 2);
  assert.deepEqual(Array.from(full.data.slice(0, 3)), jetColor(0));
  assert.deepEqual(Array.from(full.data.slice(3, 6)), jetColor(1));
  const half = overlayMap(img, map, { alpha: 0.5 });
  assert.deepEqual(Array.from(half.data.slice(0, 3)), [100, 100, 164]);
  const alone = overlayMap(null, map, { size: 4 });
  assert.equal(alone.data.length, 4 * 4 * 3);
  assert.throws(() => overlayMap(img, map, { alpha: 2 }), /alpha 2/);
  assert.throws(() => overlayMap(img, map, { range: [1, 1] }), /range \[1, 1\] is empty/);
  assert.throws(() => overlayMap({ data: new Uint8Array(5), size: 2 }, map), /5 bytes/);
});
