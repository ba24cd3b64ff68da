/**
 * Procedural "generators" of synthetic faces: each is a set of families of localized artifacts in
 * the regions human annotators inspect (eyes, mouth/teeth, hair edge, skin), varying in strength
 * per image. Three generators are seen in training; four unseen generators make the test sets.
 *
 * The split is by kind of feature, as between GAN families: every seen family is a pixel-period
 * texture (period-2 checkerboard, period-4 grid, period-2 lines: upsampling-like), so every
 * training fake carries one and a small CNN fits the training set at 32 px. The unseen families
 * hit the same four regions with features of another kind: low-frequency colour (chroma blotches,
 * iris colours), low-pass (a smeared mouth), a smooth rim (hair halo), geometry (teeth, mouth,
 * pupils, highlights); only `unseen_dots` keeps a texture (a period-3 dot lattice), related to the
 * seen ones but not the same. A detector that memorised the seen textures transfers poorly; one
 * that looks at the right regions could in principle do better.
 *
 * A family either edits the face parameters before rendering (eye and teeth geometry) or
 * post-processes the rendered pixels inside a soft local mask. Every applied family reports the
 * image-space ellipse it touched (used by the simulated annotators and by tests).
 *
 * @module
 */
import type { Rng } from "../../rng.ts";
import { type FaceParams, landmarks } from "./face_params.ts";
import { type RenderedFace, renderFace } from "./face.ts";
import { ValueNoise } from "./noise.ts";
import { type Ellipse, ellipseMask, gaussianBlur, hsv, mixRgb } from "./raster.ts";

/** The face region an artifact family lives in. */
export type ArtifactRegionKind = "eyes" | "mouth" | "hair" | "skin";

/** One applied artifact: which family, where (image-space ellipse) and how strong. */
export interface AppliedArtifact {
  /** Family name. */
  family: string;
  /** Region kind. */
  region: ArtifactRegionKind;
  /** Where it was applied. */
  ellipse: Ellipse;
  /** Strength in (0, 1]. */
  strength: number;
}

/** A family of localized artifacts. */
export interface ArtifactFamily {
  /** Unique name, e.g. `skin_checker2`. */
  name: string;
  /** Region it lives in. */
  region: ArtifactRegionKind;
  /** One line: what it looks like and its frequency signature. */
  description: string;
  /** Whether it can be applied to this face (e.g. needs hair). */
  applicable(f: FaceParams): boolean;
  /** Parameter edit before rendering; returns the touched ellipses. */
  edit?(f: FaceParams, rng: Rng, strength: number): Ellipse[];
  /** Pixel post-process after rendering; returns the touched ellipses. */
  post?(r: RenderedFace, f: FaceParams, rng: Rng, strength: number): Ellipse[];
}

/** A procedural generator: a named set of artifact families. */
export interface GeneratorSpec {
  /** Source name (used in file names and CSV names). */
  name: string;
  /** Whether its images appear in training (seen) or only in test sets (unseen). */
  seen: boolean;
  /** One line for the README. */
  description: string;
  /** Its artifact families; each image gets one or two of the applicable ones. */
  families: readonly ArtifactFamily[];
}

const always = () => true;
const hasHair = (f: FaceParams) => f.hairStyle !== "none";

function pickSide(rng: Rng): 0 | 1 {
  return rng.chance(0.5) ? 0 : 1;
}

/**
 * Gain on every additive pixel-pattern artifact (skin, eye, mouth and hair-edge textures, the hair
 * halo, skin chroma blotches), seen and unseen generators alike. Calibrated by measurement on the
 * control variant's baseline alone (tools/calibration/torch_proxy.py, minicnn at 32 px, lr 0.05,
 * 20 epochs, seed 0), with the earlier generator design: at gain 1 nothing was learned (train
 * 0.55, unseen AUC 0.52); gain 3: train 0.69; gain 5: train 0.71 (then only about half of the
 * training fakes carried a texture). Never chosen on CYBORG's result.
 */
export const ARTIFACT_GAIN = 5;

