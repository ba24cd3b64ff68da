/**
 * The parametric face model of the procedural-faces benchmark: what varies between faces (pose,
 * scale, skin, lighting, hair, eyes, mouth, background, fine texture), how a "capture style"
 * samples those parameters, and where the face parts lie in the image (landmark ellipses used by
 * artifacts, simulated annotators and segmentation masks).
 *
 * Geometry lives in a face-local frame: `X` across the face, `Y` down it, both in units of the
 * face half-width `a`; the face oval is `X² + (Y/e)² = 1`. {@linkcode toImage} maps local points
 * to normalised image coordinates (centre, scale, roll).
 *
 * @module
 */
import type { Rng } from "../../rng.ts";
import { type Ellipse, hsv, paletteAt, type Rgb } from "./raster.ts";

/** One eye's appearance (per eye so that generators can make the two disagree). */
export interface EyeParams {
  /** Iris colour. */
  iris: Rgb;
  /** Iris radius (local units). */
  irisR: number;
  /** Pupil radius (local units). */
  pupilR: number;
  /** Pupil height / width (1 = round). */
  pupilAspect: number;
  /** Specular highlight offset from the iris centre (local units) and radius; null = none. */
  highlight: { dx: number; dy: number; r: number } | null;
  /** A sector of the iris in another colour (heterochromia-like artifact); null = none. */
  irisSector: { color: Rgb; from: number; to: number } | null;
}

/** Which hair shape a face has. */
export type HairStyle = "none" | "short" | "long";

/** Which background a face has. */
export type BackgroundKind = "solid" | "gradient" | "texture";

/** Every parameter of one rendered face. */
export interface FaceParams {
  /** Face centre, normalised image coordinates. */
  cx: number;
  /** See {@linkcode FaceParams.cx}. */
  cy: number;
  /** Face half-width (normalised). */
  a: number;
  /** Face height / width ratio of the oval. */
  e: number;
  /** In-plane rotation (radians). */
  roll: number;
  /** Out-of-plane turn in [-1, 1]: shifts the feature midline and foreshortens the far side. */
  yaw: number;
  /** Skin colour. */
  skin: Rgb;
  /** Lip colour. */
  lips: Rgb;
  /** Hair colour (also eyebrows, darker). */
  hair: Rgb;
  /** Hair shape. */
  hairStyle: HairStyle;
  /** Hairline height in local Y (fringe boundary). */
  hairline: number;
  /** Amplitude of the hairline waviness (local units). */
  hairWave: number;
  /** Raggedness of the hair outline (fraction of radius). */
  hairJag: number;
  /** Direction of hair strands (radians). */
  strandAngle: number;
  /** Eye row in local Y. */
  eyeY: number;
  /** Half distance between the eyes (local units). */
  eyeSep: number;
  /** Eye semi-axes (local units). */
  eyeW: number;
  /** See {@linkcode FaceParams.eyeW}. */
  eyeH: number;
  /** Gaze offset of both irises (local units). */
  gaze: number;
  /** Left (image-left) and right eye. */
  eyes: [EyeParams, EyeParams];
  /** Mouth centre in local Y. */
  mouthY: number;
  /** Mouth half-width (local units). */
  mouthW: number;
  /** Vertical offset of the right mouth corner relative to the left (local units). */
  mouthTilt: number;
  /** Whether the mouth is open with teeth showing. */
  mouthOpen: boolean;
  /** Number of visible upper teeth. */
  teethCount: number;
  /** Random irregularity of the teeth gaps (0 = even). */
  teethJitter: number;
  /** Light direction in the image plane (unit vector x, y) and its elevation weight. */
  light: { x: number; y: number; z: number };
  /** Ambient light share in [0, 1]. */
  ambient: number;
  /** Global colour multiplier of the capture (white balance). */
  cast: Rgb;
  /** Background kind and colours. */
  background: { kind: BackgroundKind; c1: Rgb; c2: Rgb; angle: number; cells: number };
  /** Clothes colour. */
  clothes: Rgb;
  /** Amplitude of the smooth skin texture. */
  skinTexture: number;
  /** Per-pixel sensor noise std (in [0, 1] intensity units). */
  sensorNoise: number;
  /** Seed of every noise field of this face. */
  noiseSeed: number;
}

/** A capture style: how one real source samples faces. */
export interface CaptureStyle {
  /** Name used in reports. */
  name: string;
  /** Std of the face centre offset (normalised). */
  posJitter: number;
  /** Range of the face half-width (normalised). */
  scale: [number, number];
  /** Std of the roll angle (radians). */
  rollStd: number;
  /** Max absolute yaw. */
  yawMax: number;
  /** Probabilities of solid / gradient / texture backgrounds. */
  backgroundMix: [number, number, number];
  /** Std of the white-balance cast per channel. */
  castStd: number;
  /** Range of the ambient light share. */
  ambient: [number, number];
  /** Range of sensor noise std. */
  sensorNoise: [number, number];
}

