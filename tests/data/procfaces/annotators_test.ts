import assert from "node:assert/strict";
import { simulateSaliency } from "../../../lib/data/procfaces/annotators.ts";
import { renderFake, SEEN_GENERATORS } from "../../../lib/data/procfaces/artifacts.ts";
import { landmarks, sampleFace } from "../../../lib/data/procfaces/face_params.ts";
import { artifactMask } from "../../../lib/data/procfaces/sample.ts";
import { ellipseMask } from "../../../lib/data/procfaces/raster.ts";
import { Rng } from "../../../lib/rng.ts";

const SIZE = 48;

Deno.test("annotators: fake maps concentrate on artifact regions far above chance", () => {
  let ratioSum = 0, n = 0;
  for (let i = 0; i < 30; i++) {
    const g = SEEN_GENERATORS[i % SEEN_GENERATORS.length];
    const f = sampleFace(new Rng(i));
    const fake = renderFake(g, f, new Rng(1000 + i), SIZE);
    const map = simulateSaliency(
      SIZE,
      fake.artifacts.map((a) => a.ellipse),
      landmarks(f),
      new Rng(2000 + i),
    );
    const art = artifactMask(SIZE, fake.artifacts);
    let mapIn = 0, mapAll = 0, area = 0;
    for (let k = 0; k < map.length; k++) {
      assert.ok(map[k] >= 0 && map[k] <= 1);
      mapAll += map[k];
      mapIn += map[k] * art[k];
      area += art[k];
    }
    assert.ok(mapAll > 0, "empty map");
    // Share of map mass on artifacts vs share of image area covered by artifacts.
    ratioSum += (mapIn / mapAll) / (area / map.length);
    n++;
  }
  assert.ok(ratioSum / n > 4, `mean enrichment ${ratioSum / n}`);
});

Deno.test("annotators: real maps mark face parts; annotators disagree; deterministic", () => {
  const f = sampleFace(new Rng(3));
  const lm = landmarks(f);
  const a = simulateSaliency(SIZE, [], lm, new Rng(9));
  const b = simulateSaliency(SIZE, [], lm, new Rng(9));
  assert.deepEqual(a, b);
  const face = ellipseMask(SIZE, { ...lm.face, rx: lm.face.rx * 1.3, ry: lm.face.ry * 1.3 });
  let inFace = 0, all = 0;
  const levels = new Set<number>();
  for (let k = 0; k < a.length; k++) {
    all += a[k];
    inFace += a[k] * face[k];
    if (a[k] > 0.05) levels.add(Math.round(a[k] * 20));
  }
  assert.ok(inFace / all > 0.9, `real map outside the face: ${inFace / all}`);
  // Averaging imperfect annotators gives graded values, not a binary mask.
  assert.ok(levels.size > 5, `levels ${levels.size}`);
});