/** Adds `pattern(x, y) * amp * weight` to all channels where `weight` (mask) is non-zero. */
function addPattern(
  r: RenderedFace,
  weight: Float32Array,
  amp: number,
  pattern: (x: number, y: number) => number,
): void {
  const { size, data } = r.image;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const w = weight[i];
      if (w <= 0) continue;
      const p = pattern(x, y) * amp * ARTIFACT_GAIN * w;
      data[3 * i] += p;
      data[3 * i + 1] += p;
      data[3 * i + 2] += p;
    }
  }
}

/** A soft skin patch (cheek or forehead) restricted to the visible face. */
function skinPatch(r: RenderedFace, f: FaceParams, rng: Rng): { e: Ellipse; w: Float32Array } {
  const lm = landmarks(f);
  const e = lm.skin[rng.int(3)];
  const size = r.image.size;
  const w = ellipseMask(size, e, 1.5);
  for (let i = 0; i < w.length; i++) w[i] *= r.faceMask[i];
  return { e, w };
}

/** Mask of the hair band (hair-coverage edge) near an ellipse. */
function hairEdgeBand(r: RenderedFace, e: Ellipse, widthPx: number): Float32Array {
  const size = r.image.size;
  const h = r.hairMask;
  const grad = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const gx = h[y * size + Math.min(size - 1, x + 1)] - h[y * size + Math.max(0, x - 1)];
      const gy = h[Math.min(size - 1, y + 1) * size + x] - h[Math.max(0, y - 1) * size + x];
      grad[i] = Math.min(1, Math.hypot(gx, gy));
    }
  }
  const band = gaussianBlur(grad, size, widthPx);
  let max = 0;
  for (let i = 0; i < band.length; i++) max = Math.max(max, band[i]);
  const w = ellipseMask(size, e, 2);
  for (let i = 0; i < w.length; i++) w[i] *= max > 0 ? Math.min(1, (2 * band[i]) / max) : 0;
  return w;
}

// ---------------------------------------------------------------- eye families

/** Unseen: one iris in another colour (mismatched irises). */
export const IRIS_MISMATCH: ArtifactFamily = {
  name: "iris_mismatch",
  region: "eyes",
  description: "one iris recoloured (hue shift): mismatched irises, low spatial frequency",
  applicable: always,
  edit(f, rng, s) {
    const k = pickSide(rng);
    const other = hsv(rng.uniform(), 0.55, 0.55);
    f.eyes[k].iris = mixRgb(f.eyes[k].iris, other, 0.45 + 0.55 * s);
    return [landmarks(f).eyes[k]];
  },
};

/** Unseen: asymmetric specular highlights (moved to the other side, or missing in one eye). */
export const HIGHLIGHT_ASYM: ArtifactFamily = {
  name: "highlight_asym",
  region: "eyes",
  description: "specular highlights inconsistent between the eyes (mirrored, displaced or missing)",
  applicable: always,
  edit(f, rng, s) {
    const k = pickSide(rng);
    const eye = f.eyes[k];
    const base = eye.highlight ??
      { dx: eye.irisR * 0.4, dy: -eye.irisR * 0.4, r: eye.irisR * 0.28 };
    f.eyes[1 - k].highlight = { ...base };
    if (rng.chance(0.3) && s > 0.5) eye.highlight = null;
    else {eye.highlight = {
        dx: -base.dx - eye.irisR * 0.3 * s,
        dy: -base.dy + eye.irisR * 0.3 * s,
        r: base.r * (1 + 0.4 * s),
      };}
    return [landmarks(f).eyes[k]];
  },
};

/** Unseen: pupils of different sizes. */
export const PUPIL_SIZE: ArtifactFamily = {
  name: "pupil_size",
  region: "eyes",
  description: "pupils of different sizes between the two eyes",
  applicable: always,
  edit(f, rng, s) {
    const k = pickSide(rng);
    const eye = f.eyes[k];
    eye.pupilR = Math.min(
      eye.irisR * 0.85,
      eye.pupilR * (rng.chance(0.5) ? 1 + 0.9 * s : 1 - 0.55 * s),
    );
    return [landmarks(f).eyes[k]];
  },
};

