/**
 * Registers the kit's WebGPU kernels in place of tfjs's stock ones (and restores the stock ones).
 * Each kit kernel keeps the stock kernel function to fall back on for cases it does not handle.
 * `lib/backend.ts` calls {@linkcode registerKitKernels} when it initialises the webgpu backend,
 * unless `CYBORG_STOCK_KERNELS=1`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc } from "@tensorflow/tfjs-core";
import { makeConv2D } from "./conv2d.ts";
import { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
import { makeConv2DBackpropInput } from "./conv2d_backprop_input.ts";
import { stockKernelsRequested } from "./stock_switch.ts";
import { patchUploads, unpatchUploads, type UploadPatchTarget } from "./upload.ts";
import { setKitTuning, tuningFor } from "./tuning.ts";

/** A kit kernel: the tfjs kernel name it replaces and a factory taking the stock function. */
export interface KitKernel {
  /** tfjs kernel name, e.g. `Conv2DBackpropFilter`. */
  kernelName: string;
  /** Builds the kit's kernel function around the stock one. */
  make(stock: KernelFunc): KernelFunc;
}

/** Every kernel the kit replaces on the webgpu backend. */
export const KIT_KERNELS: readonly KitKernel[] = [
  { kernelName: "Conv2DBackpropFilter", make: makeConv2DBackpropFilter },
  { kernelName: "Conv2D", make: makeConv2D },
  { kernelName: "Conv2DBackpropInput", make: makeConv2DBackpropInput },
];

export { stockKernelsRequested };

const BACKEND = "webgpu";
const stockConfigs = new Map<string, KernelConfig>();

/**
 * Replaces the stock webgpu kernels by the kit's. Idempotent. Returns the kernel names now
 * served by the kit. Throws if a stock kernel is missing (tfjs-backend-webgpu not imported).
 */
export function registerKitKernels(): string[] {
  for (const k of KIT_KERNELS) {
    if (stockConfigs.has(k.kernelName)) continue;
    const stock = tf.getKernel(k.kernelName, BACKEND);
    if (!stock) {
      throw new Error(
        `registerKitKernels: no stock ${BACKEND} kernel "${k.kernelName}" ` +
          "(import @tensorflow/tfjs-backend-webgpu first)",
      );
    }
    stockConfigs.set(k.kernelName, stock);
    tf.unregisterKernel(k.kernelName, BACKEND);
    tf.registerKernel({ ...stock, kernelFunc: k.make(stock.kernelFunc) });
  }
  return [...stockConfigs.keys()];
}

/** Puts tfjs's stock kernels back. Idempotent. */
export function unregisterKitKernels(): void {
  for (const [name, stock] of stockConfigs) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(stock);
  }
  stockConfigs.clear();
}

/** Names of the kernels the kit currently serves (empty when stock kernels are active). */
export function activeKitKernels(): string[] {
  return [...stockConfigs.keys()];
}

/**
 * Everything the kit changes on an initialised webgpu backend: its kernels
 * ({@linkcode registerKitKernels}), their tuning for the adapter (`tuning.ts`: a CPU rasteriser
 * such as llvmpipe when `fallbackAdapter`, else a GPU) and writeBuffer uploads (`patchUploads`).
 * No-op (returns false) when `CYBORG_STOCK_KERNELS=1` or the backend is not webgpu.
 */
export function enableKitWebGpu(opts: { fallbackAdapter?: boolean } = {}): boolean {
  if (stockKernelsRequested()) return false;
  const backend = tf.findBackend(BACKEND);
  if (!backend) return false;
  setKitTuning(tuningFor(opts.fallbackAdapter ?? false));
  registerKitKernels();
  patchUploads(backend as unknown as UploadPatchTarget);
  return true;
}

/** Undoes {@linkcode enableKitWebGpu}: stock kernels and stock uploads. */
export function disableKitWebGpu(): void {
  unregisterKitKernels();
  const backend = tf.findBackend(BACKEND);
  if (backend) unpatchUploads(backend as unknown as UploadPatchTarget);
}
