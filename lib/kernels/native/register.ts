/**
 * Native kernels for tfjs's wasm backend, registered over whatever serves them on `wasm` (tfjs's
 * stock kernels or the kit's wasm ones), which they keep for the calls they do not serve:
 * `Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter` and `BatchMatMul` (`kernels.ts`: OpenBLAS
 * GEMMs or oneDNN convolutions, per call), `MaxPoolGrad` (oneDNN's max pooling), the kit's
 * training batch norm through oneDNN
 * (`batch_norm_dnnl.ts`) and the kit's SGD update written straight onto the heap (`sgd_heap.ts`).
 * Registration needs OpenBLAS ({@linkcode openBlas}) or oneDNN ({@linkcode openDnnl}); without
 * either the wasm kernels stay.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc } from "@tensorflow/tfjs-core";
import {
  makeBatchMatMulNative,
  makeConv2DBackpropFilterNative,
  makeConv2DBackpropInputNative,
  makeConv2DNative,
  makeMaxPoolGradNative,
} from "./kernels.ts";
import { openBlas } from "./openblas.ts";
import { openDnnl } from "./onednn.ts";
import { registerReluGrad, RELU_GRAD_WASM, unregisterReluGrad } from "./relu_grad.ts";
import type { KernelConfig as Config } from "@tensorflow/tfjs-core";

/** Kernels the native path adds (no wasm kernel of that name to wrap), registered with oneDNN. */
const ADDED: readonly Config[] = [BN_FORWARD_DNNL, BN_BACKWARD_DNNL, RELU_GRAD_WASM];
import { makeSgdBufferHeap, makeSgdParamHeap } from "./sgd_heap.ts";
import {
  BN_BACKWARD_DNNL,
  BN_FORWARD_DNNL,
  makeBnApplyDnnl,
  makeBnBackDxDnnl,
  makeBnBackReduceDnnl,
  makeBnStatsDnnl,
} from "./batch_norm_dnnl.ts";
import { BN_APPLY, BN_BACK_DX, BN_BACK_REDUCE, BN_STATS } from "../batch_norm_train.ts";

const BACKEND = "wasm";

/** The kernels served natively and their factories (given the kernel they replace). */
export const NATIVE_KERNELS: readonly { kernelName: string; make(w: KernelFunc): KernelFunc }[] = [
  { kernelName: "Conv2D", make: makeConv2DNative },
  { kernelName: "Conv2DBackpropInput", make: makeConv2DBackpropInputNative },
  { kernelName: "Conv2DBackpropFilter", make: makeConv2DBackpropFilterNative },
  { kernelName: "BatchMatMul", make: makeBatchMatMulNative },
  { kernelName: "MaxPoolGrad", make: makeMaxPoolGradNative },
  { kernelName: "KitSgdBuffer", make: makeSgdBufferHeap },
  { kernelName: "KitSgdParam", make: makeSgdParamHeap },
  { kernelName: BN_STATS, make: makeBnStatsDnnl },
  { kernelName: BN_APPLY, make: makeBnApplyDnnl },
  { kernelName: BN_BACK_REDUCE, make: makeBnBackReduceDnnl },
  { kernelName: BN_BACK_DX, make: makeBnBackDxDnnl },
];

const replaced = new Map<string, KernelConfig>();

/**
 * Registers the native kernels over the current wasm ones. Returns false (nothing changed) when
 * OpenBLAS is unavailable. Idempotent. Call after the kit's wasm kernels are registered.
 */
export function registerNativeKernels(): boolean {
  if (!openBlas() && !openDnnl()) return false;
  for (const k of NATIVE_KERNELS) {
    if (replaced.has(k.kernelName)) continue;
    const config = tf.getKernel(k.kernelName, BACKEND);
    if (!config) {
      throw new Error(`registerNativeKernels: no wasm kernel "${k.kernelName}" to wrap`);
    }
    replaced.set(k.kernelName, config);
    tf.unregisterKernel(k.kernelName, BACKEND);
    tf.registerKernel({ ...config, kernelFunc: k.make(config.kernelFunc) });
  }
  if (openDnnl()) {
    for (const k of ADDED) {
      if (!tf.getKernel(k.kernelName, BACKEND)) tf.registerKernel(k);
    }
    registerReluGrad();
  }
  return true;
}

/** Puts back the kernels the native ones replaced. Idempotent. */
export function unregisterNativeKernels(): void {
  for (const [name, config] of replaced) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
  }
  replaced.clear();
  for (const k of ADDED) {
    if (tf.getKernel(k.kernelName, BACKEND)) tf.unregisterKernel(k.kernelName, BACKEND);
  }
  unregisterReluGrad();
}

/** True while the native kernels are registered. */
export function nativeKernelsActive(): boolean {
  return replaced.size > 0;
}
