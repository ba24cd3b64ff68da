/**
 * A tiled implicit-GEMM WGSL program for tfjs's WebGPU backend: `C[M, N] = A[M, K] · B[K, N]`
 * where A and B are never materialised; each kernel supplies WGSL functions `loadA(m, k)` and
 * `loadB(k, n)` that read its inputs (e.g. an im2col view of a convolution input) and return 0
 * outside the valid range.
 *
 * A workgroup of `(TN/4) × (TM/4)` invocations computes a `TM × TN` output tile; every invocation
 * accumulates a 4×4 block in registers while the workgroup walks K in steps of `TK`, staging the A
 * and B tiles in workgroup memory. On llvmpipe this turns one long strided loop per output element
 * (tfjs's stock weight-gradient kernel) into cache-friendly blocked work.
 *
 * Split-K: with `splitK` > 1 the workgroups along z each reduce one chunk of K and write a partial
 * `C` into `[splitK, M, N]`; {@linkcode runGemm} then sums the partials. GPUs need it for the weight
 * gradient, whose `M × N` (filter size) is small and whose K (batch × pixels) is huge: without it a
 * ResNet's early layers would run a handful of workgroups.
 *
 * Each invocation stages the same row `m` of A (and column `n` of B) at every K step, so the
 * loaders split into a once-per-invocation decode (`rowA(m) -> RowA`, `colB(n) -> ColB`, structs the
 * kernel defines) and a per-element read (`loadA(r, k)`, `loadB(c, k)`). Integer division by a
 * runtime value is scalarised on CPUs, so loaders divide with {@linkcode WGSL_FDIV} instead.
 *
 * @module
 */
import type { backend_util, TensorInfo } from "@tensorflow/tfjs-core";
import { convGeometry } from "./conv_info.ts";
import { ElementwiseProgram } from "./elementwise.ts";
import { type KitTuning, kitTuning } from "./tuning.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";

/** Tile shape of an {@linkcode ImplicitGemmProgram}. */
export interface GemmTile {
  /** Rows of C per workgroup (multiple of 4). */
  tm: number;
  /** Columns of C per workgroup (multiple of 4). */
  tn: number;
  /** K step staged in workgroup memory per iteration. */
  tk: number;
}

/**
 * Picks a tile for a GEMM of the given size: narrow N (few output channels) gets a narrow tile;
 * the K step comes from the adapter's tuning (`tuning.ts`) unless given.
 */
export function chooseTile(m: number, n: number, tk = kitTuning().tk): GemmTile {
  const tn = n <= 16 ? 16 : n <= 32 ? 32 : 64;
  const tm = m <= 16 ? 16 : m <= 32 ? 32 : 64;
  return { tm, tn, tk };
}

/**
 * Largest index the loaders may divide exactly with {@linkcode WGSL_FDIV} (f32 division of
 * `a + 0.5` is exact in floor for `a < 2^23`); kernels fall back to tfjs's beyond it.
 */
export const MAX_FDIV_INDEX = 1 << 23;

/** WGSL `fdiv(a, d)`: floor(a / d) for 0 <= a < 2^23, d > 0, via one vectorisable f32 division. */
export const WGSL_FDIV = `
fn fdiv(a : i32, d : i32) -> i32 {
  return i32((f32(a) + 0.5) / f32(d));
}
`;

/** The subset of tfjs's `WebGPUProgram` interface this program fills in. */
export interface ImplicitGemmProgramSpec {
  /** Names of the input bindings, in `runWebGPUProgram` input order. */
  variableNames: string[];
  /** Shape of the output tensor (its row-major flattening must be C[M, N]). */
  outputShape: number[];
  /** Extra uniform fields (WGSL struct members, scalars only), after `M`, `N`, `K`, `kChunk`. */
  uniforms: string;
  /**
   * WGSL defining `struct RowA`, `fn rowA(m : i32) -> RowA`, `fn loadA(r : RowA, k : i32) -> f32`,
   * `struct ColB`, `fn colB(n : i32) -> ColB` and `fn loadB(c : ColB, k : i32) -> f32`. The loads
   * are only called for `m < M`, `n < N`, `k < K`.
   */
  loaders: string;
  /** A key naming the loaders (the shader cache key is built from it plus the tile). */
  key: string;
  /** GEMM sizes. */
  m: number;
  /** See {@linkcode ImplicitGemmProgramSpec.m}. */
  n: number;
  /** See {@linkcode ImplicitGemmProgramSpec.m}. */
  k: number;
  /** Tile; defaults to {@linkcode chooseTile}. */
  tile?: GemmTile;
  /** K chunks reduced by separate workgroups (z); the output gains a leading `splitK` axis. */
  splitK?: number;
  /**
   * Which index of A is contiguous in memory, so that neighbouring invocations stage neighbouring
   * addresses (coalesced loads on a GPU, vector loads on llvmpipe): `m` (default; e.g. the weight
   * gradient's `im2col(x)ᵀ`, channels along M) or `k` (e.g. the forward convolution's
   * `im2col(x)`, channels along K).
   */
  aContiguous?: "m" | "k";
  /** The same for B: `n` (default; e.g. weights `w[k, n]`) or `k`. */
  bContiguous?: "n" | "k";
}

