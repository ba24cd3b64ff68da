import assert from "node:assert/strict";
import {
  applyShortcut,
  DEFAULT_SHORTCUT,
  hasShortcut,
  shortcutScore,
  shortcutWeights,
} from "../../../lib/data/procfaces/shortcut.ts";
import { Rng } from "../../../lib/rng.ts";

function noisyImage(size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < out.length; i++) out[i] = 100 + rng.int(20);
  return out;
}

Deno.test("shortcut: mark sits in the bottom-right corner only and is measurable", () => {
  const size = 64;
  const w = shortcutWeights(size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const corner = size * (1 - DEFAULT_SHORTCUT.sizeFrac - 0.1);
      if (w[y * size + x] > 0) assert.ok(x >= corner && y >= corner, `weight at ${x},${y}`);
    }
  }
  const img = noisyImage(size, 3);
  const marked = applyShortcut(img, size);
  let changed = 0;
  for (let i = 0; i < img.length; i++) if (img[i] !== marked[i]) changed++;
  assert.ok(changed > 20 && changed < size * size * 3 * 0.05, `changed ${changed}`);
  const before = shortcutScore(img, size), after = shortcutScore(marked, size);
  assert.ok(Math.abs(before) < 2, `score without mark ${before}`);
  assert.ok(after > DEFAULT_SHORTCUT.amplitude * 0.6, `score with mark ${after}`);
  assert.throws(() => applyShortcut(img, 32), /applyShortcut: expected/);
});

Deno.test("shortcut: presence rates follow pFake / pReal and are deterministic", () => {
  let fake = 0, real = 0;
  const n = 2000;
  for (let i = 0; i < n; i++) {
    if (hasShortcut(5, `b${i}`, 1)) fake++;
    if (hasShortcut(5, `b${i}`, 0)) real++;
    assert.equal(hasShortcut(5, `b${i}`, 1), hasShortcut(5, `b${i}`, 1));
  }
  assert.ok(Math.abs(fake / n - DEFAULT_SHORTCUT.pFake) < 0.03, `fake rate ${fake / n}`);
  assert.ok(Math.abs(real / n - DEFAULT_SHORTCUT.pReal) < 0.03, `real rate ${real / n}`);
});
