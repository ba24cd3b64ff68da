import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { batchNormRunningUpdate, batchNormTrain } from "../../../lib/kernels/batch_norm_train.ts";
import { BN_BACKWARD, BN_FORWARD } from "../../../lib/kernels/batch_norm_train.ts";
import { dnnlCalls, openDnnl, setDnnlMode } from "../../../lib/kernels/native/onednn.ts";
import {
  nativeKernelsActive,
  registerNativeKernels,
} from "../../../lib/kernels/native/register.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, randomArray } from "../helpers.ts";

// Odd channel counts and row counts (oneDNN vectorises over channels in blocks of 8).
const SHAPES: [number, number, number, number][] = [
  [2, 5, 7, 3],
  [3, 4, 4, 17],
  [1, 9, 3, 64],
  [4, 8, 8, 256],
];

// The fused kernels (one oneDNN pass each way), the four separate ones (without the fused), and
// the fused kernels falling back to the separate wasm ones (oneDNN declining every call).
const VARIANTS = [
  { name: "fused", fused: true, mode: "auto", calls: 3 },
  { name: "separate", fused: false, mode: "auto", calls: 6 },
  { name: "fallback", fused: true, mode: "never", calls: 0 },
] as const;

for (const v of VARIANTS) {
  Deno.test(`batch norm on wasm, ${v.name}: forward, statistics, gradients and running update match cpu`, async () => {
    await initBackend("wasm");
    assert.ok(registerNativeKernels() && nativeKernelsActive());
    assert.ok(openDnnl(), "oneDNN not loaded: apt-get install libdnnl2");
    if (!v.fused) {
      tf.unregisterKernel(BN_FORWARD, "wasm");
      tf.unregisterKernel(BN_BACKWARD, "wasm");
    }
    const prev = setDnnlMode(v.mode);
    try {
      await check(v.calls);
    } finally {
      setDnnlMode(prev);
      registerNativeKernels(); // puts the fused kernels back
    }
  });
}

async function check(expectedCalls: number) {
  const rng = new Rng("native/batch_norm");
  for (const shape of SHAPES) {
    for (const offset of [0, 40]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const c = shape[3];
      // A large common offset checks the statistics subtract the mean before squaring.
      const xv = randomArray(rng, n).map((v, i) => v * (1 + (i % c)) + offset);
      const dyv = randomArray(rng, n);
      const gv = randomArray(rng, c);
      const bv = randomArray(rng, c);
      const compute = async () => {
        const [x, dy, g, b] = [
          tf.tensor4d(xv, shape),
          tf.tensor4d(dyv, shape),
          tf.tensor1d(gv),
          tf.tensor1d(bv),
        ];
        let stats: tf.Tensor2D | undefined;
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
          const r = batchNormTrain(xi as tf.Tensor4D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5);
          if (stats) r.stats.dispose();
          else stats = r.stats; // from the forward-only call below
          return r.y;
        };
        const y = f(x, g, b);
        const grads = tf.grads((xi, gi, bi) => tf.sum(tf.mul(f(xi, gi, bi), dy)))([x, g, b]);
        const running = batchNormRunningUpdate(tf.ones([c]), stats!, 1, 0.9, 0.1);
        const out = await Promise.all(
          [y, stats!, running, ...grads].map(async (t) => await t.data() as Float32Array),
        );
        tf.dispose([x, dy, g, b, y, stats!, running, ...grads]);
        return out;
      };
      await tf.setBackend("cpu");
      const want = await compute();
      await tf.setBackend("wasm");
      const calls = dnnlCalls();
      const got = await compute();
      assert.equal(dnnlCalls() - calls, expectedCalls, "oneDNN calls");
      const names = ["y", "stats", "running", "dx", "dgamma", "dbeta"];
      names.forEach((name, i) => {
        assertClose(got[i], want[i], 1e-4, `${shape} offset ${offset}: ${name}`);
      });
    }
  }
}
