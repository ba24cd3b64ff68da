/**
 * Where a training step's CPU time goes, by tfjs kernel: every kernel of the active backend is
 * wrapped to add the process's CPU time (`process.cpuUsage()`: user + system, all threads, so a
 * native kernel's worker threads count) around its call, for a few steps, then the kernels are put
 * back. Load from other processes does not enter CPU time as it enters wall time, so the split is
 * readable on a shared machine. For synchronous backends (wasm, cpu): a WebGPU kernel only enqueues.
 *
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";

/** CPU time of one kernel name within the measured steps, per step. */
export interface KernelCpu {
  /** tfjs kernel name. */
  name: string;
  /** Calls per step. */
  count: number;
  /** CPU ms per step. */
  ms: number;
}

/** The CPU split of `steps` steps. */
export interface KernelCpuSplit {
  /** CPU ms of the whole process per step. */
  stepMs: number;
  /** By kernel, most CPU first. */
  kernels: KernelCpu[];
}

function cpuMs(since?: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

/**
 * Runs `step` `steps` times (then `sync`, which waits for the backend) with every kernel of the
 * active backend wrapped, and returns the CPU split. The kernels are restored, even on error.
 */
export async function measureKernelCpu(
  step: () => void,
  sync: () => Promise<unknown>,
  steps: number,
): Promise<KernelCpuSplit> {
  const backend = tf.getBackend();
  const configs = tf.getKernelsForBackend(backend);
  const acc = new Map<string, KernelCpu>();
  for (const k of configs) {
    const f = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const c0 = process.cpuUsage();
        try {
          return f(args);
        } finally {
          const e = acc.get(k.kernelName) ?? { name: k.kernelName, count: 0, ms: 0 };
          e.count++;
          e.ms += cpuMs(c0);
          acc.set(k.kernelName, e);
        }
      },
    });
  }
  try {
    const c0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) step();
    await sync();
    const stepMs = cpuMs(c0) / steps;
    const kernels = [...acc.values()]
      .map((k) => ({ name: k.name, count: k.count / steps, ms: k.ms / steps }))
      .sort((a, b) => b.ms - a.ms);
    return { stepMs, kernels };
  } finally {
    for (const k of configs) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
}
