import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { getBackbone } from "../../../lib/backbones/registry.ts";
import {
  nativeKernelsActive,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../../../lib/kernels/native/register.ts";
import { sgemmCalls } from "../../../lib/kernels/native/openblas.ts";
import { setNativeMinDim } from "../../../lib/kernels/native/kernels.ts";
import { Sgd } from "../../../lib/optim.ts";
import { Rng } from "../../../lib/rng.ts";
import { exportStateDict } from "../../../lib/state_dict.ts";
import { StepAccumulators, trainStep } from "../../../lib/train_step.ts";

// Two CYBORG training steps with the native OpenBLAS kernels must land on the same weights as the
// wasm kernels and tfjs's cpu backend. Float32 sums in another order can flip a ReLU gate, so the
// tolerance is a noise floor measured in the test: the same steps with the input moved by 1e-6.
const B = 4;
// Every convolution natively, however narrow (by default narrow ones stay on the wasm kernels).
setNativeMinDim(1);

async function stepTwice(
  net: string,
  size: number,
  setup: () => Promise<void>,
  noise = 0,
): Promise<Map<string, Float32Array>> {
  await setup();
  const entry = getBackbone(net);
  const model = entry.build({ seed: 3, inputSize: size, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  const rng = new Rng("native-parity");
  const g = entry.spec.camGrid(size);
  const x = rng.fillNormal(new Float32Array(B * size * size * 3), 1);
  if (noise) { for (let i = 0; i < x.length; i += 7) x[i] += noise; }
  const batch = {
    x: tf.tensor4d(x, [B, size, size, 3]),
    y: tf.tensor1d([0, 1, 1, 0], "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(B * g * g), 0, 1), [B, g, g]),
    hasMap: tf.ones([B]) as tf.Tensor1D,
  };
  for (let i = 0; i < 2; i++) {
    trainStep(model, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
  }
  const state = await exportStateDict(model.store);
  const out = new Map([...state].map(([k, v]) => [k, v.data as Float32Array]));
  tf.dispose(Object.values(batch));
  acc.dispose();
  opt.dispose();
  model.store.dispose();
  return out;
}

function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    for (let i = 0; i < va.length; i++) {
      worst = Math.max(worst, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
    }
  }
  return worst;
}

const native = async () => {
  await initBackend("wasm");
  await tf.setBackend("wasm");
  assert.ok(registerNativeKernels(), "OpenBLAS not loaded: apt-get install libopenblas0-pthread");
};
const wasmOnly = async () => {
  await initBackend("wasm");
  await tf.setBackend("wasm");
  unregisterNativeKernels();
};
const cpu = async () => {
  await initBackend("wasm");
  await tf.setBackend("cpu");
};

// minicnn and smallcnn (3×3 convs, batch norm, pooling; the kernel tests cover the other shapes).
// resnet18 at 32 px takes minutes on the cpu backend and its 1×1 feature map makes the floor ~4e-3.
for (const [net, size] of [["minicnn", 32], ["smallcnn", 32]] as const) {
  Deno.test(`native kernels: ${net} training steps match wasm and cpu within the noise floor`, async () => {
    try {
      const calls = sgemmCalls();
      const ref = await stepTwice(net, size, native);
      assert.ok(nativeKernelsActive() && sgemmCalls() > calls, "the steps did not use sgemm");
      const floor = maxRelDiff(ref, await stepTwice(net, size, native, 1e-6));
      // At least 10 float32 ulps of 1 (the floor can be 0 or one ulp).
      const tol = 10 * Math.max(floor, 2 ** -23);
      for (const [name, setup] of [["wasm kernels", wasmOnly], ["cpu backend", cpu]] as const) {
        const d = maxRelDiff(ref, await stepTwice(net, size, setup));
        console.log(
          `${net} ${name}: max rel diff ${d.toExponential(2)} (noise floor ${
            floor.toExponential(2)
          })`,
        );
        assert.ok(d <= tol, `${net} ${name}: weights differ by ${d} > ${tol}`);
      }
    } finally {
      await native();
    }
  });
}
