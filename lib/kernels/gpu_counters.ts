/**
 * Counts WebGPU API calls made by tfjs (or anything else in the process) by wrapping the WebGPU
 * prototypes: compute dispatches, buffer creations (and how many were mapped at creation: the
 * upload staging buffers), destroys, `mapAsync` (GPU→CPU readbacks), `writeBuffer` and `submit`.
 * Install before the backend is initialised to count everything; wrapping is process-wide and
 * idempotent.
 *
 * @module
 */

/** Cumulative counts since {@linkcode installGpuCounters}. */
export interface GpuCounts {
  /** `GPUComputePassEncoder.dispatchWorkgroups` calls (one per kernel launch). */
  dispatches: number;
  /** `GPUDevice.createBuffer` calls. */
  buffersCreated: number;
  /** Of those, created with `mappedAtCreation: true` (upload staging). */
  mappedAtCreation: number;
  /** `GPUBuffer.destroy` calls. */
  buffersDestroyed: number;
  /** `GPUBuffer.mapAsync` calls (readbacks). */
  mapAsync: number;
  /** `GPUQueue.writeBuffer` calls. */
  writeBuffer: number;
  /** `GPUQueue.submit` calls. */
  submits: number;
}

const counts: GpuCounts = {
  dispatches: 0,
  buffersCreated: 0,
  mappedAtCreation: 0,
  buffersDestroyed: 0,
  mapAsync: 0,
  writeBuffer: 0,
  submits: 0,
};
let installed = false;

// deno-lint-ignore no-explicit-any
type AnyFn = (this: any, ...args: any[]) => any;

function wrap(
  proto: Record<string, unknown> | undefined,
  method: string,
  count: (args: unknown[]) => void,
): boolean {
  if (!proto || typeof proto[method] !== "function") return false;
  const original = proto[method] as AnyFn;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    count(args);
    return original.apply(this, args);
  };
  return true;
}

/**
 * Wraps the WebGPU prototypes (once). Returns false when this runtime has no WebGPU classes
 * (counts then stay 0).
 */
export function installGpuCounters(): boolean {
  if (installed) return true;
  const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> }>;
  if (!g.GPUDevice || !g.GPUComputePassEncoder) return false;
  wrap(g.GPUComputePassEncoder.prototype, "dispatchWorkgroups", () => counts.dispatches++);
  wrap(g.GPUDevice.prototype, "createBuffer", (args) => {
    counts.buffersCreated++;
    if ((args[0] as GPUBufferDescriptor | undefined)?.mappedAtCreation) counts.mappedAtCreation++;
  });
  wrap(g.GPUBuffer?.prototype, "destroy", () => counts.buffersDestroyed++);
  wrap(g.GPUBuffer?.prototype, "mapAsync", () => counts.mapAsync++);
  wrap(g.GPUQueue?.prototype, "writeBuffer", () => counts.writeBuffer++);
  wrap(g.GPUQueue?.prototype, "submit", () => counts.submits++);
  installed = true;
  return true;
}

/** A copy of the current counts. */
export function gpuCounts(): GpuCounts {
  return { ...counts };
}

/** `after − before`, divided by `per` (e.g. the number of steps). */
export function countsDelta(before: GpuCounts, after: GpuCounts, per = 1): GpuCounts {
  const out = { ...after };
  for (const k of Object.keys(out) as (keyof GpuCounts)[]) out[k] = (after[k] - before[k]) / per;
  return out;
}
