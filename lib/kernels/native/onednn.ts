/**
 * oneDNN (Debian's `libdnnl2`, `libdnnl.so.2`, the library PyTorch's CPU convolutions use) through
 * `Deno.dlopen`: 2-D convolutions (forward, input gradient, weight gradient), the steps of
 * training batch normalisation, the max-pooling gradient and ReLU's gradient, on plain
 * `Float32Array`s (wasm-heap views included: no copy of the tensors).
 *
 * Tensors stay in tfjs's layouts (activations NHWC, filters `[kh, kw, ci, co]` = oneDNN's `hwio`),
 * where oneDNN runs its own threaded im2col / col2im and GEMM (`gemm:jit`). Its blocked layouts
 * (`nChw8c`, the direct `jit:avx2` kernels PyTorch uses) were measured too: with the reorders into
 * and out of them no faster on ResNet50's shapes (2 cores, AVX2). Primitives are built once per
 * shape and kept. Threads: oneDNN's OpenMP pool, sized by `threads.ts`.
 *
 * `CYBORG_ONEDNN=0` turns it off (`CYBORG_NATIVE_BLAS=0` turns off both native libraries);
 * `CYBORG_ONEDNN_LIB` names the library file.
 *
 * @module
 */
import type { backend_util } from "@tensorflow/tfjs-core";
import { convGeometry } from "../conv_info.ts";
import { onNativeThreads } from "./threads.ts";