/**
 * A `WebGPUProgram` (the structural interface `WebGPUBackend.runWebGPUProgram` takes) computing a
 * tiled GEMM with custom loaders. Uniform values `M`, `N`, `K` come first in
 * {@linkcode ImplicitGemmProgram.uniformData}; the kernel appends its own.
 */
export class ImplicitGemmProgram {
  /** Input binding names. */
  variableNames: string[];
  /** Output shape. */
  outputShape: number[];
  /** Shader cache key prefix. */
  shaderKey: string;
  /** Unused by this program's own indexing but required by tfjs (it sizes output helpers). */
  dispatchLayout: { x: number[]; y: number[] };
  /** Workgroup counts [x: N tiles, y: M tiles, 1]. */
  dispatch: [number, number, number];
  /** Invocations per workgroup. */
  workgroupSize: [number, number, number];
  /** Uniform struct members after tfjs's shape fields. */
  uniforms: string;
  /** The tile used. */
  readonly tile: GemmTile;
  /** K chunks (workgroups along z). */
  readonly splitK: number;
  /** Staging order of A (see {@linkcode ImplicitGemmProgramSpec.aContiguous}). */
  readonly aContiguous: "m" | "k";
  /** Staging order of B. */
  readonly bContiguous: "n" | "k";
  readonly #loaders: string;

  /** Builds the program for one GEMM size. */
  constructor(spec: ImplicitGemmProgramSpec) {
    const tile = spec.tile ?? chooseTile(spec.m, spec.n);
    const threads = (tile.tm / 4) * (tile.tn / 4);
    if (
      tile.tm % 16 || tile.tn % 16 || tile.tk % 4 || tile.tk < 4 || threads > 256 ||
      (tile.tm * tile.tk) % threads || (tile.tn * tile.tk) % threads
    ) {
      throw new Error(
        `ImplicitGemmProgram: tile ${JSON.stringify(tile)}: tm, tn must be multiples of 16, tk ` +
          "of 4, at most 256 invocations, each staging whole rows of the A and B tiles",
      );
    }
    this.tile = tile;
    this.splitK = spec.splitK ?? 1;
    // k-major staging needs whole K columns per pass (threads a multiple of tk).
    const kOk = threads % tile.tk === 0;
    this.aContiguous = spec.aContiguous === "k" && kOk ? "k" : "m";
    this.bContiguous = spec.bContiguous === "k" && kOk ? "k" : "n";
    this.variableNames = spec.variableNames;
    this.outputShape = this.splitK > 1 ? [this.splitK, ...spec.outputShape] : spec.outputShape;
    this.uniforms = `M : i32, N : i32, K : i32, kChunk : i32, ${spec.uniforms}`;
    this.#loaders = spec.loaders;
    this.shaderKey = `kitGemm_${spec.key}_${tile.tm}x${tile.tn}x${tile.tk}` +
      `_${this.aContiguous}${this.bContiguous}` + (this.splitK > 1 ? "_splitK" : "");
    this.dispatchLayout = { x: [0], y: [1] };
    this.workgroupSize = [tile.tn / 4, tile.tm / 4, 1];
    this.dispatch = [Math.ceil(spec.n / tile.tn), Math.ceil(spec.m / tile.tm), this.splitK];
  }

