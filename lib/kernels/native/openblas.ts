/**
 * OpenBLAS's `cblas_sgemm` through `Deno.dlopen`, on plain `Float32Array`s (views on the wasm heap
 * included: FFI `buffer` arguments pass the view's own start, so no copy is made). The library is
 * Debian's `libopenblas0-pthread` (`libopenblas.so.0`, its own thread pool); the kernel family is
 * set from the CPU's flags unless `OPENBLAS_CORETYPE` is given ({@linkcode coreTypeFromCpuinfo}).
 * `CYBORG_NATIVE_BLAS=0` turns it off; its thread count is the native libraries' one
 * (`threads.ts`: `CYBORG_BLAS_THREADS`, else every core; one per process in parallel runs).
 *
 * @module
 */

import { onNativeThreads } from "./threads.ts";

/** Places looked at for the library, in order (`CYBORG_OPENBLAS`, when set, is the only one). */
export const OPENBLAS_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "libopenblas.so.0",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  cblas_scopy: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "void" },
  cblas_sscal: { parameters: ["i32", "f32", "buffer", "i32"], result: "void" },
  cblas_saxpy: {
    parameters: ["i32", "f32", "buffer", "i32", "buffer", "i32"],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

let lib: Lib | null | undefined;
let libPath = "";
let loadError = "";
let calls = 0;

/** How many {@linkcode sgemm} calls were made in this process (tests check kernels use it). */
export function sgemmCalls(): number {
  return calls;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The OpenBLAS kernel family for this CPU from `/proc/cpuinfo`'s flags (`SkylakeX` with AVX-512
 * F/BW/DQ/VL, `Haswell` with AVX2 and FMA), or `undefined`. OpenBLAS 0.3.21 (Debian 12) reads some
 * current Xeons as "Prescott" and then runs its SSE3 kernels (~6 GFLOP/s instead of ~30–120).
 */
export function coreTypeFromCpuinfo(cpuinfo: string): string | undefined {
  const line = cpuinfo.split("\n").find((l) => l.startsWith("flags"));
  if (!line) return undefined;
  const flags = new Set(line.split(":")[1]?.trim().split(/\s+/) ?? []);
  if (["avx512f", "avx512bw", "avx512dq", "avx512vl"].every((f) => flags.has(f))) return "SkylakeX";
  if (flags.has("avx2") && flags.has("fma")) return "Haswell";
  return undefined;
}

/**
 * Sets, unless given, `OPENBLAS_THREAD_TIMEOUT=4`: OpenBLAS's idle workers then sleep after 2⁴
 * cycles instead of yielding in a loop for 2²⁸ (~0.1 s). Their spinning took the cores from
 * oneDNN's OpenMP threads and from the JavaScript between the GEMMs: a ResNet50 64 px batch-4 step
 * at 2 threads used 1.2–1.6 s of CPU for 0.77 s wall, 0.34–0.38 s for 0.27–0.30 s with both pools
 * idling passively (measured on 2 shared cores).
 */
function setThreadTimeout(): void {
  try {
    if (!env("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  } catch {
    // no env permission: OpenBLAS's default
  }
}

function setCoreType(): void {
  if (env("OPENBLAS_CORETYPE")) return;
  try {
    const core = coreTypeFromCpuinfo(Deno.readTextFileSync("/proc/cpuinfo"));
    // Read by the library when it loads.
    if (core) Deno.env.set("OPENBLAS_CORETYPE", core);
  } catch {
    // no /proc or no permission: OpenBLAS's own detection
  }
}

/** True when `CYBORG_NATIVE_BLAS=0` asks for the wasm kernels only. */
export function nativeBlasDisabled(): boolean {
  return env("CYBORG_NATIVE_BLAS") === "0";
}

/**
 * Opens OpenBLAS once; `null` when it is absent, FFI is not permitted, or `CYBORG_NATIVE_BLAS=0`
 * ({@linkcode nativeBlasProblem} says why).
 */
export function openBlas(): Lib | null {
  if (lib !== undefined) return lib;
  if (nativeBlasDisabled()) {
    loadError = "CYBORG_NATIVE_BLAS=0";
    lib = null;
    return lib;
  }
  setCoreType();
  setThreadTimeout();
  const custom = env("CYBORG_OPENBLAS");
  const errors: string[] = [];
  for (const path of custom ? [custom] : OPENBLAS_CANDIDATES) {
    try {
      lib = Deno.dlopen(path, SYMBOLS);
      libPath = path;
      const l = lib;
      onNativeThreads((n) => l.symbols.openblas_set_num_threads(n));
      return lib;
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  loadError = errors[errors.length - 1] ?? "not found";
  lib = null;
  return lib;
}

/** Why {@linkcode openBlas} returned `null` ("" when it loaded or was not tried). */
export function nativeBlasProblem(): string {
  return loadError;
}

/** A label such as `OpenBLAS (libopenblas.so.0, 2 threads)`, or `null` without the library. */
export function nativeBlasLabel(): string | null {
  const l = openBlas();
  if (!l) return null;
  const threads = l.symbols.openblas_get_num_threads();
  return `OpenBLAS (${libPath.split("/").pop()}, ${threads} thread${threads === 1 ? "" : "s"})`;
}

/**
 * Row-major `C[M, N] = alpha · op(A) · op(B) + beta · C`, `op(A)` being `A[M, K]` or, with
 * `transA`, `A[K, M]` transposed (likewise B). Leading dimensions are the rows' lengths as stored.
 * Checks that every view is long enough (a short view would let the library read past it).
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: Float32Array,
  b: Float32Array,
  beta: number,
  c: Float32Array,
): void {
  const l = openBlas();
  if (!l) throw new Error(`sgemm: OpenBLAS is not available (${loadError})`);
  calls++;
  if (M === 0 || N === 0) return;
  if (a.length < M * K || b.length < K * N || c.length < M * N) {
    throw new Error(
      `sgemm: views too short for M=${M} N=${N} K=${K} (a ${a.length}, b ${b.length}, c ${c.length})`,
    );
  }
  if (K === 0) {
    if (beta === 0) c.fill(0, 0, M * N);
    else if (beta !== 1) { for (let i = 0; i < M * N; i++) c[i] *= beta; }
    return;
  }
  l.symbols.cblas_sgemm(
    ROW_MAJOR,
    transA ? TRANS : NO_TRANS,
    transB ? TRANS : NO_TRANS,
    M,
    N,
    K,
    alpha,
    a,
    transA ? M : K,
    b,
    transB ? K : N,
    beta,
    c,
    N,
  );
}

/** `y = x` over `n` floats (`cblas_scopy`). */
export function scopy(n: number, x: Float32Array, y: Float32Array): void {
  const l = openBlas();
  if (!l) throw new Error(`scopy: OpenBLAS is not available (${loadError})`);
  if (x.length < n || y.length < n) throw new Error(`scopy: views shorter than ${n}`);
  if (n > 0) l.symbols.cblas_scopy(n, x, 1, y, 1);
}

/** `y += alpha·x` over `n` floats (`cblas_saxpy`). */
export function saxpy(n: number, alpha: number, x: Float32Array, y: Float32Array): void {
  const l = openBlas();
  if (!l) throw new Error(`saxpy: OpenBLAS is not available (${loadError})`);
  if (x.length < n || y.length < n) throw new Error(`saxpy: views shorter than ${n}`);
  if (n > 0) l.symbols.cblas_saxpy(n, alpha, x, 1, y, 1);
}

/** `x = alpha·x` over `n` floats (`cblas_sscal`, threaded). */
export function sscal(n: number, alpha: number, x: Float32Array): void {
  const l = openBlas();
  if (!l) throw new Error(`sscal: OpenBLAS is not available (${loadError})`);
  if (x.length < n) throw new Error(`sscal: view shorter than ${n}`);
  if (n > 0) l.symbols.cblas_sscal(n, alpha, x, 1);
}
