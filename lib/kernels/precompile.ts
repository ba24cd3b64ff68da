/**
 * Compiles every WebGPU pipeline a function would record, without running it, and lets the driver
 * compile them in parallel: tfjs's `WEBGPU_ENGINE_COMPILE_ONLY` mode, in which programs are built
 * with `createComputePipelineAsync` and nothing is dispatched. Until the first step had compiled
 * its ~100 shaders one by one, synchronously (on llvmpipe ~0.2 s in all; on a GPU driver it may be
 * far more, which is what `bench:train --precompile` measures).
 *
 * In this mode every op returns an uninitialised tensor, so `run` must only touch throwaway state:
 * e.g. a second copy of the model, optimizer and batch with the same shapes (pipelines depend on
 * shapes and dtypes, not values). Temporaries are disposed; the caller disposes what `run` kept.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { gpuCounts, installGpuCounters } from "./gpu_counters.ts";

/** What {@linkcode precompileWebGpu} did. */
export interface PrecompileResult {
  /** Pipelines created (0 when the backend is not webgpu or everything was compiled already). */
  pipelines: number;
  /** Wall time, compilation included, in ms. */
  ms: number;
}

/**
 * Runs `run` in compile-only mode on the webgpu backend, then waits for every pipeline. No-op
 * (0 pipelines) on other backends. The counters are installed if they were not (pipelines are
 * counted through them).
 */
export async function precompileWebGpu(run: () => void): Promise<PrecompileResult> {
  const t0 = performance.now();
  if (tf.getBackend() !== "webgpu") return { pipelines: 0, ms: 0 };
  installGpuCounters();
  const before = gpuCounts().pipelines;
  const backend = tf.backend() as unknown as { checkCompileCompletionAsync(): Promise<void> };
  tf.env().set("WEBGPU_ENGINE_COMPILE_ONLY", true);
  try {
    tf.tidy(run);
  } finally {
    tf.env().set("WEBGPU_ENGINE_COMPILE_ONLY", false);
  }
  await backend.checkCompileCompletionAsync();
  return { pipelines: gpuCounts().pipelines - before, ms: performance.now() - t0 };
}
