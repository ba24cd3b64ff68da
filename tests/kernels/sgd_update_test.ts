import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { sgdUpdate } from "../../lib/kernels/sgd_update.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, randomArray } from "./helpers.ts";

/** The six-op reference: buf' = m·buf + (g + wd·p); p' = p − lr·buf'. */
function reference(p: tf.Tensor, g: tf.Tensor, buf: tf.Tensor, lr: number, m: number, wd: number) {
  const gw = tf.add(g, tf.mul(p, wd));
  const update = m !== 0 ? tf.add(tf.mul(buf, m), gw) : gw;
  return [tf.sub(p, tf.mul(update, lr)), update];
}

Deno.test("fused SGD update matches the op-by-op update on cpu and webgpu", async () => {
  await initBackend("webgpu");
  const rng = new Rng(5);
  const shape = [3, 3, 5, 7];
  const n = 3 * 3 * 5 * 7;
  const [pv, gv, bv] = [0, 1, 2].map(() => randomArray(rng, n));
  for (const backend of ["cpu", "webgpu"]) {
    await tf.setBackend(backend);
    for (const [m, wd] of [[0.9, 1e-4], [0, 0], [0.5, 0.01]]) {
      const p = tf.tensor(pv, shape);
      const g = tf.tensor(gv, shape);
      const buf = tf.tensor(bv, shape);
      const lr = tf.scalar(0.05);
      const got = sgdUpdate(p, g, buf, lr, m, wd);
      const want = reference(p, g, buf, 0.05, m, wd);
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(got[i].shape, shape);
        assertClose(
          (await got[i].data()) as Float32Array,
          (await want[i].data()) as Float32Array,
          1e-6,
          `${backend} m=${m} wd=${wd} output ${i}`,
        );
      }
      // The parameter really moved.
      assert.ok(Math.abs((await got[0].data())[0] - pv[0]) > 1e-4);
      tf.dispose([p, g, buf, lr, ...got, ...want]);
    }
  }
  await tf.setBackend("webgpu");
});