/** The training distribution (and the held-out real source drawn like it). */
export const STYLE_STANDARD: CaptureStyle = {
  name: "standard",
  posJitter: 0.03,
  scale: [0.24, 0.3],
  rollStd: 0.1,
  yawMax: 0.35,
  backgroundMix: [0.3, 0.4, 0.3],
  castStd: 0.03,
  ambient: [0.45, 0.7],
  sensorNoise: [0.006, 0.016],
};

/** A shifted real source: other framing, harsher light, colour casts, mostly textured backgrounds. */
export const STYLE_SHIFTED: CaptureStyle = {
  name: "shifted",
  posJitter: 0.05,
  scale: [0.21, 0.33],
  rollStd: 0.16,
  yawMax: 0.5,
  backgroundMix: [0.15, 0.25, 0.6],
  castStd: 0.07,
  ambient: [0.3, 0.6],
  sensorNoise: [0.01, 0.025],
};

const SKIN: Rgb[] = [
  [0.98, 0.86, 0.76],
  [0.92, 0.74, 0.6],
  [0.78, 0.57, 0.42],
  [0.58, 0.4, 0.28],
  [0.38, 0.25, 0.17],
];
const HAIR: Rgb[] = [
  [0.08, 0.06, 0.05],
  [0.25, 0.16, 0.09],
  [0.45, 0.3, 0.16],
  [0.78, 0.64, 0.38],
  [0.6, 0.28, 0.12],
  [0.7, 0.7, 0.7],
];
const IRIS: Rgb[] = [
  [0.3, 0.18, 0.08],
  [0.42, 0.28, 0.12],
  [0.25, 0.45, 0.65],
  [0.3, 0.5, 0.3],
  [0.45, 0.48, 0.5],
];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

function jitterRgb(rng: Rng, c: Rgb, std: number): Rgb {
  return [c[0] + rng.normal() * std, c[1] + rng.normal() * std, c[2] + rng.normal() * std];
}

function pickIndex(rng: Rng, probs: readonly number[]): number {
  let u = rng.uniform();
  for (let i = 0; i < probs.length - 1; i++) {
    if (u < probs[i]) return i;
    u -= probs[i];
  }
  return probs.length - 1;
}

/** A natural eye (both eyes of a real face share iris colour, size and a consistent highlight). */
function naturalEye(
  iris: Rgb,
  irisR: number,
  pupilR: number,
  hl: EyeParams["highlight"],
): EyeParams {
  return {
    iris,
    irisR,
    pupilR,
    pupilAspect: 1,
    highlight: hl ? { ...hl } : null,
    irisSector: null,
  };
}

/** Samples a natural (artifact-free) face in the given capture style. */
export function sampleFace(rng: Rng, style: CaptureStyle = STYLE_STANDARD): FaceParams {
  const a = rng.range(style.scale[0], style.scale[1]);
  const e = rng.range(1.22, 1.4);
  const lightAngle = rng.range(0, 2 * Math.PI);
  const lz = rng.range(0.5, 1.2);
  const ln = Math.hypot(1, lz);
  const skin = jitterRgb(rng, paletteAt(SKIN, rng.uniform()), 0.015);
  const hair = jitterRgb(
    rng,
    pickIndex(rng, [0.9, 0.1]) === 0 ? pick(rng, HAIR) : hsv(rng.uniform(), 0.6, 0.6),
    0.02,
  );
  const iris = jitterRgb(rng, pick(rng, IRIS), 0.03);
  const irisR = rng.range(0.07, 0.085);
  const pupilR = irisR * rng.range(0.35, 0.5);
  const hl = rng.chance(0.85)
    ? {
      dx: Math.cos(lightAngle) * irisR * 0.45,
      dy: -Math.abs(Math.sin(lightAngle)) * irisR * 0.45,
      r: irisR * rng.range(0.22, 0.32),
    }
    : null;
  const bgKind = (["solid", "gradient", "texture"] as const)[pickIndex(rng, style.backgroundMix)];
  const bgHue = rng.uniform();
  const c1 = hsv(bgHue, rng.range(0.05, 0.6), rng.range(0.25, 0.95));
  const c2 = hsv(bgHue + rng.range(-0.25, 0.25), rng.range(0.05, 0.6), rng.range(0.25, 0.95));
  const hairStyle = (["none", "short", "long"] as const)[pickIndex(rng, [0.08, 0.5, 0.42])];
  const cast: Rgb = [
    1 + rng.normal() * style.castStd,
    1 + rng.normal() * style.castStd,
    1 + rng.normal() * style.castStd,
  ];
  return {
    cx: 0.5 + rng.normal() * style.posJitter,
    cy: 0.47 + rng.normal() * style.posJitter,
    a,
    e,
    roll: rng.normal() * style.rollStd,
    yaw: rng.range(-style.yawMax, style.yawMax),
    skin,
    lips: [skin[0] * 0.85, skin[1] * 0.55, skin[2] * 0.55],
    hair,
    hairStyle,
    hairline: -e * rng.range(0.5, 0.72),
    hairWave: rng.range(0.02, 0.1),
    hairJag: rng.range(0.02, 0.06),
    strandAngle: rng.range(-0.6, 0.6) + Math.PI / 2,
    eyeY: rng.range(-0.22, -0.08),
    eyeSep: rng.range(0.38, 0.46),
    eyeW: rng.range(0.17, 0.21),
    eyeH: rng.range(0.07, 0.1),
    gaze: rng.range(-0.03, 0.03),
    eyes: [naturalEye(iris, irisR, pupilR, hl), naturalEye(iris, irisR, pupilR, hl)],
    mouthY: rng.range(0.58, 0.7),
    mouthW: rng.range(0.24, 0.33),
    mouthTilt: rng.normal() * 0.01,
    mouthOpen: rng.chance(0.5),
    teethCount: 6 + rng.int(3),
    teethJitter: rng.range(0, 0.15),
    light: { x: Math.cos(lightAngle) / ln, y: Math.sin(lightAngle) / ln, z: lz / ln },
    ambient: rng.range(style.ambient[0], style.ambient[1]),
    cast,
    background: { kind: bgKind, c1, c2, angle: rng.range(0, 2 * Math.PI), cells: 3 + rng.int(6) },
    clothes: hsv(rng.uniform(), rng.range(0.1, 0.8), rng.range(0.15, 0.85)),
    skinTexture: rng.range(0.025, 0.06),
    sensorNoise: rng.range(style.sensorNoise[0], style.sensorNoise[1]),
    noiseSeed: rng.nextU32(),
  };
}

