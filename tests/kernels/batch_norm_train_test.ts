import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { batchNormRunningUpdate, batchNormTrain } from "../../lib/kernels/batch_norm_train.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, randomArray } from "./helpers.ts";

const EPS = 1e-5;
const SHAPES: [number, number, number, number][] = [[2, 5, 3, 7], [3, 4, 4, 20], [1, 1, 2, 33]];

type Fn = (x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => {
  y: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
};

const reference: Fn = (x, g, b) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return {
    y: tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, b, g, EPS),
    mean: mean as tf.Tensor1D,
    variance: variance as tf.Tensor1D,
  };
};
const kit: Fn = (x, g, b) => {
  const { y, stats } = batchNormTrain(x, g, b, EPS);
  const c = x.shape[3];
  return {
    y,
    mean: tf.reshape(tf.slice(stats, [0, 0], [1, c]), [c]) as tf.Tensor1D,
    variance: tf.reshape(tf.slice(stats, [1, 0], [1, c]), [c]) as tf.Tensor1D,
  };
};

/** y, mean, variance and d(Σ y·r)/d(x, γ, β), as arrays. */
async function run(fn: Fn, shape: number[], seed: number): Promise<Float32Array[]> {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const c = shape[3];
  // A large offset and scale make the variance's cancellation visible.
  const xv = randomArray(rng, n).map((v) => 3 + 2 * v);
  const x = tf.tensor4d(xv, shape as [number, number, number, number]);
  const g = tf.tensor1d(randomArray(rng, c));
  const b = tf.tensor1d(randomArray(rng, c));
  const r = tf.tensor4d(randomArray(rng, n), shape as [number, number, number, number]);
  let kept: tf.Tensor[] = [];
  const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
    const o = fn(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D);
    kept = [tf.keep(o.y), tf.keep(o.mean), tf.keep(o.variance)];
    return tf.sum(tf.mul(o.y, r));
  })([x, g, b]);
  const out: Float32Array[] = [];
  for (const t of [...kept, ...grads]) out.push((await t.data()) as Float32Array);
  tf.dispose([x, g, b, r, ...grads, ...kept]);
  return out;
}

const NAMES = ["y", "mean", "variance", "dx", "dgamma", "dbeta"];

Deno.test("batchNormTrain matches moments + batchNorm4d (values and gradients) on cpu and webgpu", async () => {
  await initBackend("webgpu");
  try {
    for (const [i, shape] of SHAPES.entries()) {
      await tf.setBackend("cpu");
      const want = await run(reference, shape, i);
      const cpuKit = await run(kit, shape, i);
      await tf.setBackend("webgpu");
      const gpuKit = await run(kit, shape, i);
      const gpuRef = await run(reference, shape, i);
      for (const [j, name] of NAMES.entries()) {
        assertClose(cpuKit[j], want[j], 1e-4, `cpu ${shape} ${name}`);
        assertClose(gpuKit[j], want[j], 1e-4, `webgpu ${shape} ${name}`);
        assertClose(gpuRef[j], want[j], 1e-4, `webgpu stock ${shape} ${name}`);
      }
      // The gradient is not trivially zero (Σ y·r with random r).
      assert.ok(want[3].some((v) => Math.abs(v) > 1e-3), "dx is non-trivial");
    }
  } finally {
    await tf.setBackend("webgpu");
  }
});

Deno.test("batchNormTrain leaks no tensors", async () => {
  await initBackend("webgpu");
  const x = tf.randomNormal([2, 3, 3, 4]) as tf.Tensor4D;
  const g = tf.variable(tf.ones([4])) as tf.Variable<tf.Rank.R1>;
  const b = tf.zeros([4]) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const { value, grads } = tf.variableGrads(() => {
      const o = batchNormTrain(x, g, b, EPS);
      o.stats.dispose();
      return tf.sum(tf.square(o.y)) as tf.Scalar;
    }, [g]);
    tf.dispose([value, ...Object.values(grads)]);
  }
  assert.equal(tf.memory().numTensors - before, 0);
  // As nn.batchNorm2d uses it: stats not disposed by hand, inside a tidy.
  tf.tidy(() => {
    batchNormTrain(x, g, b, EPS);
  });
  assert.equal(tf.memory().numTensors - before, 0, "stats belongs to the caller's scope");
  tf.dispose([x, g, b]);
});

Deno.test("batchNormRunningUpdate is PyTorch's running-statistics update", async () => {
  await initBackend("webgpu");
  for (const backend of ["cpu", "webgpu"]) {
    await tf.setBackend(backend);
    const running = tf.tensor1d([1, 2, 3]);
    const stats = tf.tensor2d([[10, 20, 30], [4, 5, 6]]);
    const m = batchNormRunningUpdate(running, stats, 0, 0.9, 0.1);
    const v = batchNormRunningUpdate(running, stats, 1, 0.9, 0.1 * 8 / 7);
    assertClose((await m.data()) as Float32Array, new Float32Array([1.9, 3.8, 5.7]), 1e-6, "mean");
    const want = [1, 2, 3].map((r, i) => 0.9 * r + (0.1 * 8 / 7) * [4, 5, 6][i]);
    assertClose((await v.data()) as Float32Array, new Float32Array(want), 1e-6, "var");
    tf.dispose([running, stats, m, v]);
  }
  await tf.setBackend("webgpu");
});