/** Places looked at for the library, in order (`CYBORG_ONEDNN_LIB`, when set, is the only one). */
export const ONEDNN_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  "/usr/lib/aarch64-linux-gnu/libdnnl.so.2",
  "libdnnl.so.2",
];

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer", // conv_desc
      "i32", // prop_kind
      "i32", // alg_kind
      "buffer", // src
      "buffer", // weights
      "pointer", // bias
      "buffer", // dst
      "buffer", // strides
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer", // conv_desc
      "i32", // alg_kind
      "buffer", // src
      "buffer", // diff_weights
      "pointer", // diff_bias
      "buffer", // diff_dst
      "buffer", // strides
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_pooling_v2_forward_desc_init: {
    parameters: [
      "buffer", // pool_desc
      "i32", // prop_kind
      "i32", // alg_kind
      "buffer", // src
      "buffer", // dst
      "buffer", // strides
      "buffer", // kernel
      "buffer", // dilation
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_pooling_v2_backward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: { parameters: ["buffer", "pointer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_execute: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
} as const;

const OMP_SYMBOLS = {
  omp_set_num_threads: { parameters: ["i32"], result: "void" },
  omp_get_max_threads: { parameters: [], result: "i32" },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;
type Ptr = Deno.PointerValue;

// dnnl_types.h (oneDNN 2.x; the C ABI of libdnnl.so.2).
const MD_BYTES = 696; // sizeof(dnnl_memory_desc_t)
const OP_DESC_BYTES = 8192; // >= sizeof(dnnl_convolution_desc_t) (5976)
const F32 = 3;
const TAG_NHWC = 20; // acdb
const TAG_HWIO = 30; // cdba
const ENGINE_CPU = 1;
const STREAM_DEFAULT = 1;
const TAG_A = 2; // 1-D
const FORWARD_TRAINING = 64;
const FORWARD_INFERENCE = 96;
const BACKWARD = 128;
const POOLING_MAX = 0x1ff;
const ELTWISE_RELU = 0x1f;
const QUERY_WORKSPACE_MD = 135;
const BN_GLOBAL_STATS = 0x1;
const BN_SCALE = 0x8;
const BN_SHIFT = 0x10;
const CONV_DIRECT = 1;
const QUERY_IMPL_INFO = 8;
const ARG = {
  src: 1,
  dst: 17,
  weights: 33,
  mean: 49,
  variance: 50,
  scale: 51,
  shift: 52,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
  diffScale: 255,
  diffShift: 256,
  workspace: 64,
};

let lib: Lib | null | undefined;
let omp: Deno.DynamicLibrary<typeof OMP_SYMBOLS> | null = null;
let libPath = "";
let loadError = "";
let engine: Ptr = null;
let stream: Ptr = null;
let calls = 0;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function check(status: number, what: string): void {
  if (status !== 0) throw new Error(`oneDNN: ${what} failed (status ${status})`);
}

function outPtr(): BigUint64Array {
  return new BigUint64Array(1);
}

function ptrOf(b: BigUint64Array): Ptr {
  return Deno.UnsafePointer.create(b[0]);
}

/**
 * When the kernels use oneDNN: the convolutions per call (`auto`, the default) or all of them
 * (`always`); `never` turns every oneDNN path off (the kernels fall back as without the library).
 */
export type DnnlMode = "auto" | "always" | "never";

let mode: DnnlMode = "auto";

/** Sets {@linkcode DnnlMode}; returns the previous one. Tests run each library on every case. */
export function setDnnlMode(m: DnnlMode): DnnlMode {
  const prev = mode;
  mode = m;
  return prev;
}

/** The current {@linkcode DnnlMode}. */
export function dnnlMode(): DnnlMode {
  return mode;
}

/** True when `CYBORG_ONEDNN=0`, or `CYBORG_NATIVE_BLAS=0` (no native library), says not to use it. */
export function dnnlDisabled(): boolean {
  return env("CYBORG_ONEDNN") === "0" || env("CYBORG_NATIVE_BLAS") === "0";
}

/**
 * Opens oneDNN once (and its OpenMP runtime, for the thread count); `null` when it is absent, FFI
 * is not permitted, or `CYBORG_ONEDNN=0` ({@linkcode dnnlProblem} says why).
 */
export function openDnnl(): Lib | null {
  if (lib !== undefined) return lib;
  lib = null;
  if (dnnlDisabled()) {
    loadError = env("CYBORG_ONEDNN") === "0" ? "CYBORG_ONEDNN=0" : "CYBORG_NATIVE_BLAS=0";
    return lib;
  }
  try {
    // Read by GCC's OpenMP runtime when it loads (with the library): idle threads sleep at once
    // instead of spinning, which took the cores from OpenBLAS's threads and the JavaScript
    // between the calls (openblas.ts, setThreadTimeout).
    if (!env("OMP_WAIT_POLICY")) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
  } catch {
    // no env permission: the runtime's default
  }
  const custom = env("CYBORG_ONEDNN_LIB");
  const errors: string[] = [];
  for (const path of custom ? [custom] : ONEDNN_CANDIDATES) {
    try {
      const l = Deno.dlopen(path, SYMBOLS);
      const e = outPtr();
      check(l.symbols.dnnl_engine_create(e, ENGINE_CPU, 0n), "engine");
      engine = ptrOf(e);
      const s = outPtr();
      check(l.symbols.dnnl_stream_create(s, engine, STREAM_DEFAULT), "stream");
      stream = ptrOf(s);
      try {
        // oneDNN's own OpenMP runtime (Debian builds it with GCC's): already loaded, same instance.
        omp = Deno.dlopen("libgomp.so.1", OMP_SYMBOLS);
      } catch {
        omp = null;
      }
      lib = l;
      libPath = path;
      const o = omp;
      if (o) onNativeThreads((n) => o.symbols.omp_set_num_threads(n));
      return lib;
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  loadError = errors[errors.length - 1] ?? "not found";
  return lib;
}

/** Why {@linkcode openDnnl} returned `null` ("" when it loaded or was not tried). */
export function dnnlProblem(): string {
  return loadError;
}

/** oneDNN's thread count, or 0 without the library. */
export function dnnlThreads(): number {
  return openDnnl() && omp ? omp.symbols.omp_get_max_threads() : 0;
}

/**
 * A label such as `oneDNN 2.6.3 (libdnnl.so.2, 2 threads)`, or `null` without the library.
 */
export function dnnlLabel(): string | null {
  const l = openDnnl();
  if (!l) return null;
  const v = new Deno.UnsafePointerView(l.symbols.dnnl_version()!);
  const t = dnnlThreads();
  const version = `${v.getInt32(0)}.${v.getInt32(4)}.${v.getInt32(8)}`;
  const file = libPath.split("/").pop();
  return `oneDNN ${version} (${file}, ${t} thread${t === 1 ? "" : "s"})`;
}

/** How many oneDNN primitive executions this process made (tests check kernels use it). */
export function dnnlCalls(): number {
  return calls;
}

function dims(values: number[]): BigInt64Array {
  const d = new BigInt64Array(12);
  values.forEach((v, i) => d[i] = BigInt(v));
  return d;
}

/** A memory descriptor of `shape` (logical oneDNN order) in layout `tag`. */
function memoryDesc(l: Lib, shape: number[], tag: number): Uint8Array {
  const md = new Uint8Array(MD_BYTES);
  check(
    l.symbols.dnnl_memory_desc_init_by_tag(md, shape.length, dims(shape), F32, tag),
    "memory_desc_init",
  );
  return md;
}

function mdPtr(md: Uint8Array): Ptr {
  return Deno.UnsafePointer.of(md as Uint8Array<ArrayBuffer>);
}

function memory(l: Lib, md: Ptr, handle: Ptr): Ptr {
  const m = outPtr();
  check(l.symbols.dnnl_memory_create(m, md, engine, handle), "memory_create");
  return ptrOf(m);
}

function primitive(l: Lib, pd: Ptr): Ptr {
  const p = outPtr();
  check(l.symbols.dnnl_primitive_create(p, pd), "primitive_create");
  return ptrOf(p);
}

function execute(l: Lib, prim: Ptr, args: [number, Ptr][]): void {
  const a = new BigUint64Array(args.length * 2);
  args.forEach(([arg, mem], i) => {
    a[2 * i] = BigInt(arg);
    a[2 * i + 1] = BigInt(Deno.UnsafePointer.value(mem));
  });
  check(
    l.symbols.dnnl_primitive_execute(prim, stream, args.length, new Uint8Array(a.buffer)),
    "execute",
  );
  calls++;
}

function implInfo(l: Lib, pd: Ptr): string {
  const out = outPtr();
  if (l.symbols.dnnl_primitive_desc_query(pd, QUERY_IMPL_INFO, 0, new Uint8Array(out.buffer))) {
    return "?";
  }
  const p = ptrOf(out);
  return p ? new Deno.UnsafePointerView(p).getCString() : "?";
}

/** A primitive and one memory object per argument (bound to the caller's arrays per call). */
interface Prepared {
  prim: Ptr;
  /** Execution argument ids, in the order of the arrays {@linkcode run} gets. */
  args: number[];
  mems: Ptr[];
  impl: string;
  /** Descriptors the primitive's memories were made from. */
  keep: unknown[];
}

function prepared(l: Lib, pd: Ptr, args: [number, Uint8Array][], keep: unknown[]): Prepared {
  return {
    prim: primitive(l, pd),
    args: args.map(([a]) => a),
    mems: args.map(([, md]) => memory(l, mdPtr(md), null)),
    impl: implInfo(l, pd),
    keep: [...keep, ...args.map(([, md]) => md)],
  };
}

function run(l: Lib, p: Prepared, arrays: Float32Array[]): void {
  p.mems.forEach((m, i) =>
    check(
      l.symbols.dnnl_memory_set_data_handle(
        m,
        Deno.UnsafePointer.of(arrays[i] as Float32Array<ArrayBuffer>),
      ),
      "set_data_handle",
    )
  );
  execute(l, p.prim, p.args.map((a, i) => [a, p.mems[i]]));
}

const cache = new Map<string, Prepared | null>();

/** Which convolution: the forward pass, the input gradient or the filter gradient. */
export type ConvKind = "forward" | "backwardData" | "backwardWeights";

interface ConvDescs {
  src: Uint8Array;
  weights: Uint8Array;
  dst: Uint8Array;
  strides: BigInt64Array;
  padL: BigInt64Array;
  padR: BigInt64Array;
}

/**
 * oneDNN's padding of a tfjs window (convolution or pooling): `[top, left, bottom, right]`, or
 * `null` when it cannot be expressed. oneDNN requires OH = ⌊(H + top + bottom − FH) / SH⌋ + 1:
 * the smallest such bottom (likewise right); tfjs's own bottom / right can be larger.
 */
function windowPadding(info: backend_util.Conv2DInfo): [number, number, number, number] | null {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const { top, left } = info.padInfo;
  const bottom = Math.max(0, (OH - 1) * SH + FH - H - top);
  const right = Math.max(0, (OW - 1) * SW + FW - W - left);
  const fits = (i: number, p0: number, p1: number, f: number, s: number, o: number) =>
    Math.floor((i + p0 + p1 - f) / s) + 1 === o;
  if (
    top < 0 || left < 0 || !fits(H, top, bottom, FH, SH, OH) || !fits(W, left, right, FW, SW, OW)
  ) {
    return null;
  }
  return [top, left, bottom, right];
}

/** oneDNN's view of a tfjs convolution; `null` when its padding cannot be expressed. */
function convDescs(l: Lib, info: backend_util.Conv2DInfo): ConvDescs | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C } = info;
  const { outHeight: OH, outWidth: OW, outChannels: N } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const pad = windowPadding(info);
  if (!pad) return null;
  const [top, left, bottom, right] = pad;
  return {
    src: memoryDesc(l, [B, C, H, W], TAG_NHWC),
    weights: memoryDesc(l, [N, C, FH, FW], TAG_HWIO),
    dst: memoryDesc(l, [B, N, OH, OW], TAG_NHWC),
    strides: dims([SH, SW]),
    padL: dims([top, left]),
    padR: dims([bottom, right]),
  };
}

function opPd(l: Lib, desc: Uint8Array, hint: Ptr): Ptr {
  const pd = outPtr();
  check(l.symbols.dnnl_primitive_desc_create(pd, desc, null, engine, hint), "primitive_desc");
  return ptrOf(pd);
}

function prepareConv(l: Lib, kind: ConvKind, info: backend_util.Conv2DInfo): Prepared | null {
  const d = convDescs(l, info);
  if (!d) return null;
  const fwd = new Uint8Array(OP_DESC_BYTES);
  check(
    l.symbols.dnnl_convolution_forward_desc_init(
      fwd,
      FORWARD_TRAINING,
      CONV_DIRECT,
      d.src,
      d.weights,
      null,
      d.dst,
      d.strides,
      d.padL,
      d.padR,
    ),
    "convolution_forward_desc_init",
  );
  // The backward primitives take the forward one as a hint.
  const fwdPd = opPd(l, fwd, null);
  if (kind === "forward") {
    return prepared(l, fwdPd, [[ARG.src, d.src], [ARG.weights, d.weights], [ARG.dst, d.dst]], [
      fwd,
    ]);
  }
  const desc = new Uint8Array(OP_DESC_BYTES);
  if (kind === "backwardData") {
    check(
      l.symbols.dnnl_convolution_backward_data_desc_init(
        desc,
        CONV_DIRECT,
        d.src,
        d.weights,
        d.dst,
        d.strides,
        d.padL,
        d.padR,
      ),
      "convolution_backward_data_desc_init",
    );
    const pd = opPd(l, desc, fwdPd);
    return prepared(l, pd, [[ARG.diffDst, d.dst], [ARG.weights, d.weights], [
      ARG.diffSrc,
      d.src,
    ]], [fwd, desc]);
  }
  check(
    l.symbols.dnnl_convolution_backward_weights_desc_init(
      desc,
      CONV_DIRECT,
      d.src,
      d.weights,
      null,
      d.dst,
      d.strides,
      d.padL,
      d.padR,
    ),
    "convolution_backward_weights_desc_init",
  );
  const pd = opPd(l, desc, fwdPd);
  return prepared(l, pd, [[ARG.src, d.src], [ARG.diffDst, d.dst], [ARG.diffWeights, d.weights]], [
    fwd,
    desc,
  ]);
}

function convKey(kind: ConvKind, info: backend_util.Conv2DInfo): string {
  return [kind, ...convGeometry(info)].join(",");
}

/**
 * Runs one convolution of `info` (NHWC, filters `[kh, kw, ci, co]`, dilation 1) in oneDNN:
 * `forward` (a = x, b = filter, out = y), `backwardData` (a = dy, b = filter, out = dx) or
 * `backwardWeights` (a = x, b = dy, out = dW). Returns false, having done nothing, when oneDNN is
 * absent or has no implementation for this geometry.
 */
export function dnnlConv(
  kind: ConvKind,
  info: backend_util.Conv2DInfo,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
): boolean {
  const l = mode === "never" ? null : openDnnl();
  if (!l) return false;
  const key = convKey(kind, info);
  let p = cache.get(key);
  if (p === undefined) {
    try {
      p = prepareConv(l, kind, info);
    } catch {
      p = null;
    }
    cache.set(key, p);
  }
  if (!p) return false;
  run(l, p, [a, b, out]);
  return true;
}

/**
 * Which batch-norm step (the kit's kernels, lib/kernels/batch_norm_train.ts): one of the four
 * separate ones, or a fused pass (`forward`: y and the statistics; `backward`: dx and the sums).
 */
export type BnStep = "stats" | "apply" | "reduce" | "dx" | "forward" | "backward";

// The epsilon of the steps that take none: their results do not depend on it (`reduce` divides
// it back out).
const BN_EPS_UNUSED = 1e-5;

function prepareBn(l: Lib, step: BnStep, rows: number, c: number, eps: number): Prepared {
  const data = memoryDesc(l, [rows, c, 1, 1], TAG_NHWC); // [rows][c], as tfjs's NHWC tensors
  const stat = memoryDesc(l, [c], TAG_A);
  const fwd = new Uint8Array(OP_DESC_BYTES);
  const desc = (prop: number, flags: number) => {
    check(
      l.symbols.dnnl_batch_normalization_forward_desc_init(fwd, prop, data, eps, flags),
      "batch_normalization_forward_desc_init",
    );
    return opPd(l, fwd, null);
  };
  if (step === "stats") {
    const pd = desc(FORWARD_TRAINING, 0);
    return prepared(l, pd, [
      [ARG.src, data],
      [ARG.dst, data],
      [ARG.mean, stat],
      [ARG.variance, stat],
    ], [fwd]);
  }
  if (step === "forward") {
    const pd = desc(FORWARD_TRAINING, BN_SCALE | BN_SHIFT);
    return prepared(l, pd, [
      [ARG.src, data],
      [ARG.scale, stat],
      [ARG.shift, stat],
      [ARG.dst, data],
      [ARG.mean, stat],
      [ARG.variance, stat],
    ], [fwd]);
  }
  if (step === "apply") {
    const pd = desc(FORWARD_INFERENCE, BN_GLOBAL_STATS | BN_SCALE | BN_SHIFT);
    return prepared(l, pd, [
      [ARG.src, data],
      [ARG.mean, stat],
      [ARG.variance, stat],
      [ARG.scale, stat],
      [ARG.shift, stat],
      [ARG.dst, data],
    ], [fwd]);
  }
  const hint = desc(FORWARD_TRAINING, BN_SCALE | BN_SHIFT);
  const bwd = new Uint8Array(OP_DESC_BYTES);
  check(
    l.symbols.dnnl_batch_normalization_backward_desc_init(
      bwd,
      BACKWARD,
      data,
      data,
      eps,
      BN_SCALE | BN_SHIFT,
    ),
    "batch_normalization_backward_desc_init",
  );
  const pd = opPd(l, bwd, hint);
  return prepared(l, pd, [
    [ARG.src, data],
    [ARG.mean, stat],
    [ARG.variance, stat],
    [ARG.diffDst, data],
    [ARG.scale, stat],
    [ARG.shift, stat], // asked for by the implementation, not used
    [ARG.diffSrc, data],
    [ARG.diffScale, stat],
    [ARG.diffShift, stat],
  ], [fwd, bwd]);
}

const bnScratch: Float32Array[] = [];

/** Scratch array `i` (outside the wasm heap) of at least `n` floats, for outputs the kit drops. */
function bnScratchOf(i: number, n: number): Float32Array {
  if (!bnScratch[i] || bnScratch[i].length < n) bnScratch[i] = new Float32Array(n);
  return bnScratch[i].subarray(0, n);
}

function bnPrepared(l: Lib, step: BnStep, rows: number, c: number, eps: number): Prepared | null {
  const key = `bn,${step},${rows},${c},${eps}`;
  let p = cache.get(key);
  if (p === undefined) {
    try {
      p = prepareBn(l, step, rows, c, eps);
    } catch {
      p = null;
    }
    cache.set(key, p);
  }
  return p;
}

/**
 * One batch-norm step of the kit's training batch norm on `x` = `[rows, c]` (row-major; NHWC
 * activations), in oneDNN (threaded): `stats` (`out` = [μ; σ²], biased), `apply`
 * (`out` = `(x − μ)·(σ² + eps)^−½·γ + β`), `reduce` (`out` = [Σdy; Σdy·(x − μ)]), `dx` (`out` =
 * the input gradient, as oneDNN's batch-norm backward pass), `forward` (`out` = apply's,
 * `out2` = stats') or `backward` (`out` = dx's, `out2` = reduce's). `stats` is [μ; σ²] for the
 * steps that take it. Returns false, having done nothing, without oneDNN or an implementation.
 */
export function dnnlBatchNorm(
  step: BnStep,
  rows: number,
  c: number,
  eps: number,
  t: {
    x: Float32Array;
    out: Float32Array;
    out2?: Float32Array;
    stats?: Float32Array;
    dy?: Float32Array;
    gamma?: Float32Array;
    beta?: Float32Array;
  },
): boolean {
  const l = mode === "never" ? null : openDnnl();
  if (!l) return false;
  const own = step === "stats" || step === "reduce";
  // reduce, dx and backward share one primitive (oneDNN's backward pass)
  const kind = step === "reduce" || step === "dx" ? "backward" : step;
  const p = bnPrepared(l, kind, rows, c, own ? BN_EPS_UNUSED : eps);
  if (!p) return false;
  const n = rows * c;
  if (step === "stats") {
    run(l, p, [t.x, bnScratchOf(0, n), t.out.subarray(0, c), t.out.subarray(c, 2 * c)]);
    return true;
  }
  if (step === "forward") {
    run(l, p, [t.x, t.gamma!, t.beta!, t.out, t.out2!.subarray(0, c), t.out2!.subarray(c, 2 * c)]);
    return true;
  }
  const mean = t.stats!.subarray(0, c);
  const variance = t.stats!.subarray(c, 2 * c);
  if (step === "backward") {
    const diffScale = bnScratchOf(2, c);
    run(l, p, [
      t.x,
      mean,
      variance,
      t.dy!,
      t.gamma!,
      bnScratchOf(3, c).fill(0),
      t.out,
      diffScale,
      t.out2!.subarray(0, c),
    ]);
    for (let ch = 0; ch < c; ch++) t.out2![c + ch] = diffScale[ch] * Math.sqrt(variance[ch] + eps);
    return true;
  }
  if (step === "apply") {
    run(l, p, [t.x, mean, variance, t.gamma!, t.beta!, t.out]);
    return true;
  }
  if (step === "reduce") {
    const ones = bnScratchOf(1, c).fill(1);
    const diffScale = bnScratchOf(2, c);
    run(l, p, [
      t.x,
      mean,
      variance,
      t.dy!,
      ones,
      bnScratchOf(3, c).fill(0),
      bnScratchOf(0, n),
      diffScale,
      t.out.subarray(0, c),
    ]);
    // oneDNN's dγ is Σdy·(x − μ)·(σ² + eps)^−½: the kit's sum is that times (σ² + eps)^½.
    for (let ch = 0; ch < c; ch++) {
      t.out[c + ch] = diffScale[ch] * Math.sqrt(variance[ch] + BN_EPS_UNUSED);
    }
    return true;
  }
  const shift = bnScratchOf(3, c).fill(0);
  run(l, p, [
    t.x,
    mean,
    variance,
    t.dy!,
    t.gamma!,
    shift,
    t.out,
    bnScratchOf(2, c),
    bnScratchOf(4, c),
  ]);
  return true;
}

/** Two primitives: a max-pooling forward pass (for its workspace, the argmax) and its backward. */
interface PoolPrepared {
  fwd: Prepared;
  bwd: Prepared;
  /** Floats of the pooled output and of the workspace (bytes rounded up). */
  dstFloats: number;
  wsFloats: number;
}

function preparePool(l: Lib, info: backend_util.Conv2DInfo): PoolPrepared | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } =
    info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const pad = windowPadding(info);
  if (!pad) return null;
  const [top, left, bottom, right] = pad;
  const src = memoryDesc(l, [B, C, H, W], TAG_NHWC);
  const dst = memoryDesc(l, [B, C, OH, OW], TAG_NHWC);
  const geometry = [
    dims([SH, SW]),
    dims([FH, FW]),
    dims([0, 0]),
    dims([top, left]),
    dims([bottom, right]),
  ] as const;
  const fd = new Uint8Array(OP_DESC_BYTES);
  check(
    l.symbols.dnnl_pooling_v2_forward_desc_init(
      fd,
      FORWARD_TRAINING,
      POOLING_MAX,
      src,
      dst,
      ...geometry,
    ),
    "pooling_forward_desc_init",
  );
  const fpd = opPd(l, fd, null);
  const wsPtr = l.symbols.dnnl_primitive_desc_query_md(fpd, QUERY_WORKSPACE_MD, 0);
  if (!wsPtr) return null;
  const ws = new Uint8Array(MD_BYTES);
  new Deno.UnsafePointerView(wsPtr).copyInto(ws);
  const bd = new Uint8Array(OP_DESC_BYTES);
  check(
    l.symbols.dnnl_pooling_v2_backward_desc_init(bd, POOLING_MAX, src, dst, ...geometry),
    "pooling_backward_desc_init",
  );
  const bpd = opPd(l, bd, fpd);
  return {
    fwd: prepared(l, fpd, [[ARG.src, src], [ARG.dst, dst], [ARG.workspace, ws]], [fd]),
    bwd: prepared(l, bpd, [[ARG.diffDst, dst], [ARG.workspace, ws], [ARG.diffSrc, src]], [fd, bd]),
    dstFloats: B * OH * OW * C,
    wsFloats: Math.ceil(Number(l.symbols.dnnl_memory_desc_get_size(wsPtr)) / 4),
  };
}

const poolCache = new Map<string, PoolPrepared | null>();

/**
 * The gradient of a max pooling of `x` (NHWC; `info` from `computePool2DInfo`, dilation 1) in
 * oneDNN: the forward pass again for its argmax, then `dx` = `dy` routed to each window's maximum
 * (the first one in the window on ties). Returns false, having done nothing, without oneDNN or an
 * implementation for the geometry.
 */
export function dnnlMaxPoolGrad(
  info: backend_util.Conv2DInfo,
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): boolean {
  const l = mode === "never" ? null : openDnnl();
  if (!l) return false;
  const key = [convKey("forward", info), "pool"].join(",");
  let p = poolCache.get(key);
  if (p === undefined) {
    try {
      p = preparePool(l, info);
    } catch {
      p = null;
    }
    poolCache.set(key, p);
  }
  if (!p) return false;
  const ws = bnScratchOf(5, p.wsFloats);
  run(l, p.fwd, [x, bnScratchOf(6, p.dstFloats), ws]);
  run(l, p.bwd, [dy, ws, dx]);
  return true;
}

/**
 * The gradient of ReLU over `n` floats in oneDNN (threaded): `dx = x > 0 ? dy : 0`. Returns false,
 * having done nothing, without oneDNN.
 */
export function dnnlReluGrad(
  n: number,
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): boolean {
  const l = mode === "never" ? null : openDnnl();
  if (!l) return false;
  const key = `relu,${n}`;
  let p = cache.get(key);
  if (p === undefined) {
    try {
      const data = memoryDesc(l, [n], TAG_A);
      const fwd = new Uint8Array(OP_DESC_BYTES);
      check(
        l.symbols.dnnl_eltwise_forward_desc_init(fwd, FORWARD_TRAINING, ELTWISE_RELU, data, 0, 0),
        "eltwise_forward_desc_init",
      );
      const bwd = new Uint8Array(OP_DESC_BYTES);
      check(
        l.symbols.dnnl_eltwise_backward_desc_init(bwd, ELTWISE_RELU, data, data, 0, 0),
        "eltwise_backward_desc_init",
      );
      const pd = opPd(l, bwd, opPd(l, fwd, null));
      p = prepared(l, pd, [[ARG.src, data], [ARG.diffDst, data], [ARG.diffSrc, data]], [fwd, bwd]);
    } catch {
      p = null;
    }
    cache.set(key, p);
  }
  if (!p) return false;
  run(l, p, [x, dy, dx]);
  return true;
}
