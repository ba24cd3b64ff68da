import assert from "node:assert/strict";
import {
  type ArtifactFamily,
  EYE_CHECKER2,
  generatorByName,
  HAIR_BLOTCH,
  HAIR_HALO,
  HAIR_LINES2,
  MOUTH_GRID4,
  MOUTH_LINES2,
  renderFake,
  SEEN_GENERATORS,
  SKIN_BLOTCH,
  SKIN_CHECKER2,
  SKIN_DOTS3,
  SKIN_GRID4,
  TEETH_SMEAR,
  UNSEEN_GENERATORS,
} from "../../../lib/data/procfaces/artifacts.ts";
import { renderFace } from "../../../lib/data/procfaces/face.ts";
import { type FaceParams, sampleFace } from "../../../lib/data/procfaces/face_params.ts";
import { ellipseMask } from "../../../lib/data/procfaces/raster.ts";
import { Rng } from "../../../lib/rng.ts";

const SIZE = 64;

function faceWithHair(seed: number): FaceParams {
  for (let s = seed;; s++) {
    const f = sampleFace(new Rng(s));
    if (f.hairStyle !== "none") return { ...f, mouthOpen: true };
  }
}

/** Luminance difference between the post-processed and the clean render. */
function postDiff(fam: ArtifactFamily, seed: number) {
  const f = faceWithHair(seed);
  const clean = renderFace(f, SIZE);
  const r = renderFace(f, SIZE);
  const regions = fam.post!(r, f, new Rng(seed), 1);
  const diff = new Float32Array(SIZE * SIZE);
  for (let i = 0; i < diff.length; i++) {
    for (let c = 0; c < 3; c++) {
      diff[i] += (r.image.data[3 * i + c] - clean.image.data[3 * i + c]) / 3;
    }
  }
  return { diff, regions };
}

/** Magnitude of the 2-D DFT of `x` at frequency (fx, fy) cycles per pixel. */
function dft(x: Float32Array, fx: number, fy: number): number {
  let re = 0, im = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let xx = 0; xx < SIZE; xx++) {
      const a = 2 * Math.PI * (fx * xx + fy * y);
      re += x[y * SIZE + xx] * Math.cos(a);
      im -= x[y * SIZE + xx] * Math.sin(a);
    }
  }
  return Math.hypot(re, im);
}

Deno.test("artifacts: pixel families stay inside the region they report", () => {
  for (
    const fam of [
      SKIN_CHECKER2,
      SKIN_GRID4,
      EYE_CHECKER2,
      MOUTH_GRID4,
      MOUTH_LINES2,
      HAIR_LINES2,
      SKIN_DOTS3,
      SKIN_BLOTCH,
      TEETH_SMEAR,
      HAIR_BLOTCH,
      HAIR_HALO,
    ]
  ) {
    for (const seed of [1, 2, 3]) {
      const { diff, regions } = postDiff(fam, seed);
      assert.ok(regions.length > 0, fam.name);
      const inside = new Float32Array(SIZE * SIZE);
      for (const e of regions) {
        ellipseMask(SIZE, { ...e, rx: e.rx + 3 / SIZE, ry: e.ry + 3 / SIZE }, 0, inside);
      }
      let total = 0, outside = 0;
      for (let i = 0; i < diff.length; i++) {
        total += Math.abs(diff[i]);
        if (inside[i] === 0) outside += Math.abs(diff[i]);
      }
      assert.ok(total > 0.05, `${fam.name} seed ${seed}: no visible change (${total})`);
      assert.ok(
        outside / total < 0.01,
        `${fam.name} seed ${seed}: ${(100 * outside / total).toFixed(1)}% outside`,
      );
    }
  }
});

Deno.test("artifacts: frequency signatures differ between seen and unseen skin families", () => {
  // Mean DFT magnitude of the artifact (artifact minus clean render) over a few faces.
  const spectrum = (fam: ArtifactFamily, fx: number, fy: number) =>
    [4, 5, 6].reduce((s, seed) => s + dft(postDiff(fam, seed).diff, fx, fy), 0) / 3;
  // Period-2 checker: energy at the Nyquist corner (1/2, 1/2), none at 1/3.
  assert.ok(spectrum(SKIN_CHECKER2, 0.5, 0.5) > 10 * spectrum(SKIN_CHECKER2, 1 / 3, 1 / 3));
  // Period-3 dots (unseen): energy at 1/3, none at the Nyquist corner.
  assert.ok(spectrum(SKIN_DOTS3, 1 / 3, 1 / 3) > 10 * spectrum(SKIN_DOTS3, 0.5, 0.5));
  // Period-4 grid: energy at (1/4, 0), little at (1/3, 1/3).
  assert.ok(spectrum(SKIN_GRID4, 0.25, 0) > 3 * spectrum(SKIN_GRID4, 1 / 3, 1 / 3));
});