/** Unseen: a non-round (slit / oval) pupil in one eye. */
export const PUPIL_SHAPE: ArtifactFamily = {
  name: "pupil_shape",
  region: "eyes",
  description: "one pupil non-round (vertical or horizontal oval)",
  applicable: always,
  edit(f, rng, s) {
    const k = pickSide(rng);
    const eye = f.eyes[k];
    const tall = rng.chance(0.5);
    eye.pupilAspect = tall ? 1 + 1.2 * s : 1 / (1 + 1.2 * s);
    eye.pupilR = Math.min(eye.irisR * 0.8, eye.pupilR * (tall ? 1 : 1.3));
    return [landmarks(f).eyes[k]];
  },
};

/** Unseen: a sector of one iris in another colour. */
export const IRIS_SECTOR: ArtifactFamily = {
  name: "iris_sector",
  region: "eyes",
  description: "a wedge of one iris in another colour (sectoral heterochromia-like)",
  applicable: always,
  edit(f, rng, s) {
    const k = pickSide(rng);
    const from = rng.range(-Math.PI, Math.PI);
    f.eyes[k].irisSector = {
      color: mixRgb(f.eyes[k].iris, hsv(rng.uniform(), 0.7, 0.75), 0.5 + 0.5 * s),
      from,
      to: from + 1.2 + 2 * s,
    };
    return [landmarks(f).eyes[k]];
  },
};

// ---------------------------------------------------------------- mouth families

/** Unseen: smeared / ghosted mouth (horizontal blur plus a shifted copy). */
export const TEETH_SMEAR: ArtifactFamily = {
  name: "teeth_smear",
  region: "mouth",
  description: "mouth smeared horizontally and ghosted (low-pass along x, a doubled copy)",
  applicable: always,
  post(r, f, rng, s) {
    const e = landmarks(f).mouth;
    const { size, data } = r.image;
    const w = ellipseMask(size, e, 1);
    const rad = Math.max(1, Math.round((1 + 2 * s) * size / 64));
    const shift = Math.max(1, Math.round((2 + 2 * s) * size / 64)) * (rng.chance(0.5) ? 1 : -1);
    const src = data.slice();
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        if (w[i] <= 0) continue;
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let j = -rad; j <= rad; j++) {
            const xx = Math.min(size - 1, Math.max(0, x + j));
            acc += src[3 * (y * size + xx) + c];
          }
          const blur = acc / (2 * rad + 1);
          const xs = Math.min(size - 1, Math.max(0, x + shift));
          const ghost = src[3 * (y * size + xs) + c];
          const out = 0.6 * blur + 0.4 * ghost;
          data[3 * i + c] += (out - src[3 * i + c]) * w[i] * (0.5 + 0.5 * s);
        }
      }
    }
    return [e];
  },
};

/** Unseen: many narrow, perfectly regular (repeated) teeth. */
export const TEETH_REPEAT: ArtifactFamily = {
  name: "teeth_repeat",
  region: "mouth",
  description: "too many narrow identical teeth (repeated tile, regular period)",
  applicable: (f) => f.mouthOpen,
  edit(f, _rng, s) {
    f.teethCount = Math.round(11 + 7 * s);
    f.teethJitter = 0;
    return [landmarks(f).mouth];
  },
};

/** Unseen: lopsided mouth (corners at different heights). */
export const MOUTH_ASYM: ArtifactFamily = {
  name: "mouth_asym",
  region: "mouth",
  description: "lopsided mouth: one corner much higher than the other",
  applicable: always,
  edit(f, rng, s) {
    f.mouthTilt = (rng.chance(0.5) ? 1 : -1) * (0.04 + 0.06 * s);
    return [landmarks(f).mouth];
  },
};

// ---------------------------------------------------------------- hair families

