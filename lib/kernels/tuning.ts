/**
 * Tuning of the kit's WebGPU GEMM kernels, per kind of adapter, with environment overrides for
 * A/B measurements on a new device.
 *
 * - {@linkcode CPU_TUNING} was measured on Mesa llvmpipe (2 cores): a 4-deep K tile beat the
 *   16-deep one on every ResNet50 convolution (weight gradient 1012 → 706 ms per step, up to 1.8×
 *   on the last stage's small reductions), and the GEMM forward convolution matched or beat tfjs's
 *   `Conv2DMMProgram` at every size measured (ResNet50 at 64 px batch 4 and at 224 px batch 16).
 *   The stride-1 GEMM input gradient beat tfjs's by 10–25 % from 64 rows up (1050 → 787 ms on
 *   ResNet50's 3×3 64→64 at 56 px, batch 16) and lost below (34 vs 27 ms at 16 rows, K = 4608).
 * - {@linkcode GPU_TUNING} is for real GPUs, where nothing has been measured yet: the 16-deep tile,
 *   the forward GEMM only for small outputs, where tfjs's tile leaves most invocations idle,
 *   tfjs's own input gradient, and split-K up to 264 workgroups (2 per multiprocessor of an
 *   H100/H200), without which the weight gradient of a ResNet's first layers would run 3–9
 *   workgroups each reducing ~10⁵ products. On llvmpipe's 2 threads splitting only adds work.
 *
 * `CYBORG_KIT_TK=<4|8|16|…>`, `CYBORG_KIT_CONV2D_MAX_M=<n|all>`, `CYBORG_KIT_DX_MIN_M=<n|off>`
 * `CYBORG_KIT_SPLITK=<workgroups|off>` and `CYBORG_KIT_COALESCE=<on|off>` override either profile, so one process per setting measures them side by side
 * (`bench/device/run.sh` does that on a GPU).
 *
 * @module
 */

/** Tuning knobs of the kit's GEMM kernels. */
export interface KitTuning {
  /** Name shown in benchmark output. */
  name: string;
  /** K step of the GEMM tile (staged in workgroup memory per iteration; multiple of 4). */
  tk: number;
  /** Largest GEMM row count (batch × output pixels) served by the kit's forward convolution. */
  conv2dMaxM: number;
  /**
   * Smallest GEMM row count (batch × input pixels) served by the kit's stride-1 input gradient
   * (`Infinity`: never).
   */
  dxMinM: number;
  /**
   * Split a GEMM along K until it runs at least this many workgroups (0: never split; see
   * `chooseSplitK` in `implicit_gemm.ts`).
   */
  splitKWorkgroups: number;
  /** Smallest K chunk a split workgroup reduces. */
  splitKMinChunk: number;
  /**
   * Stage GEMM operands in the order their memory is contiguous (the forward and input-gradient
   * convolutions read channels along K), so neighbouring invocations load neighbouring addresses:
   * coalesced on a GPU; on llvmpipe it measured neutral (Conv2D 599–611 ms, input gradient
   * 614–624 ms per ResNet50 step either way).
   */
  coalesce: boolean;
}

/** Measured on llvmpipe (see the module doc). */
export const CPU_TUNING: Readonly<KitTuning> = {
  name: "cpu",
  tk: 4,
  conv2dMaxM: Infinity,
  dxMinM: 64,
  splitKWorkgroups: 0,
  splitKMinChunk: 256,
  coalesce: true,
};

/** For real GPUs; not yet measured on one (see the module doc). */
export const GPU_TUNING: Readonly<KitTuning> = {
  name: "gpu",
  tk: 16,
  conv2dMaxM: 256,
  dxMinM: Infinity,
  splitKWorkgroups: 264,
  splitKMinChunk: 256,
  coalesce: true,
};

let current: KitTuning = { ...GPU_TUNING };

/** The tuning in effect. */
export function kitTuning(): Readonly<KitTuning> {
  return current;
}

/** Sets the tuning (a copy is kept). Throws on a K step that is not a positive multiple of 4. */
export function setKitTuning(t: KitTuning): void {
  if (!Number.isInteger(t.tk) || t.tk < 4 || t.tk % 4 !== 0) {
    throw new Error(`kit tuning "${t.name}": tk must be a positive multiple of 4, got ${t.tk}`);
  }
  if (!(t.splitKWorkgroups >= 0) || !(t.splitKMinChunk >= 1)) {
    throw new Error(
      `kit tuning "${t.name}": splitKWorkgroups must be >= 0 and splitKMinChunk >= 1`,
    );
  }
  if (!(t.conv2dMaxM >= 0) || !(t.dxMinM >= 0)) {
    throw new Error(
      `kit tuning "${t.name}": conv2dMaxM and dxMinM must be >= 0, got ${t.conv2dMaxM}, ${t.dxMinM}`,
    );
  }
  current = { ...t };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

/** One `CYBORG_KIT_*` override: the variable, the field it sets and how its value is read. */
interface Override {
  env: string;
  key: keyof KitTuning;
  label: string;
  expected: string;
  parse(value: string): number | boolean | undefined;
}

/** An integer, or `word` standing for `value`. */
const integerOr = (word?: string, value?: number) => (v: string) =>
  v === word ? value : Number.isInteger(Number(v)) ? Number(v) : undefined;

/** The environment overrides, in the order they are applied (and named in the tuning's name). */
const OVERRIDES: readonly Override[] = [
  { env: "CYBORG_KIT_TK", key: "tk", label: "tk", expected: "an integer", parse: integerOr() },
  {
    env: "CYBORG_KIT_CONV2D_MAX_M",
    key: "conv2dMaxM",
    label: "conv2dMaxM",
    expected: 'an integer or "all"',
    parse: integerOr("all", Infinity),
  },
  {
    env: "CYBORG_KIT_SPLITK",
    key: "splitKWorkgroups",
    label: "splitK",
    expected: 'an integer or "off"',
    parse: integerOr("off", 0),
  },
  {
    env: "CYBORG_KIT_COALESCE",
    key: "coalesce",
    label: "coalesce",
    expected: "on or off",
    parse: (v) => (v === "on" ? true : v === "off" ? false : undefined),
  },
  {
    env: "CYBORG_KIT_DX_MIN_M",
    key: "dxMinM",
    label: "dxMinM",
    expected: 'an integer or "off"',
    parse: integerOr("off", Infinity),
  },
];

/**
 * The profile for an adapter (`fallbackAdapter`: a CPU rasteriser such as llvmpipe), with the
 * `CYBORG_KIT_TK`, `CYBORG_KIT_CONV2D_MAX_M`, `CYBORG_KIT_SPLITK`, `CYBORG_KIT_COALESCE` and
 * `CYBORG_KIT_DX_MIN_M` overrides applied (each appended to the name). Throws with the
 * variable's name on a value it cannot read.
 */
export function tuningFor(fallbackAdapter: boolean): KitTuning {
  const t: KitTuning = { ...(fallbackAdapter ? CPU_TUNING : GPU_TUNING) };
  for (const o of OVERRIDES) {
    const raw = readEnv(o.env);
    if (!raw) continue;
    const v = o.parse(raw);
    if (v === undefined) throw new Error(`${o.env}: expected ${o.expected}, got ${raw}`);
    (t as unknown as Record<string, number | boolean>)[o.key] = v;
    t.name += `,${o.label}=${raw}`;
  }
  return t;
}
