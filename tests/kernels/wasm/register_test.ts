import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import {
  activeWasmKernels,
  registerWasmKernels,
  unregisterWasmReplacements,
  WASM_GAP_KERNELS,
  WASM_REPLACEMENTS,
} from "../../../lib/kernels/wasm/register.ts";

Deno.test("wasm kit kernels: gap fillers always, replacements swap in and out cleanly", async () => {
  await initBackend("wasm");
  const gaps = WASM_GAP_KERNELS.map((k) => k.kernelName);
  const replaced = WASM_REPLACEMENTS.map((r) => r.kernelName);
  assert.ok(gaps.includes("Conv2DBackpropFilter"));
  assert.deepEqual(replaced, ["Conv2DBackpropInput", "MaxPoolGrad", "Identity"]);
  const kitFn = tf.getKernel("Conv2DBackpropInput", "wasm")!.kernelFunc;

  unregisterWasmReplacements();
  const stockFn = tf.getKernel("Conv2DBackpropInput", "wasm")!.kernelFunc;
  assert.notEqual(stockFn, kitFn);
  assert.deepEqual(activeWasmKernels().sort(), [...gaps].sort());
  // The stock kernel still works (and the gap fillers stay registered).
  const dy = tf.ones([1, 3, 3, 2]);
  const w = tf.ones([3, 3, 1, 2]);
  const dx = tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [1, 3, 3, 1], 1, "same");
  assert.equal((await dx.data())[4], 18); // centre pixel: 9 taps × 2 channels

  registerWasmKernels(true); // CYBORG_STOCK_KERNELS=1: gap fillers only
  assert.deepEqual(activeWasmKernels().sort(), [...gaps].sort());
  registerWasmKernels(false);
  registerWasmKernels(false); // idempotent
  assert.deepEqual(activeWasmKernels().sort(), [...gaps, ...replaced].sort());
  assert.notEqual(tf.getKernel("Conv2DBackpropInput", "wasm")!.kernelFunc, stockFn);
  // The kit kernel gives the same answer as the stock one did.
  const dx2 = tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [1, 3, 3, 1], 1, "same");
  assert.deepEqual(await dx2.data(), await dx.data());
  tf.dispose([dy, w, dx, dx2]);
});
