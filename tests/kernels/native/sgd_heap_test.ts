import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { nativeKernelsActive } from "../../../lib/kernels/native/register.ts";
import { sgdUpdate } from "../../../lib/kernels/sgd_update.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, randomArray } from "../helpers.ts";

// Large enough for the OpenBLAS path (64 Ki floats and more), odd.
const N = (1 << 16) + 7;

/** The update on the cpu backend: [p', buf']. */
async function onCpu(pv: Float32Array, gv: Float32Array, bv: Float32Array, m: number, wd: number) {
  await tf.setBackend("cpu");
  const [p, g, b, lr] = [tf.tensor(pv), tf.tensor(gv), tf.tensor(bv), tf.scalar(0.05)];
  const out = sgdUpdate(p, g, b, lr as tf.Scalar, m, wd);
  const r = await Promise.all(out.map(async (t) => await t.data() as Float32Array));
  tf.dispose([p, g, b, lr, ...out]);
  await tf.setBackend("wasm");
  return r;
}

Deno.test("native SGD on the wasm heap (copying and in place) matches the cpu backend", async () => {
  await initBackend("wasm");
  assert.ok(nativeKernelsActive());
  const rng = new Rng("native/sgd");
  const [pv, gv, bv] = [0, 1, 2].map(() => randomArray(rng, N));
  const [wantP, wantB] = await onCpu(pv, gv, bv, 0.9, 1e-4);
  for (const inPlace of [false, true]) {
    const [p, g, b, lr] = [tf.tensor(pv), tf.tensor(gv), tf.tensor(bv), tf.scalar(0.05)];
    const [next, update] = sgdUpdate(p, g, b, lr as tf.Scalar, 0.9, 1e-4, inPlace);
    assertClose(await next.data() as Float32Array, wantP, 1e-6, `p' inPlace=${inPlace}`);
    assertClose(await update.data() as Float32Array, wantB, 1e-6, `buf' inPlace=${inPlace}`);
    // In place, the inputs' storage holds the results; copying, the inputs are unchanged.
    const pAfter = await p.data() as Float32Array;
    const bAfter = await b.data() as Float32Array;
    if (inPlace) {
      assert.deepEqual(pAfter, await next.data());
      assert.deepEqual(bAfter, await update.data());
    } else {
      assert.deepEqual(pAfter, pv);
      assert.deepEqual(bAfter, bv);
    }
    tf.dispose([p, g, b, lr, next, update]);
  }
});

Deno.test("native SGD in place leaves a tensor that shares its storage alone", async () => {
  await initBackend("wasm");
  const rng = new Rng("native/sgd/shared");
  const [pv, gv, bv] = [0, 1, 2].map(() => randomArray(rng, N));
  const [p, g, b, lr] = [tf.tensor(pv), tf.tensor(gv), tf.tensor(bv), tf.scalar(0.05)];
  const pCopy = tf.clone(p); // on wasm a clone shares the storage
  const bCopy = tf.clone(b);
  const [next, update] = sgdUpdate(p, g, b, lr as tf.Scalar, 0.9, 1e-4, true);
  assert.deepEqual(await pCopy.data(), pv);
  assert.deepEqual(await bCopy.data(), bv);
  assert.notDeepEqual(await next.data(), pv);
  tf.dispose([p, g, b, lr, pCopy, bCopy, next, update]);
  assert.equal(tf.memory().numTensors, 0);
});
