import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { gpuCounts, installGpuCounters } from "../../lib/kernels/gpu_counters.ts";
import {
  patchUploads,
  unpatchUploads,
  type UploadPatchTarget,
  uploadsPatched,
} from "../../lib/kernels/upload.ts";

async function roundTrip(): Promise<void> {
  // Each value is uploaded when the op runs; adding zero on the GPU forces the upload.
  const cases: Array<[tf.Tensor, number[]]> = [
    [tf.scalar(3.25), [3.25]],
    [tf.tensor1d([1, -2, 3.5], "float32"), [1, -2, 3.5]],
    [tf.tensor1d([7, -8, 9, 10, 11], "int32"), [7, -8, 9, 10, 11]],
    [tf.tensor1d([true, false, true], "bool"), [1, 0, 1]],
  ];
  for (const [t, want] of cases) {
    const y = t.dtype === "bool"
      ? tf.cast(tf.logicalAnd(t, t), "int32")
      : tf.add(t, tf.zerosLike(t));
    assert.deepEqual(Array.from(await y.data()), want, `${t.dtype} ${t.shape}`);
    tf.dispose([t, y]);
  }
}

Deno.test("patched uploads are exact and create no staging buffers; stock ones do", async () => {
  installGpuCounters();
  await initBackend("webgpu");
  const backend = tf.backend() as unknown as UploadPatchTarget;
  patchUploads(backend);
  assert.ok(uploadsPatched(backend));
  await roundTrip();
  let before = gpuCounts();
  await roundTrip();
  assert.equal(gpuCounts().mappedAtCreation - before.mappedAtCreation, 0);
  assert.ok(gpuCounts().writeBuffer - before.writeBuffer >= 4);

  unpatchUploads(backend);
  assert.ok(!uploadsPatched(backend));
  before = gpuCounts();
  await roundTrip();
  const stockMapped = gpuCounts().mappedAtCreation - before.mappedAtCreation;
  assert.ok(stockMapped >= 4, `stock uploads made ${stockMapped} mapped buffers`);
  patchUploads(backend);
});