/** Unseen: colour blotches on the hair edge. */
export const HAIR_BLOTCH: ArtifactFamily = {
  name: "hair_blotch",
  region: "hair",
  description: "off-colour blotches sitting on the hair edge (mid frequency, ~4-8 px blobs)",
  applicable: hasHair,
  post(r, f, rng, s) {
    const lm = landmarks(f);
    const size = r.image.size;
    const e = lm.hairEdge[rng.int(lm.hairEdge.length)];
    const band = hairEdgeBand(r, e, 1);
    const blobs = new Float32Array(size * size);
    const nb = 2 + rng.int(3);
    for (let k = 0; k < nb; k++) {
      const t = rng.range(0, 2 * Math.PI), rr = Math.sqrt(rng.uniform());
      const rad = rng.range(0.035, 0.06);
      ellipseMask(
        size,
        {
          cx: e.cx + Math.cos(t) * e.rx * rr * 0.8,
          cy: e.cy + Math.sin(t) * e.ry * rr * 0.8,
          rx: rad,
          ry: rad * rng.range(0.6, 1.2),
          angle: rng.range(0, Math.PI),
        },
        1.5,
        blobs,
      );
    }
    const col = hsv(rng.uniform(), 0.6, rng.range(0.4, 0.9));
    const data = r.image.data;
    const amt = 0.35 + 0.45 * s;
    for (let i = 0; i < blobs.length; i++) {
      const w = blobs[i] * Math.min(1, band[i] * 1.5) * amt;
      if (w <= 0) continue;
      for (let c = 0; c < 3; c++) data[3 * i + c] += (col[c] - data[3 * i + c]) * w;
    }
    return [e];
  },
};

/** Unseen: a bright halo along a stretch of the hair outline. */
export const HAIR_HALO: ArtifactFamily = {
  name: "hair_halo",
  region: "hair",
  description: "bright halo hugging a stretch of the hair outline (thin, smooth rim)",
  applicable: hasHair,
  post(r, f, rng, s) {
    const lm = landmarks(f);
    const e = lm.hairEdge[rng.int(lm.hairEdge.length)];
    const band = hairEdgeBand(r, e, 1.2);
    addPattern(r, band, 0.12 + 0.18 * s, () => 1);
    return [e];
  },
};

// ---------------------------------------------------------------- skin families

/** A period-2 checkerboard (`±1`). */
const checker2 = (x: number, y: number) => ((x + y) & 1 ? 1 : -1);

/** Period-4 dark grid lines through `(ox, oy)` (zero mean: `-1` on the lines, `7/9` elsewhere). */
const grid4 = (ox: number, oy: number) => (x: number, y: number) =>
  (x + ox) % 4 === 0 || (y + oy) % 4 === 0 ? -1 : 7 / 9;

/** Seen: period-2 checkerboard (transposed-convolution upsampling) on a skin patch. */
export const SKIN_CHECKER2: ArtifactFamily = {
  name: "skin_checker2",
  region: "skin",
  description: "period-2 checkerboard on a cheek/forehead patch (energy at the Nyquist corner)",
  applicable: always,
  post(r, f, rng, s) {
    const { e, w } = skinPatch(r, f, rng);
    addPattern(r, w, 0.035 + 0.035 * s, checker2);
    return [e];
  },
};

/** Seen: period-4 grid lines (upsampling grid) on a skin patch. */
export const SKIN_GRID4: ArtifactFamily = {
  name: "skin_grid4",
  region: "skin",
  description: "period-4 dark grid lines on a skin patch (peaks at 1/4 cycles per pixel)",
  applicable: always,
  post(r, f, rng, s) {
    const { e, w } = skinPatch(r, f, rng);
    const ox = rng.int(4), oy = rng.int(4);
    addPattern(r, w, 0.04 + 0.04 * s, grid4(ox, oy));
    return [e];
  },
};

/** Seen: period-2 checkerboard over one eye region. */
export const EYE_CHECKER2: ArtifactFamily = {
  name: "eye_checker2",
  region: "eyes",
  description: "period-2 checkerboard over one eye region (energy at the Nyquist corner)",
  applicable: always,
  post(r, f, rng, s) {
    const e = landmarks(f).eyes[pickSide(rng)];
    addPattern(r, ellipseMask(r.image.size, e, 1), 0.035 + 0.035 * s, checker2);
    return [e];
  },
};