Deno.test("artifacts: seen families are pixel-period textures; unseen ones lack their frequencies", () => {
  // Share of an artifact's energy (mean |artifact − clean|, summed) found at one frequency.
  const share = (fam: ArtifactFamily, fx: number, fy: number) => {
    let peak = 0, l1 = 0;
    for (const seed of [4, 5, 6]) {
      const { diff } = postDiff(fam, seed);
      peak += dft(diff, fx, fy);
      for (const v of diff) l1 += Math.abs(v);
    }
    return peak / l1;
  };
  // Every seen family is a post-render pixel texture (learnable at 32 px), never a geometry edit.
  const seenFrequencies: [number, number][] = [[0.5, 0.5], [0.25, 0], [0, 0.25], [0, 0.5]];
  const own: Record<string, [number, number]> = {
    skin_checker2: [0.5, 0.5],
    eye_checker2: [0.5, 0.5],
    skin_grid4: [0.25, 0],
    mouth_grid4: [0.25, 0],
    mouth_lines2: [0, 0.5],
    hair_lines2: [0, 0.5],
  };
  for (const fam of SEEN_GENERATORS.flatMap((g) => g.families)) {
    assert.ok(fam.post && !fam.edit, `${fam.name}: a seen family is a pixel texture`);
    assert.ok(own[fam.name], `${fam.name}: no frequency signature listed`);
    const v = share(fam, ...own[fam.name]);
    assert.ok(v > 0.3, `${fam.name}: ${v.toFixed(3)} of its energy at its period`);
  }
  // The unseen texture-free families carry (almost) none of the seen frequencies.
  for (const fam of [SKIN_BLOTCH, HAIR_HALO, HAIR_BLOTCH, TEETH_SMEAR]) {
    for (const [fx, fy] of seenFrequencies) {
      const v = share(fam, fx, fy);
      assert.ok(v < 0.15, `${fam.name} at (${fx}, ${fy}): ${v.toFixed(3)}`);
    }
  }
});

Deno.test("artifacts: generators are disjoint, fakes report regions, strength varies", () => {
  const seen = new Set(SEEN_GENERATORS.flatMap((g) => g.families.map((f) => f.name)));
  for (const g of UNSEEN_GENERATORS) {
    for (const f of g.families) assert.ok(!seen.has(f.name), f.name);
  }
  const regionsSeen = new Set(SEEN_GENERATORS.flatMap((g) => g.families.map((f) => f.region)));
  const regionsUnseen = new Set(UNSEEN_GENERATORS.flatMap((g) => g.families.map((f) => f.region)));
  assert.deepEqual([...regionsSeen].sort(), ["eyes", "hair", "mouth", "skin"]);
  assert.deepEqual([...regionsUnseen].sort(), ["eyes", "hair", "mouth", "skin"]);
  assert.throws(() => generatorByName("nope"), /unknown procfaces generator "nope"/);
  const strengths: number[] = [];
  for (const g of [...SEEN_GENERATORS, ...UNSEEN_GENERATORS]) {
    for (let i = 0; i < 6; i++) {
      const f = sampleFace(new Rng(900 + i));
      const clean = renderFace(structuredClone(f), 32);
      const fake = renderFake(g, f, new Rng(i), 32);
      assert.ok(fake.artifacts.length >= 1, g.name);
      for (const a of fake.artifacts) assert.ok(g.families.some((x) => x.name === a.family));
      strengths.push(...fake.artifacts.map((a) => a.strength));
      let d = 0;
      for (let k = 0; k < clean.image.data.length; k++) {
        d += Math.abs(clean.image.data[k] - fake.rendered.image.data[k]);
      }
      assert.ok(d > 0.05, `${g.name} #${i}: image unchanged`);
    }
  }
  assert.ok(
    Math.max(...strengths) - Math.min(...strengths) > 0.4,
    "strength should vary per image",
  );
});
