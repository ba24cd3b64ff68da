/**
 * Renders a {@linkcode FaceParams} into an RGB image (pure TypeScript, anti-aliased soft shapes):
 * background, clothes, neck, hair with strands, a shaded face oval with smooth skin texture,
 * eyebrows, eyes (sclera, iris, pupil, highlight, eyelid line), nose, lips and teeth, fringe.
 * It also returns the visible face and hair coverage, which artifacts and masks use.
 *
 * Sensor noise is not added here (see {@linkcode addSensorNoise}) so that generator artifacts can
 * be applied to the clean render first, as a generator's output would then be captured/saved.
 *
 * @module
 */
import { Rng } from "../../rng.ts";
import { eyeX, type FaceParams, foreshorten, midline } from "./face_params.ts";
import { ValueNoise } from "./noise.ts";
import { newImage, type RgbImage } from "./raster.ts";

/** A rendered face and its coverage maps (`size × size`, values in [0, 1]). */
export interface RenderedFace {
  /** The RGB image (no sensor noise yet). */
  image: RgbImage;
  /** Visible face-oval coverage (skin and inner features, minus fringe hair). */
  faceMask: Float32Array;
  /** Visible hair coverage (behind the face and fringe). */
  hairMask: Float32Array;
}

/** Approximate signed distance to an axis-aligned ellipse in local units (negative inside). */
function ed(x: number, y: number, cx: number, cy: number, rx: number, ry: number): number {
  const dx = (x - cx) / rx, dy = (y - cy) / ry;
  return (Math.sqrt(dx * dx + dy * dy) - 1) * (rx < ry ? rx : ry);
}