/** Seen: period-4 grid lines over the mouth. */
export const MOUTH_GRID4: ArtifactFamily = {
  name: "mouth_grid4",
  region: "mouth",
  description: "period-4 dark grid lines over the mouth (peaks at 1/4 cycles per pixel)",
  applicable: always,
  post(r, f, rng, s) {
    const e = landmarks(f).mouth;
    const ox = rng.int(4), oy = rng.int(4);
    addPattern(r, ellipseMask(r.image.size, e, 1), 0.04 + 0.04 * s, grid4(ox, oy));
    return [e];
  },
};

/** Period-2 horizontal lines (alternate rows, as in interlaced or row-upsampled output). */
const lines2 = (oy: number) => (_x: number, y: number) => ((y + oy) & 1 ? 1 : -1);

/** Seen: period-2 horizontal lines over the mouth. */
export const MOUTH_LINES2: ArtifactFamily = {
  name: "mouth_lines2",
  region: "mouth",
  description: "period-2 horizontal lines over the mouth (energy at 1/2 cycles per pixel in y)",
  applicable: always,
  post(r, f, rng, s) {
    const e = landmarks(f).mouth;
    addPattern(r, ellipseMask(r.image.size, e, 1), 0.035 + 0.035 * s, lines2(rng.int(2)));
    return [e];
  },
};

/** Seen: period-2 horizontal lines along a stretch of the hair edge. */
export const HAIR_LINES2: ArtifactFamily = {
  name: "hair_lines2",
  region: "hair",
  description: "period-2 horizontal lines along a stretch of the hair edge (1/2 cycles per pixel)",
  applicable: hasHair,
  post(r, f, rng, s) {
    const lm = landmarks(f);
    const e = lm.hairEdge[rng.int(lm.hairEdge.length)];
    addPattern(r, hairEdgeBand(r, e, 1), 0.035 + 0.035 * s, lines2(rng.int(2)));
    return [e];
  },
};

/** Unseen: period-3 bright dot lattice on a skin patch. */
export const SKIN_DOTS3: ArtifactFamily = {
  name: "skin_dots3",
  region: "skin",
  description: "period-3 lattice of bright dots on a skin patch (peaks at 1/3 cycles per pixel)",
  applicable: always,
  post(r, f, rng, s) {
    const { e, w } = skinPatch(r, f, rng);
    const ox = rng.int(3), oy = rng.int(3);
    addPattern(
      r,
      w,
      0.05 + 0.05 * s,
      (x, y) => ((x + ox) % 3 === 0 && (y + oy) % 3 === 0 ? 1 : -1 / 8),
    );
    return [e];
  },
};

/** Unseen: low-frequency colour blotches on a skin patch. */
export const SKIN_BLOTCH: ArtifactFamily = {
  name: "skin_blotch",
  region: "skin",
  description: "red/green colour blotches on a skin patch (low frequency, chroma only)",
  applicable: always,
  post(r, f, rng, s) {
    const { e, w } = skinPatch(r, f, rng);
    const size = r.image.size;
    const n = new ValueNoise(rng, 16);
    const cell = 6 * size / 64;
    const amp = (0.05 + 0.07 * s) * ARTIFACT_GAIN;
    const d = r.image.data;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        if (w[i] <= 0) continue;
        const v = n.at(x / cell, y / cell) * amp * w[i];
        d[3 * i] += v;
        d[3 * i + 1] -= 0.7 * v;
        d[3 * i + 2] += 0.3 * v;
      }
    }
    return [e];
  },
};

