/**
 * ReLU's gradient on wasm in one threaded oneDNN pass (`KitReluGrad`: `dx = x > 0 ? dy : 0`)
 * instead of tfjs's three one-threaded kernels (`Step`, `Cast`, `Multiply`: ~50 of ~1 650 CPU ms
 * of a ResNet50 224 px batch-4 step). {@linkcode registerReluGrad} replaces tfjs's gradient of
 * `Relu` with one that runs the kernel where the backend has it and tfjs's formula elsewhere (the
 * same values: the mask is 0 or 1).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { GradConfig, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "../wasm/wasm_types.ts";
import { dnnlReluGrad } from "./onednn.ts";

/** The kernel's name (kit-private). */
export const RELU_GRAD = "KitReluGrad";

/** `KitReluGrad` on wasm: oneDNN, else one JavaScript loop. */
export const RELU_GRAD_WASM: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: "wasm",
  kernelFunc: ({ inputs, backend }) => {
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    const wb = backend as unknown as WasmBackendLike;
    const out = wb.makeOutput(x.shape, "float32");
    const [xv, dyv, dx] = [x, dy, out].map((t) => heapF32(wb, t));
    if (!dnnlReluGrad(dx.length, xv, dyv, dx)) {
      for (let i = 0; i < dx.length; i++) dx[i] = xv[i] > 0 ? dyv[i] : 0;
    }
    return out;
  },
};

let original: GradConfig | undefined;

const KIT_RELU_GRAD: GradConfig = {
  kernelName: "Relu",
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    const d = dy as tf.Tensor;
    const fused = x.dtype === "float32" && d.dtype === "float32" &&
      tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined;
    return {
      x: () =>
        fused
          ? tf.engine().runKernel(RELU_GRAD, { dy: d, x }) as tf.Tensor
          : tf.mul(d, tf.cast(tf.step(x), "float32")),
    };
  },
};

/** Puts the kit's gradient of `Relu` in place of tfjs's (idempotent). */
export function registerReluGrad(): void {
  if (original) return;
  original = tf.getGradient("Relu");
  tf.registerGradient(KIT_RELU_GRAD);
}

/** Puts tfjs's gradient of `Relu` back (idempotent). */
export function unregisterReluGrad(): void {
  if (!original) return;
  tf.registerGradient(original);
  original = undefined;
}
