/**
 * Counts WebGPU API calls made by tfjs (or anything else in the process) by wrapping the WebGPU
 * prototypes: compute dispatches, buffer creations (and how many were mapped at creation: the
 * upload staging buffers), destroys, `mapAsync` (GPU→CPU readbacks), `writeBuffer`, `submit`, bind
 * groups and pipeline creations (shader compilations). It also adds up the host time spent inside
 * each group of calls ({@linkcode GpuCounts.hostMs}), so a slow step can be split into "the CPU is
 * busy inside WebGPU calls", "the CPU is busy elsewhere (JS)" and "the CPU waits for the GPU".
 * Install before the backend is initialised to count everything; wrapping is process-wide and
 * idempotent.
 *
 * @module
 */

/** Groups of WebGPU calls whose host time is added up. */
export type ApiGroup =
  | "dispatch"
  | "encode"
  | "bindGroup"
  | "pipeline"
  | "createBuffer"
  | "destroy"
  | "writeBuffer"
  | "map"
  | "submit";

/** All {@linkcode ApiGroup}s, in report order. */
export const API_GROUPS: readonly ApiGroup[] = [
  "dispatch",
  "encode",
  "bindGroup",
  "pipeline",
  "createBuffer",
  "destroy",
  "writeBuffer",
  "map",
  "submit",
];

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
  /** `GPUDevice.createBindGroup` calls. */
  bindGroups: number;
  /** `GPUDevice.createComputePipeline(Async)` calls (each compiles a shader). */
  pipelines: number;
  /**
   * Host milliseconds spent inside the wrapped calls, per group. `map` is the synchronous part of
   * `mapAsync`/`getMappedRange`/`unmap`, not the wait for the GPU; `pipeline` includes
   * `createShaderModule`, and for `createComputePipelineAsync` only the time to return the promise.
   */
  hostMs: Record<ApiGroup, number>;
}

function zeroHost(): Record<ApiGroup, number> {
  return Object.fromEntries(API_GROUPS.map((g) => [g, 0])) as Record<ApiGroup, number>;
}

/** All-zero counts (the state before anything was counted). */
export function zeroCounts(): GpuCounts {
  return {
    dispatches: 0,
    buffersCreated: 0,
    mappedAtCreation: 0,
    buffersDestroyed: 0,
    mapAsync: 0,
    writeBuffer: 0,
    submits: 0,
    bindGroups: 0,
    pipelines: 0,
    hostMs: zeroHost(),
  };
}

const counts: GpuCounts = zeroCounts();
let installed = false;

// deno-lint-ignore no-explicit-any
type AnyFn = (this: any, ...args: any[]) => any;

function wrap(
  proto: Record<string, unknown> | undefined,
  method: string,
  group: ApiGroup,
  count?: (args: unknown[]) => void,
): boolean {
  if (!proto || typeof proto[method] !== "function") return false;
  const original = proto[method] as AnyFn;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    count?.(args);
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      counts.hostMs[group] += performance.now() - t0;
    }
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
  const pass = g.GPUComputePassEncoder.prototype;
  const device = g.GPUDevice.prototype;
  const buffer = g.GPUBuffer?.prototype;
  const queue = g.GPUQueue?.prototype;
  wrap(pass, "dispatchWorkgroups", "dispatch", () => counts.dispatches++);
  for (const m of ["setPipeline", "setBindGroup", "end"]) wrap(pass, m, "encode");
  for (const m of ["beginComputePass", "copyBufferToBuffer", "finish"]) {
    wrap(g.GPUCommandEncoder?.prototype, m, "encode");
  }
  wrap(device, "createCommandEncoder", "encode");
  wrap(device, "createBindGroup", "bindGroup", () => counts.bindGroups++);
  wrap(g.GPUComputePipeline?.prototype, "getBindGroupLayout", "bindGroup");
  wrap(device, "createShaderModule", "pipeline");
  wrap(device, "createComputePipeline", "pipeline", () => counts.pipelines++);
  wrap(device, "createComputePipelineAsync", "pipeline", () => counts.pipelines++);
  wrap(device, "createBuffer", "createBuffer", (args) => {
    counts.buffersCreated++;
    if ((args[0] as GPUBufferDescriptor | undefined)?.mappedAtCreation) counts.mappedAtCreation++;
  });
  wrap(buffer, "destroy", "destroy", () => counts.buffersDestroyed++);
  wrap(buffer, "mapAsync", "map", () => counts.mapAsync++);
  wrap(buffer, "getMappedRange", "map");
  wrap(buffer, "unmap", "map");
  wrap(queue, "writeBuffer", "writeBuffer", () => counts.writeBuffer++);
  wrap(queue, "submit", "submit", () => counts.submits++);
  installed = true;
  return true;
}

/** A copy of the current counts. */
export function gpuCounts(): GpuCounts {
  return { ...counts, hostMs: { ...counts.hostMs } };
}

/** `after − before`, divided by `per` (e.g. the number of steps). */
export function countsDelta(before: GpuCounts, after: GpuCounts, per = 1): GpuCounts {
  const out = { ...after, hostMs: zeroHost() };
  for (const k of Object.keys(out) as (keyof GpuCounts)[]) {
    if (k !== "hostMs") out[k] = (after[k] - before[k]) / per;
  }
  for (const g of API_GROUPS) out.hostMs[g] = (after.hostMs[g] - before.hostMs[g]) / per;
  return out;
}

/** Sum of the host milliseconds over all groups. */
export function totalHostMs(hostMs: Record<ApiGroup, number>): number {
  return API_GROUPS.reduce((s, g) => s + hostMs[g], 0);
}