/** The seen (training) generators: pixel-period textures (upsampling-like), one per family. */
export const SEEN_GENERATORS: readonly GeneratorSpec[] = [
  {
    name: "gen_checker",
    seen: true,
    description: "period-2 checkerboard on a skin patch or over an eye",
    families: [SKIN_CHECKER2, EYE_CHECKER2],
  },
  {
    name: "gen_grid",
    seen: true,
    description: "period-4 grid lines on a skin patch or over the mouth",
    families: [SKIN_GRID4, MOUTH_GRID4],
  },
  {
    name: "gen_lines",
    seen: true,
    description: "period-2 horizontal lines over the mouth or along the hair edge",
    families: [MOUTH_LINES2, HAIR_LINES2],
  },
];

/**
 * The unseen (test-only) generators, in the same four regions. Three use no pixel-period texture
 * at all (colour, low-pass, smooth-rim and geometric artifacts); `unseen_dots` keeps a related
 * but different one (a period-3 dot lattice) next to a smooth hair halo.
 */
export const UNSEEN_GENERATORS: readonly GeneratorSpec[] = [
  {
    name: "unseen_dots",
    seen: false,
    description: "period-3 skin dot lattice; bright halo on the hair outline",
    families: [SKIN_DOTS3, HAIR_HALO],
  },
  {
    name: "unseen_teeth",
    seen: false,
    description: "repeated narrow teeth; lopsided mouth; non-round pupil",
    families: [TEETH_REPEAT, MOUTH_ASYM, PUPIL_SHAPE],
  },
  {
    name: "unseen_blotch",
    seen: false,
    description: "chroma blotches on skin; iris colour wedge",
    families: [SKIN_BLOTCH, IRIS_SECTOR],
  },
  {
    name: "unseen_smear",
    seen: false,
    description: "smeared/ghosted mouth; off-colour hair-edge blotches; mismatched irises, " +
      "highlights or pupils",
    families: [TEETH_SMEAR, HAIR_BLOTCH, IRIS_MISMATCH, HIGHLIGHT_ASYM, PUPIL_SIZE],
  },
];

/** All generators by name. */
export function generatorByName(name: string): GeneratorSpec {
  const g = [...SEEN_GENERATORS, ...UNSEEN_GENERATORS].find((x) => x.name === name);
  if (!g) throw new Error(`unknown procfaces generator "${name}"`);
  return g;
}

/** A fake face: the render with its artifacts applied, and where they are. */
export interface FakeFace {
  /** Rendered image (artifacts applied, no sensor noise yet) and coverage maps. */
  rendered: RenderedFace;
  /** The artifacts applied, in order. */
  artifacts: AppliedArtifact[];
}

/**
 * Renders `f` as generator `gen` would: picks one or two applicable families (strength per image
 * in [0.35, 1]), edits parameters, renders, post-processes. `f` is modified in place.
 */
export function renderFake(gen: GeneratorSpec, f: FaceParams, rng: Rng, size: number): FakeFace {
  const usable = gen.families.filter((fam) => fam.applicable(f));
  if (usable.length === 0) throw new Error(`generator ${gen.name}: no applicable family`);
  const order = rng.permutation(usable.length);
  const k = Math.min(usable.length, rng.chance(0.5) ? 1 : 2);
  const chosen = order.slice(0, k).map((i) => usable[i]);
  const base = rng.range(0.35, 1);
  const plans = chosen.map((fam) => ({
    fam,
    strength: Math.min(1, Math.max(0.2, base * rng.range(0.85, 1.15))),
    rng: rng.fork(fam.name),
  }));
  const artifacts: AppliedArtifact[] = [];
  for (const p of plans) {
    if (!p.fam.edit) continue;
    for (const e of p.fam.edit(f, p.rng, p.strength)) {
      artifacts.push({
        family: p.fam.name,
        region: p.fam.region,
        ellipse: e,
        strength: p.strength,
      });
    }
  }
  const rendered = renderFace(f, size);
  for (const p of plans) {
    if (!p.fam.post) continue;
    for (const e of p.fam.post(rendered, f, p.rng, p.strength)) {
      artifacts.push({
        family: p.fam.name,
        region: p.fam.region,
        ellipse: e,
        strength: p.strength,
      });
    }
  }
  return { rendered, artifacts };
}
