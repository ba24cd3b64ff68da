import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { dnnlCalls, openDnnl } from "../../../lib/kernels/native/onednn.ts";
import { nativeKernelsActive } from "../../../lib/kernels/native/register.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, randomArray } from "../helpers.ts";
import { runKernel } from "../wasm/helpers.ts";

interface PoolCase {
  shape: [number, number, number, number];
  filter: number;
  stride: number;
  pad: number | "same" | "valid";
}

const CASES: PoolCase[] = [
  { shape: [2, 8, 8, 3], filter: 2, stride: 2, pad: "valid" },
  { shape: [2, 9, 7, 5], filter: 2, stride: 2, pad: "valid" },
  { shape: [1, 11, 11, 4], filter: 3, stride: 2, pad: 1 }, // ResNet stem pool: overlapping
  { shape: [3, 7, 9, 2], filter: 3, stride: 2, pad: "same" },
  { shape: [1, 6, 6, 3], filter: 3, stride: 1, pad: "same" },
  { shape: [2, 16, 16, 64], filter: 3, stride: 2, pad: 1 },
];

Deno.test("MaxPoolGrad through oneDNN matches the cpu backend (overlapping windows, padding, ties)", async () => {
  await initBackend("wasm");
  assert.ok(nativeKernelsActive() && openDnnl(), "oneDNN not loaded: apt-get install libdnnl2");
  const rng = new Rng("native/max_pool_grad");
  for (const c of CASES) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const xv = randomArray(rng, n);
    // Ties: round half the values to a coarse grid so windows often hold equal maxima.
    for (let i = 0; i < n; i += 2) xv[i] = Math.round(xv[i] * 2) / 2;
    const dyv = randomArray(rng, n);
    const grad = async () => {
      const x = tf.tensor4d(xv, c.shape);
      const y = tf.maxPool(x, c.filter, c.stride, c.pad);
      const dy = tf.tensor4d(dyv.subarray(0, y.size), y.shape);
      return await runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
        filterSize: c.filter,
        strides: c.stride,
        pad: c.pad,
      });
    };
    await tf.setBackend("cpu");
    const want = await grad();
    await tf.setBackend("wasm");
    const calls = dnnlCalls();
    const got = await grad();
    assert.equal(dnnlCalls() - calls, 2, "forward (for the argmax) and backward in oneDNN");
    assertClose(got, want, 1e-6, `${c.shape} f${c.filter} s${c.stride} pad ${c.pad}`);
  }
});