/** The feature midline of the face in local X (shifted by yaw). */
export function midline(f: FaceParams): number {
  return f.yaw * 0.35;
}

/** Foreshortening factor of a feature on side `side` (-1 left, +1 right) of the midline. */
export function foreshorten(f: FaceParams, side: number): number {
  return 1 + f.yaw * 0.35 * side;
}

/** Local X of the centre of eye `side` (-1 image-left, +1 image-right). */
export function eyeX(f: FaceParams, side: number): number {
  return midline(f) + side * f.eyeSep * foreshorten(f, side);
}

/** Maps a face-local point to normalised image coordinates. */
export function toImage(f: FaceParams, x: number, y: number): [number, number] {
  const c = Math.cos(f.roll), s = Math.sin(f.roll);
  return [f.cx + f.a * (c * x - s * y), f.cy + f.a * (s * x + c * y)];
}

/** Maps normalised image coordinates to the face-local frame. */
export function toLocal(f: FaceParams, u: number, v: number): [number, number] {
  const c = Math.cos(f.roll), s = Math.sin(f.roll);
  const dx = (u - f.cx) / f.a, dy = (v - f.cy) / f.a;
  return [c * dx + s * dy, -s * dx + c * dy];
}

/** A face-local ellipse (centre, semi-axes in local units) in image coordinates. */
export function localEllipse(f: FaceParams, x: number, y: number, rx: number, ry: number): Ellipse {
  const [cx, cy] = toImage(f, x, y);
  return { cx, cy, rx: rx * f.a, ry: ry * f.a, angle: f.roll };
}

/** The face parts humans inspect, as image-space ellipses. */
export interface Landmarks {
  /** The face oval. */
  face: Ellipse;
  /** Image-left and image-right eye (with some margin around the eye opening). */
  eyes: [Ellipse, Ellipse];
  /** The mouth (lips and teeth). */
  mouth: Ellipse;
  /** The nose. */
  nose: Ellipse;
  /** Left cheek, right cheek, forehead (skin patches). */
  skin: [Ellipse, Ellipse, Ellipse];
  /** Points of the hair edge (hairline centre, left temple, right temple), empty without hair. */
  hairEdge: Ellipse[];
}

/** Landmark ellipses of a face. */
export function landmarks(f: FaceParams): Landmarks {
  const m = midline(f);
  const eye = (side: number) =>
    localEllipse(f, eyeX(f, side), f.eyeY, f.eyeW * foreshorten(f, side) * 1.25, f.eyeH * 1.9);
  const hairEdge = f.hairStyle === "none" ? [] : [
    localEllipse(f, m, f.hairline, 0.45, 0.2),
    localEllipse(f, -0.85, f.hairline * 0.55, 0.22, 0.35),
    localEllipse(f, 0.85, f.hairline * 0.55, 0.22, 0.35),
  ];
  return {
    face: localEllipse(f, 0, 0, 1, f.e),
    eyes: [eye(-1), eye(1)],
    mouth: localEllipse(f, m, f.mouthY, f.mouthW * 1.2, 0.15),
    nose: localEllipse(f, m, 0.2, 0.14, 0.2),
    skin: [
      localEllipse(f, m - 0.5 * foreshorten(f, -1), 0.3, 0.25, 0.22),
      localEllipse(f, m + 0.5 * foreshorten(f, 1), 0.3, 0.25, 0.22),
      localEllipse(f, m, (f.hairline + f.eyeY) / 2 - 0.05, 0.38, 0.14),
    ],
    hairEdge,
  };
}
