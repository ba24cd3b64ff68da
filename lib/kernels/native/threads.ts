/**
 * The thread count of the native libraries (OpenBLAS's pool and oneDNN's OpenMP pool), one number
 * for both. Results depend on it in the last bits (OpenBLAS splits a GEMM differently for another
 * count; for a fixed count they are bitwise repeatable, measured under load), so a run records the
 * count it started with and a resume uses it (lib/train.ts).
 *
 * Default: `CYBORG_BLAS_THREADS` when set (an integer >= 1), else every core. Parallel runs
 * (lib/run_pool.ts) give each child process one thread.
 *
 * @module
 */

const appliers: ((n: number) => void)[] = [];
let current: number | undefined;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Native threads of every run of an experiment, whichever way it runs (in the calling process, a
 * `--jobs` child, a Slurm task): one, so that a run's bits do not depend on how it was run.
 */
export const EXPERIMENT_RUN_THREADS = 1;

/** `CYBORG_BLAS_THREADS` when it is an integer >= 1, else the number of cores. */
export function defaultNativeThreads(): number {
  const t = Number(env("CYBORG_BLAS_THREADS") ?? "");
  if (Number.isInteger(t) && t >= 1) return t;
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** The thread count the native libraries use (set, or {@linkcode defaultNativeThreads}). */
export function nativeThreads(): number {
  current ??= defaultNativeThreads();
  return current;
}

/** Sets the native libraries' thread count (an integer >= 1), now and for libraries opened later. */
export function setNativeThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`setNativeThreads: expected an integer >= 1, got ${n}`);
  }
  current = n;
  for (const f of appliers) f(n);
}

/** Called by a native library once it is open: applies the count now and on every change. */
export function onNativeThreads(apply: (n: number) => void): void {
  appliers.push(apply);
  apply(nativeThreads());
}
