import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { maxRelDiff, twoCyborgSteps } from "../helpers.ts";
import {
  nativeKernelsActive,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../../../lib/kernels/native/register.ts";
import { sgemmCalls } from "../../../lib/kernels/native/openblas.ts";
import { setNativeMinDim } from "../../../lib/kernels/native/kernels.ts";
import { dnnlCalls, type DnnlMode, setDnnlMode } from "../../../lib/kernels/native/onednn.ts";

// Two CYBORG training steps with the native OpenBLAS kernels must land on the same weights as the
// wasm kernels and tfjs's cpu backend. Float32 sums in another order can flip a ReLU gate, so the
// tolerance is a noise floor measured in the test: the same steps with the input moved by 1e-6.
// Every convolution natively, however narrow (by default narrow ones stay on the wasm kernels).
setNativeMinDim(1);

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
// Modes: each convolution to the library measured faster for it (auto), and all to oneDNN.
for (const mode of ["auto", "always"] as DnnlMode[]) {
  for (const [net, size] of [["minicnn", 32], ["smallcnn", 32]] as const) {
    Deno.test(`native kernels (oneDNN ${mode}): ${net} training steps match wasm and cpu within the noise floor`, async () => {
      const prev = setDnnlMode(mode);
      try {
        const calls = sgemmCalls();
        const dnnl = dnnlCalls();
        const ref = await twoCyborgSteps(net, size, "native-parity", native);
        assert.ok(nativeKernelsActive() && sgemmCalls() > calls, "the steps did not use sgemm");
        assert.ok(dnnlCalls() > dnnl, "the steps did not use oneDNN");
        const floor = maxRelDiff(
          ref,
          await twoCyborgSteps(net, size, "native-parity", native, 1e-6),
        );
        // At least 10 float32 ulps of 1 (the floor can be 0 or one ulp).
        const tol = 10 * Math.max(floor, 2 ** -23);
        for (const [name, setup] of [["wasm kernels", wasmOnly], ["cpu backend", cpu]] as const) {
          const d = maxRelDiff(ref, await twoCyborgSteps(net, size, "native-parity", setup));
          console.log(
            `${net} ${name}: max rel diff ${d.toExponential(2)} (noise floor ${
              floor.toExponential(2)
            })`,
          );
          assert.ok(d <= tol, `${net} ${name}: weights differ by ${d} > ${tol}`);
        }
      } finally {
        setDnnlMode(prev);
        await native();
      }
    });
  }
}
