import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { dnnlCalls, openDnnl } from "../../../lib/kernels/native/onednn.ts";
import {
  nativeKernelsActive,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../../../lib/kernels/native/register.ts";
import { Rng } from "../../../lib/rng.ts";
import { randomArray } from "../helpers.ts";

/** The gradient of Σ relu(x)·w with respect to x, on the active backend. */
async function reluGrad(xv: Float32Array, wv: Float32Array): Promise<Float32Array> {
  const [x, w] = [tf.tensor(xv), tf.tensor(wv)];
  const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.relu(xi), w)))(x);
  const out = await g.data() as Float32Array;
  tf.dispose([x, w, g]);
  return out;
}

Deno.test("ReLU's gradient through oneDNN on wasm equals tfjs's on cpu, zeros and negatives included", async () => {
  await initBackend("wasm");
  assert.ok(nativeKernelsActive() && openDnnl(), "oneDNN not loaded: apt-get install libdnnl2");
  const rng = new Rng("native/relu_grad");
  const n = 3 * 17 * 5 + 1;
  const xv = randomArray(rng, n);
  for (let i = 0; i < n; i += 7) xv[i] = 0; // relu'(0) = 0, as tfjs's step
  const wv = randomArray(rng, n);
  await tf.setBackend("cpu");
  const want = await reluGrad(xv, wv);
  await tf.setBackend("wasm");
  const calls = dnnlCalls();
  const got = await reluGrad(xv, wv);
  assert.equal(dnnlCalls() - calls, 1, "one oneDNN call");
  // Values equal (0 and -0 alike: the mask is 0 or 1).
  assert.ok(got.every((v, i) => v === want[i]), "gradients differ");
});

Deno.test("without the native kernels ReLU's gradient is tfjs's again", async () => {
  await initBackend("wasm");
  const kit = tf.getGradient("Relu");
  unregisterNativeKernels();
  try {
    const tfjs = tf.getGradient("Relu");
    assert.notEqual(tfjs, kit);
    const calls = dnnlCalls();
    const got = await reluGrad(new Float32Array([-1, 0, 2]), new Float32Array([3, 4, 5]));
    assert.deepEqual([...got], [0, 0, 5]);
    assert.equal(dnnlCalls(), calls);
  } finally {
    registerNativeKernels();
  }
  assert.equal(tf.getGradient("Relu"), kit);
});
