import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { gpuCounts } from "../../lib/kernels/gpu_counters.ts";
import { precompileWebGpu } from "../../lib/kernels/precompile.ts";

Deno.test("precompileWebGpu compiles a function's pipelines without running it; the real run compiles none", async () => {
  await initBackend("webgpu");
  const xs: [number, number, number, number] = [1, 11, 13, 5];
  const ws: [number, number, number, number] = [3, 3, 5, 7];
  const x = tf.randomNormal(xs, 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal(ws, 0, 1, "float32", 2) as tf.Tensor4D;
  const f = () => tf.relu(tf.conv2d(x, w, 2, "same"));
  // A throwaway input of the same shape: compile-only mode leaves outputs uninitialised.
  const scratch = tf.zeros(xs) as tf.Tensor4D;
  const pre = await precompileWebGpu(() => {
    tf.relu(tf.conv2d(scratch, w, 2, "same"));
  });
  assert.ok(pre.pipelines >= 1, `compiled ${pre.pipelines}`);
  const before = gpuCounts();
  const y = f();
  const got = await y.data();
  assert.equal(gpuCounts().pipelines - before.pipelines, 0, "nothing left to compile");
  assert.ok(gpuCounts().dispatches - before.dispatches >= 2, "the real run dispatches");
  await tf.setBackend("cpu");
  const want = await tf.relu(
    tf.conv2d(tf.tensor4d(await x.data(), xs), tf.tensor4d(await w.data(), ws), 2, "same"),
  ).data();
  await tf.setBackend("webgpu");
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst < 1e-4, `max |Δ| ${worst}`);
  assert.equal(tf.env().getBool("WEBGPU_ENGINE_COMPILE_ONLY"), false, "mode restored");
  tf.dispose([x, w, y, scratch]);
});

Deno.test("precompileWebGpu is a no-op on other backends", async () => {
  await initBackend("cpu");
  let ran = false;
  const r = await precompileWebGpu(() => {
    ran = true;
  });
  assert.deepEqual(r, { pipelines: 0, ms: 0 });
  assert.equal(ran, false);
  await initBackend("webgpu");
});
