import assert from "node:assert/strict";
import { ellipseMask, gaussianBlur, hsv, toU8 } from "../../../lib/data/procfaces/raster.ts";
import { ValueNoise } from "../../../lib/data/procfaces/noise.ts";
import { Rng } from "../../../lib/rng.ts";

Deno.test("raster: ellipse area, blur keeps mass, quantisation clamps", () => {
  const size = 128;
  const m = ellipseMask(size, { cx: 0.5, cy: 0.5, rx: 0.3, ry: 0.15, angle: 0.7 });
  let area = 0;
  for (const v of m) area += v;
  const expected = Math.PI * 0.3 * 0.15 * size * size;
  assert.ok(Math.abs(area - expected) / expected < 0.02, `area ${area} vs ${expected}`);
  const b = gaussianBlur(m, size, 2);
  let mass = 0;
  for (const v of b) mass += v;
  assert.ok(Math.abs(mass - area) / area < 1e-3);
  assert.deepEqual(Array.from(toU8(new Float32Array([-0.2, 0.5, 1.3]))), [0, 128, 255]);
  assert.deepEqual(hsv(0, 1, 1), [1, 0, 0]);
});

Deno.test("noise: deterministic, bounded, smooth", () => {
  const a = new ValueNoise(new Rng(1), 16), b = new ValueNoise(new Rng(1), 16);
  let maxStep = 0;
  for (let i = 0; i < 1000; i++) {
    const x = i * 0.013, y = i * 0.007;
    assert.equal(a.at(x, y), b.at(x, y));
    const v = a.fractal(x, y, 3);
    assert.ok(v >= -1 && v <= 1);
    maxStep = Math.max(maxStep, Math.abs(a.at(x + 0.01, y) - a.at(x, y)));
  }
  assert.ok(maxStep < 0.05, `noise not smooth: step ${maxStep}`);
  assert.throws(() => new ValueNoise(new Rng(1), 1), /period/);
});
