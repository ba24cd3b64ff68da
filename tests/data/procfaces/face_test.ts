import assert from "node:assert/strict";
import { renderFace } from "../../../lib/data/procfaces/face.ts";
import {
  landmarks,
  sampleFace,
  STYLE_SHIFTED,
  toImage,
  toLocal,
} from "../../../lib/data/procfaces/face_params.ts";
import { ellipseMask } from "../../../lib/data/procfaces/raster.ts";
import { Rng } from "../../../lib/rng.ts";

Deno.test("face: render is deterministic, in range, and the face mask covers the face oval", () => {
  const f = sampleFace(new Rng(11));
  const a = renderFace(f, 48), b = renderFace(structuredClone(f), 48);
  assert.deepEqual(a.image.data, b.image.data);
  let lo = Infinity, hi = -Infinity;
  for (const v of a.image.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.ok(lo >= -0.05 && hi <= 1.3, `range ${lo}..${hi}`);
  const oval = ellipseMask(48, landmarks(f).face);
  let inter = 0, maskSum = 0;
  for (let i = 0; i < oval.length; i++) {
    inter += Math.min(oval[i], a.faceMask[i]);
    maskSum += a.faceMask[i];
  }
  assert.ok(maskSum > 0.1 * 48 * 48, "face mask too small");
  assert.ok(inter / maskSum > 0.98, "face mask outside the oval");
  assert.throws(() => renderFace(f, 4), /size must be/);
});

Deno.test("face: faces vary in pose, scale, skin and background", () => {
  const faces = Array.from({ length: 200 }, (_, i) => sampleFace(new Rng(100 + i)));
  const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
  assert.ok(spread(faces.map((f) => f.cx)) > 0.08);
  assert.ok(spread(faces.map((f) => f.roll)) > 0.3);
  assert.ok(spread(faces.map((f) => f.yaw)) > 0.5);
  assert.ok(spread(faces.map((f) => f.a)) > 0.04);
  assert.ok(spread(faces.map((f) => f.skin[0] + f.skin[1] + f.skin[2])) > 1);
  assert.equal(new Set(faces.map((f) => f.background.kind)).size, 3);
  assert.equal(new Set(faces.map((f) => f.hairStyle)).size, 3);
  const shifted = Array.from(
    { length: 200 },
    (_, i) => sampleFace(new Rng(100 + i), STYLE_SHIFTED),
  );
  const castSpread = (fs: typeof faces) =>
    fs.reduce((s, f) => s + Math.abs(f.cast[0] - f.cast[2]), 0) / fs.length;
  assert.ok(castSpread(shifted) > 1.5 * castSpread(faces), "shifted style has stronger casts");
});

Deno.test("face: local/image coordinate maps are inverse", () => {
  const f = sampleFace(new Rng(5));
  const [u, v] = toImage(f, 0.3, -0.4);
  const [x, y] = toLocal(f, u, v);
  assert.ok(Math.abs(x - 0.3) < 1e-9 && Math.abs(y + 0.4) < 1e-9);
});
