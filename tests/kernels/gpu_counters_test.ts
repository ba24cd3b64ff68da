import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import {
  countsDelta,
  gpuCounts,
  installGpuCounters,
  totalHostMs,
  zeroCounts,
} from "../../lib/kernels/gpu_counters.ts";

Deno.test("GPU counters count dispatches and readbacks of tfjs ops", async () => {
  assert.ok(installGpuCounters());
  assert.ok(installGpuCounters(), "idempotent");
  await initBackend("webgpu");
  const a = tf.tensor1d([1, 2, 3]);
  await tf.add(a, a).data(); // warm up (pipeline compiled, buffers pooled)
  const before = gpuCounts();
  const y = tf.mul(tf.add(a, a), a);
  const mid = gpuCounts();
  assert.equal(mid.dispatches - before.dispatches, 2, "one dispatch per kernel");
  assert.equal(mid.mapAsync - before.mapAsync, 0, "no readback before data()");
  assert.deepEqual(Array.from(await y.data()), [2, 8, 18]);
  assert.ok(gpuCounts().mapAsync - mid.mapAsync >= 1, "data() maps a buffer");
  assert.ok(mid.hostMs.dispatch >= before.hostMs.dispatch, "host time only grows");
  assert.ok(totalHostMs(mid.hostMs) > totalHostMs(before.hostMs), "the dispatches took host time");
  // A new shader (never compiled in this process) counts one pipeline and its compile time.
  const p0 = gpuCounts();
  const z = tf.atan2(a, tf.add(a, a));
  assert.equal(gpuCounts().pipelines - p0.pipelines, 1, "one new pipeline");
  assert.ok(gpuCounts().hostMs.pipeline > p0.hostMs.pipeline);
  const p1 = gpuCounts();
  assert.equal(p1.dispatches - p0.dispatches, 2, "add, then atan2");
  assert.equal(p1.bindGroups - p0.bindGroups, 2, "one bind group per dispatch");
  tf.dispose([a, y, z]);
});

Deno.test("countsDelta divides differences", () => {
  const z = zeroCounts();
  const d = countsDelta(z, {
    ...z,
    dispatches: 30,
    mapAsync: 3,
    hostMs: { ...z.hostMs, submit: 6 },
  }, 3);
  assert.equal(d.dispatches, 10);
  assert.equal(d.mapAsync, 1);
  assert.equal(d.submits, 0);
  assert.equal(d.hostMs.submit, 2);
  assert.equal(totalHostMs(d.hostMs), 2);
});