  /** The WGSL body (tfjs prepends bindings, uniforms and helpers). */
  getUserCode(): string {
    const { tm, tn, tk } = this.tile;
    const threads = (tm / 4) * (tn / 4);
    const a = staging("A", "rowA", "RowA", "M", "m0", tm, tk, threads, this.aContiguous === "k");
    const b = staging("B", "colB", "ColB", "N", "n0", tn, tk, threads, this.bContiguous === "k");
    return `
${WGSL_FDIV}
${this.#loaders}

var<workgroup> tileA : array<vec4<f32>, ${(tk * tm) / 4}>;
var<workgroup> tileB : array<vec4<f32>, ${(tk * tn) / 4}>;

fn main() {
  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let tid = ty * ${tn / 4} + tx;
  let m0 = i32(workgroupId.y) * ${tm};
  let n0 = i32(workgroupId.x) * ${tn};
  var acc : array<vec4<f32>, 4>;
  for (var i = 0; i < 4; i++) { acc[i] = vec4<f32>(0.0); }

${a.setup}
${b.setup}
  let kBegin = i32(workgroupId.z) * uniforms.kChunk;
  let kEnd = min(uniforms.K, kBegin + uniforms.kChunk);
  for (var k0 = kBegin; k0 < kEnd; k0 += ${tk}) {
    // tileA[kk][mm] = A[m0 + mm, k0 + kk]; tileB[kk][nn] = B[k0 + kk, n0 + nn].
${a.load}
${b.load}
    workgroupBarrier();
    for (var kk = 0; kk < ${tk}; kk++) {
      let a = tileA[kk * ${tm / 4} + ty];
      let b = tileB[kk * ${tn / 4} + tx];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }

  let nBase = n0 + tx * 4;
  let part = i32(workgroupId.z) * uniforms.M * uniforms.N;
  for (var i = 0; i < 4; i++) {
    let m = m0 + ty * 4 + i;
    if (m < uniforms.M) {
      let row = part + m * uniforms.N;
      for (var j = 0; j < 4; j++) {
        if (nBase + j < uniforms.N) { result[row + nBase + j] = acc[i][j]; }
      }
    }
  }
}
`;
  }
}

/**
 * WGSL that stages one operand's `t × tk` tile into workgroup memory (`tile<op>[kk][i]`, i along
 * M for A, N for B): `setup` runs once per invocation (decoding the rows it will load), `load`
 * once per K step. Index-major: invocation `tid` stages row `tid % t` at K offsets
 * `tid / t + j · threads / t`; K-major: K offset `tid % tk` of rows `tid / tk + j · threads / tk`,
 * so neighbouring invocations read neighbouring K.
 */
function staging(
  op: "A" | "B",
  decode: string,
  struct: string,
  size: "M" | "N",
  origin: string,
  t: number,
  tk: number,
  threads: number,
  kMajor: boolean,
): { setup: string; load: string } {
  const loads = (t * tk) / threads;
  const load = `load${op}`;
  if (!kMajor) {
    const step = threads / t;
    return {
      setup: `
  // This invocation stages index ii${op} of the ${op} tile at K offsets kk${op} + j * ${step}.
  let ii${op} = tid % ${t};
  let kk${op} = tid / ${t};
  let ok${op} = ${origin} + ii${op} < uniforms.${size};
  let dec${op} = ${decode}(min(${origin} + ii${op}, uniforms.${size} - 1));`,
      load: `
    for (var j = 0; j < ${loads}; j++) {
      let kk = kk${op} + j * ${step};
      let k = k0 + kk;
      var v = 0.0;
      if (ok${op} && k < kEnd) { v = ${load}(dec${op}, k); }
      let e = kk * ${t} + ii${op};
      tile${op}[e / 4][e % 4] = v;
    }`,
    };
  }
  const step = threads / tk;
  return {
    setup: `
  // This invocation stages K offset kk${op} of the ${op} tile for indices ii${op} + j * ${step}.
  let kk${op} = tid % ${tk};
  let ii${op} = tid / ${tk};
  var ok${op} : array<bool, ${loads}>;
  var dec${op} : array<${struct}, ${loads}>;
  for (var j = 0; j < ${loads}; j++) {
    let i = ${origin} + ii${op} + j * ${step};
    ok${op}[j] = i < uniforms.${size};
    dec${op}[j] = ${decode}(min(i, uniforms.${size} - 1));
  }`,
    load: `
    for (var j = 0; j < ${loads}; j++) {
      let k = k0 + kk${op};
      var v = 0.0;
      if (ok${op}[j] && k < kEnd) { v = ${load}(dec${op}[j], k); }
      let e = kk${op} * ${t} + ii${op} + j * ${step};
      tile${op}[e / 4][e % 4] = v;
    }`,
  };
}

