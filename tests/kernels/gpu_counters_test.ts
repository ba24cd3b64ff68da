import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { countsDelta, gpuCounts, installGpuCounters } from "../../lib/kernels/gpu_counters.ts";

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
  tf.dispose([a, y]);
});

Deno.test("countsDelta divides differences", () => {
  const z = {
    dispatches: 0,
    buffersCreated: 0,
    mappedAtCreation: 0,
    buffersDestroyed: 0,
    mapAsync: 0,
    writeBuffer: 0,
    submits: 0,
  };
  const d = countsDelta(z, { ...z, dispatches: 30, mapAsync: 3 }, 3);
  assert.equal(d.dispatches, 10);
  assert.equal(d.mapAsync, 1);
  assert.equal(d.submits, 0);
});