function cov(d: number, px: number): number {
  const c = 0.5 - d / px;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/** Renders a face at `size × size` pixels. Deterministic in `f` (noise comes from `f.noiseSeed`). */
export function renderFace(f: FaceParams, size: number): RenderedFace {
  if (!Number.isInteger(size) || size < 8) {
    throw new Error(`renderFace: size must be an integer >= 8, got ${size}`);
  }
  const image = newImage(size);
  const faceMask = new Float32Array(size * size);
  const hairMask = new Float32Array(size * size);
  const rng = new Rng(f.noiseSeed);
  const skinNoise = new ValueNoise(rng.fork("skin"), 32);
  const bgNoise = new ValueNoise(rng.fork("bg"), 16);
  const hairNoise = new ValueNoise(rng.fork("hair"), 64);
  const edgeNoise = new ValueNoise(rng.fork("edge"), 32);
  const teethRng = rng.fork("teeth");
  const teethOffsets = Array.from({ length: 32 }, () => (teethRng.uniform() - 0.5) * f.teethJitter);
  const hairPhase = rng.fork("phase").range(0, 2 * Math.PI);

  const px = 1 / size; // pixel side, normalised
  const pl = px / f.a; // pixel side, local units
  const m = midline(f);
  const cr = Math.cos(f.roll), sr = Math.sin(f.roll);
  const bg = f.background;
  const bgc = Math.cos(bg.angle), bgs = Math.sin(bg.angle);
  const sc = Math.cos(f.strandAngle), ss = Math.sin(f.strandAngle);
  const L = f.light;
  const hasHair = f.hairStyle !== "none";
  const hairTop = -0.16 * f.e;
  const exL = eyeX(f, -1), exR = eyeX(f, 1);
  const fsL = foreshorten(f, -1), fsR = foreshorten(f, 1);
  const noseSide = L.x > 0 ? -1 : 1;
  const teethIw = f.mouthW * 0.78;
  const d = image.data;
  // Hair colour at a local point (strands: noise stretched along the strand direction).
  const hc = [0, 0, 0];
  const hairColour = (X: number, Y: number) => {
    const along = (X * sc + Y * ss) * 1.5, across = (-X * ss + Y * sc) * 14;
    const strand = 0.72 + 0.28 * hairNoise.fractal(across, along, 2);
    const lam = 0.75 + 0.25 * (-(X * L.x + Y * L.y) * 0.5);
    hc[0] = f.hair[0] * strand * lam;
    hc[1] = f.hair[1] * strand * lam;
    hc[2] = f.hair[2] * strand * lam;
  };

  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) * px;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) * px;
      // Background.
      let r: number, g: number, b: number;
      if (bg.kind === "solid") {
        [r, g, b] = bg.c1;
      } else {
        let t: number;
        if (bg.kind === "gradient") t = 0.5 + ((u - 0.5) * bgc + (v - 0.5) * bgs) * 1.2;
        else t = 0.5 + 0.6 * bgNoise.fractal(u * bg.cells, v * bg.cells, 3);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        r = bg.c1[0] + (bg.c2[0] - bg.c1[0]) * t;
        g = bg.c1[1] + (bg.c2[1] - bg.c1[1]) * t;
        b = bg.c1[2] + (bg.c2[2] - bg.c1[2]) * t;
      }
      // Face-local coordinates.
      const dx = (u - f.cx) / f.a, dy = (v - f.cy) / f.a;
      const X = cr * dx + sr * dy, Y = -sr * dx + cr * dy;

      // Clothes (shoulders) and neck.
      const cC = cov(ed(X, Y, 0, f.e * 1.95, 2.4, 0.85), pl);
      if (cC > 0) {
        const sh = 0.8 + 0.2 * (X * 0.1 + 0.5);
        r += (f.clothes[0] * sh - r) * cC;
        g += (f.clothes[1] * sh - g) * cC;
        b += (f.clothes[2] * sh - b) * cC;
      }
      const cN = cov(ed(X, Y, m * 0.3, f.e * 1.0, 0.48, 0.6), pl) * (Y > 0 ? 1 : 0);
      if (cN > 0) {
        r += (f.skin[0] * 0.7 - r) * cN;
        g += (f.skin[1] * 0.7 - g) * cN;
        b += (f.skin[2] * 0.7 - b) * cN;
      }

      // Hair behind the face.
      let hr = 0, hg = 0, hb = 0, backHair = 0;
      if (hasHair) {
        // Exact early-out: the jagged outline lies within jag in [1 - hairJag, 1 + hairJag].
        const rx1 = 1.16, ry1 = f.e * 0.95, min1 = rx1 < ry1 ? rx1 : ry1;
        const r1 = Math.sqrt((X / rx1) ** 2 + ((Y - hairTop) / ry1) ** 2);
        let maybe = (r1 - (1 + f.hairJag)) * min1 < 0.5 * pl;
        if (!maybe && f.hairStyle === "long" && Y > hairTop) {
          maybe = Math.max(Math.abs(X) - 1.2 * (1 + f.hairJag), Y - (f.e * 1.4 + 0.15)) < 0.5 * pl;
        }
        if (maybe) {
          const ang = Math.atan2(Y - hairTop, X);
          const jag = 1 + f.hairJag * edgeNoise.at(ang * 5 + 40, 3.5);
          let dh = ed(X, Y, 0, hairTop, 1.16 * jag, f.e * 0.95 * jag);
          if (f.hairStyle === "long" && Y > hairTop) {
            const bottom = f.e * 1.4 + 0.15 * edgeNoise.at(X * 4, 9.5);
            const box = Math.max(Math.abs(X) - 1.2 * jag, Y - bottom);
            dh = Math.min(dh, box);
          }
          backHair = cov(dh, pl);
        }
        if (backHair > 0) {
          hairColour(X, Y);
          [hr, hg, hb] = hc;
          r += (hr - r) * backHair;
          g += (hg - g) * backHair;
          b += (hb - b) * backHair;
        }
      }

      // Face oval with everything inside it.
      const cF = cov(ed(X, Y, 0, 0, 1, f.e), pl);
      let fringe = 0;
      if (cF > 0) {
        const ny = Y / f.e;
        const nz2 = 1 - X * X - ny * ny;
        const nz = nz2 > 0 ? Math.sqrt(nz2) : 0;
        let lam = X * L.x + ny * L.y + nz * L.z;
        lam = f.ambient + (1 - f.ambient) * (lam > 0 ? lam : 0);
        const tex = 1 + f.skinTexture * skinNoise.fractal(u * 12, v * 12, 3);
        let fr = f.skin[0] * lam * tex, fg = f.skin[1] * lam * tex, fb = f.skin[2] * lam * tex;
        // Nose shading and nostrils.
        const cNs = cov(ed(X, Y, m + noseSide * 0.08, 0.08, 0.035, 0.2), pl * 3);
        if (cNs > 0) {
          fr *= 1 - 0.15 * cNs;
          fg *= 1 - 0.15 * cNs;
          fb *= 1 - 0.15 * cNs;
        }
        for (let side = -1; side <= 1; side += 2) {
          const cn = cov(ed(X, Y, m + side * 0.075, 0.3, 0.04, 0.025), pl);
          if (cn > 0) {
            fr *= 1 - 0.55 * cn;
            fg *= 1 - 0.55 * cn;
            fb *= 1 - 0.55 * cn;
          }
        }
        // Eyebrows and eyes.
        for (let k = 0; k < 2; k++) {
          const ex = k === 0 ? exL : exR, fs = k === 0 ? fsL : fsR;
          const cB = cov(ed(X, Y, ex, f.eyeY - 0.2, f.eyeW * 1.15 * fs, 0.035), pl) * 0.85;
          if (cB > 0) {
            fr += (f.hair[0] * 0.8 - fr) * cB;
            fg += (f.hair[1] * 0.8 - fg) * cB;
            fb += (f.hair[2] * 0.8 - fb) * cB;
          }
          const dE = ed(X, Y, ex, f.eyeY, f.eyeW * fs, f.eyeH);
          if (dE > 0.03 + pl) continue;
          const eye = f.eyes[k];
          let er = 0.93 * lam, eg = 0.9 * lam, eb = 0.87 * lam;
          const ix = ex + f.gaze * fs, iy = f.eyeY;
          const dI = ed(X, Y, ix, iy, eye.irisR * fs, eye.irisR);
          const cI = cov(dI, pl);
          if (cI > 0) {
            const rad = Math.min(1, Math.hypot((X - ix) / fs, Y - iy) / eye.irisR);
            const shade = 1 - 0.35 * rad * rad;
            let ic = eye.iris;
            if (eye.irisSector) {
              const ang = Math.atan2(Y - iy, X - ix);
              const { from, to } = eye.irisSector;
              if (
                (ang >= from && ang <= to) || (ang + 2 * Math.PI >= from && ang + 2 * Math.PI <= to)
              ) {
                ic = eye.irisSector.color;
              }
            }
            er += (ic[0] * shade - er) * cI;
            eg += (ic[1] * shade - eg) * cI;
            eb += (ic[2] * shade - eb) * cI;
          }
          const cP = cov(ed(X, Y, ix, iy, eye.pupilR * fs, eye.pupilR * eye.pupilAspect), pl);
          if (cP > 0) {
            er += (0.03 - er) * cP;
            eg += (0.03 - eg) * cP;
            eb += (0.03 - eb) * cP;
          }
          if (eye.highlight) {
            const h = eye.highlight;
            const cH = cov(ed(X, Y, ix + h.dx * fs, iy + h.dy, h.r * fs, h.r), pl);
            if (cH > 0) {
              er += (1 - er) * cH;
              eg += (1 - eg) * cH;
              eb += (1 - eb) * cH;
            }
          }
          // Eyelid line: dark rim around the opening.
          const rim = cov(Math.abs(dE + 0.005) - 0.016, pl);
          const cE = cov(dE, pl);
          fr += (er - fr) * cE;
          fg += (eg - fg) * cE;
          fb += (eb - fb) * cE;
          if (rim > 0) {
            fr += (f.hair[0] * 0.5 + 0.05 - fr) * rim * 0.8;
            fg += (f.hair[1] * 0.5 + 0.03 - fg) * rim * 0.8;
            fb += (f.hair[2] * 0.5 + 0.03 - fb) * rim * 0.8;
          }
        }
        // Mouth.
        const my = f.mouthY + f.mouthTilt * (X - m) / f.mouthW;
        const cL = cov(ed(X, Y, m, my, f.mouthW, 0.085), pl);
        if (cL > 0) {
          let lr = f.lips[0] * lam, lg = f.lips[1] * lam, lb = f.lips[2] * lam;
          if (f.mouthOpen) {
            const cM = cov(ed(X, Y, m, my, teethIw, 0.055), pl);
            if (cM > 0) {
              let mr = 0.22, mg = 0.05, mb = 0.05;
              const cT = cov(Y - (my + 0.004), pl);
              if (cT > 0) {
                const t = (X - (m - teethIw)) / (2 * teethIw) * f.teethCount;
                const ti = Math.max(0, Math.min(31, Math.floor(t)));
                const fracT = t - Math.floor(t) + teethOffsets[ti];
                const gap = fracT < 0.12 || fracT > 0.97 ? 0.6 : 1;
                const tr = 0.95 * gap * lam, tg = 0.93 * gap * lam, tb = 0.84 * gap * lam;
                mr += (tr - mr) * cT;
                mg += (tg - mg) * cT;
                mb += (tb - mb) * cT;
              }
              lr += (mr - lr) * cM;
              lg += (mg - lg) * cM;
              lb += (mb - lb) * cM;
            }
          } else {
            const seam = cov(Math.abs(Y - my) - 0.008, pl);
            lr *= 1 - 0.5 * seam;
            lg *= 1 - 0.5 * seam;
            lb *= 1 - 0.5 * seam;
          }
          fr += (lr - fr) * cL;
          fg += (lg - fg) * cL;
          fb += (lb - fb) * cL;
        }
        // Fringe: hair above the (wavy, ragged) hairline.
        if (hasHair) {
          const hl = f.hairline + f.hairWave * Math.sin(X * 3 + hairPhase) +
            f.hairJag * 0.6 * edgeNoise.at(X * 6 + 11.5, 20.5);
          fringe = cov(Y - hl, pl);
          if (fringe > 0) {
            if (backHair <= 0) {
              hairColour(X, Y);
              [hr, hg, hb] = hc;
            }
            fr += (hr - fr) * fringe;
            fg += (hg - fg) * fringe;
            fb += (hb - fb) * fringe;
          }
        }
        r += (fr - r) * cF;
        g += (fg - g) * cF;
        b += (fb - b) * cF;
      }
      const i = y * size + x;
      faceMask[i] = cF * (1 - fringe);
      hairMask[i] = Math.max(backHair * (1 - cF), fringe * cF);
      d[3 * i] = r * f.cast[0];
      d[3 * i + 1] = g * f.cast[1];
      d[3 * i + 2] = b * f.cast[2];
    }
  }
  return { image, faceMask, hairMask };
}

/**
 * Adds sensor noise of std `std` to every channel, drawn from `rng`: an Irwin–Hall sum of four
 * uniforms (bell-shaped, bounded at ±2√3 std), much cheaper than Box–Muller per sample.
 */
export function addSensorNoise(img: RgbImage, std: number, rng: Rng): void {
  const d = img.data;
  const k = (std * Math.sqrt(3)) / 4294967296;
  for (let i = 0; i < d.length; i++) {
    d[i] += (rng.nextU32() + rng.nextU32() + rng.nextU32() + rng.nextU32() - 2 * 4294967296) * k;
  }
}