/**
 * Uniform values for tfjs's `runWebGPUProgram`: M, N, K, the K chunk per split (K when not split),
 * then the kernel's own int32 fields.
 */
export function gemmUniforms(
  m: number,
  n: number,
  k: number,
  extra: number[],
  kChunk = k,
): Array<{ type: "int32"; data: number[] }> {
  return [m, n, k, kChunk, ...extra].map((v) => ({ type: "int32", data: [v] }));
}

/**
 * How many K chunks a GEMM is split into: enough for `tuning.splitKWorkgroups` workgroups in all
 * (0: never split), with chunks of at least `tuning.splitKMinChunk` (a multiple of the tile's K
 * step). Returns the split count and the chunk length.
 */
export function chooseSplitK(
  m: number,
  n: number,
  k: number,
  tile: GemmTile,
  tuning: Readonly<KitTuning> = kitTuning(),
): { splits: number; kChunk: number } {
  const tiles = Math.ceil(m / tile.tm) * Math.ceil(n / tile.tn);
  const target = tuning.splitKWorkgroups;
  if (target <= tiles) return { splits: 1, kChunk: k };
  const maxSplits = Math.floor(k / Math.max(tuning.splitKMinChunk, tile.tk));
  const want = Math.min(Math.ceil(target / tiles), maxSplits);
  if (want <= 1) return { splits: 1, kChunk: k };
  const kChunk = Math.ceil(k / want / tile.tk) * tile.tk;
  return { splits: Math.ceil(k / kChunk), kChunk };
}

/** WGSL uniform members matching {@linkcode convGeometry}, in the same order. */
export const CONV_GEOMETRY_UNIFORMS =
  "batch : i32, inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, " +
  "fH : i32, fW : i32, strideH : i32, strideW : i32, padT : i32, padL : i32,";

/** A GEMM program over a convolution's geometry ({@linkcode convGeometry} uniforms). */
export interface ConvGemm {
  /** The program for `runWebGPUProgram`. */
  program: ImplicitGemmProgram;
  /** Its uniform values. */
  uniforms: ReturnType<typeof gemmUniforms>;
}

/**
 * Builds a {@linkcode ConvGemm}: the spec's GEMM with the convolution geometry as uniforms, split
 * along K per {@linkcode chooseSplitK}.
 */
export function convGemm(
  info: backend_util.Conv2DInfo,
  spec: Omit<ImplicitGemmProgramSpec, "uniforms" | "splitK">,
): ConvGemm {
  const tile = spec.tile ?? chooseTile(spec.m, spec.n);
  const split = chooseSplitK(spec.m, spec.n, spec.k, tile);
  const program = new ImplicitGemmProgram({
    ...spec,
    tile,
    splitK: split.splits,
    uniforms: CONV_GEOMETRY_UNIFORMS,
  });
  return {
    program,
    uniforms: gemmUniforms(spec.m, spec.n, spec.k, convGeometry(info), split.kChunk),
  };
}

/**
 * Runs a GEMM program; when it is split along K, also the kernel that sums its partials (and frees
 * them). Returns C in the program's (unsplit) output shape.
 */
export function runGemm(
  backend: WebGpuBackendLike,
  gemm: ConvGemm,
  inputs: TensorInfo[],
): TensorInfo {
  const { program, uniforms } = gemm;
  const out = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  if (program.splitK <= 1) return out;
  const shape = program.outputShape.slice(1);
  const sum = new ElementwiseProgram(
    "splitKSum",
    ["p"],
    shape,
    "splits : i32,",
    `var value = 0.0;
    for (var s = 0; s < uniforms.splits; s++) { value += p[s * uniforms.size + index]; }`,
  );
  const c = backend.runWebGPUProgram(sum, [out], "float32", [
    { type: "int32", data: [program.splitK] },
  ]);
  backend.disposeData(out.dataId);
  return c;
}
