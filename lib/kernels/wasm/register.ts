/**
 * The kernels the kit adds to tfjs's wasm backend and their registration:
 *
 * - gap fillers, registered always (training cannot run without them): `Conv2DBackpropFilter` and
 *   the two depthwise-convolution gradients (tfjs-backend-wasm 4.22 has none of them), and the
 *   kit's own fused batch-norm and SGD kernels (`lib/kernels/batch_norm_train.ts`,
 *   `lib/kernels/sgd_update.ts`; `nn` and `optim` use them unless `CYBORG_STOCK_KERNELS=1`);
 * - replacements of slow or memory-hungry stock kernels (`Conv2DBackpropInput`, `MaxPoolGrad`,
 *   `Identity`), registered unless
 *   `CYBORG_STOCK_KERNELS=1`; each keeps the stock kernel for the cases it does not handle.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc } from "@tensorflow/tfjs-core";
import { stockKernelsRequested } from "../stock_switch.ts";
import { conv2DBackpropFilterWasmConfig } from "./conv2d_backprop_filter.ts";
import { makeConv2DBackpropInputWasm } from "./conv2d_backprop_input.ts";
import { WASM_BN_KERNELS } from "./batch_norm.ts";
import { WASM_CPU_KERNELS } from "./cpu_kernels.ts";
import {
  depthwiseBackpropFilterWasmConfig,
  depthwiseBackpropInputWasmConfig,
} from "./depthwise_conv2d_backprop.ts";
import { makeIdentityWasm } from "./identity.ts";
import { makeMaxPoolGradWasm } from "./max_pool_grad.ts";

const BACKEND = "wasm";

/** Kernels the wasm backend lacks, registered for backend `wasm`. */
export const WASM_GAP_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterWasmConfig,
  depthwiseBackpropFilterWasmConfig,
  depthwiseBackpropInputWasmConfig,
  ...WASM_BN_KERNELS,
  // The other kit kernels, from their cpu versions (the ones above take precedence).
  ...WASM_CPU_KERNELS.filter((k) => !WASM_BN_KERNELS.some((b) => b.kernelName === k.kernelName)),
];

/** A replacement: the tfjs kernel name and a factory taking the stock kernel function. */
export interface WasmReplacement {
  /** tfjs kernel name. */
  kernelName: string;
  /** Builds the kit's kernel function around the stock one. */
  make(stock: KernelFunc): KernelFunc;
}

/** Stock wasm kernels the kit replaces by faster ones. */
export const WASM_REPLACEMENTS: readonly WasmReplacement[] = [
  { kernelName: "Conv2DBackpropInput", make: makeConv2DBackpropInputWasm },
  { kernelName: "MaxPoolGrad", make: makeMaxPoolGradWasm },
  // Shares storage instead of copying: halves what a training step's saved tensors take.
  { kernelName: "Identity", make: makeIdentityWasm },
];

const stockConfigs = new Map<string, KernelConfig>();

/**
 * Registers the gap fillers, and (unless `CYBORG_STOCK_KERNELS=1` or `stock` is true) the
 * replacements. Idempotent. Returns the kernel names the kit now serves on wasm. Needs
 * `@tensorflow/tfjs-backend-wasm` imported (its stock kernels registered).
 */
export function registerWasmKernels(stock = stockKernelsRequested()): string[] {
  for (const k of WASM_GAP_KERNELS) {
    if (!tf.getKernel(k.kernelName, BACKEND)) tf.registerKernel(k);
  }
  if (stock) unregisterWasmReplacements();
  else {
    for (const r of WASM_REPLACEMENTS) {
      if (stockConfigs.has(r.kernelName)) continue;
      const config = tf.getKernel(r.kernelName, BACKEND);
      if (!config) {
        throw new Error(
          `registerWasmKernels: no stock wasm kernel "${r.kernelName}" ` +
            "(import @tensorflow/tfjs-backend-wasm first)",
        );
      }
      stockConfigs.set(r.kernelName, config);
      tf.unregisterKernel(r.kernelName, BACKEND);
      tf.registerKernel({ ...config, kernelFunc: r.make(config.kernelFunc) });
    }
  }
  return activeWasmKernels();
}

/** Puts the stock kernels back in place of the replacements (the gap fillers stay). Idempotent. */
export function unregisterWasmReplacements(): void {
  for (const [name, config] of stockConfigs) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
  }
  stockConfigs.clear();
}

/** Names of the kernels the kit serves on wasm now (gap fillers and active replacements). */
export function activeWasmKernels(): string[] {
  return [
    ...WASM_GAP_KERNELS.map((k) => k.kernelName).filter((n) =>
      tf.getKernel(n, BACKEND) !== undefined
    ),
    ...stockConfigs.keys(),
  ];
}
