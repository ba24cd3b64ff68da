import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { registerKitKernels, unregisterKitKernels } from "../../lib/kernels/register.ts";
import { CPU_TUNING, GPU_TUNING, kitTuning, setKitTuning } from "../../lib/kernels/tuning.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "./helpers.ts";

async function backpropFilter(c: ConvCase, xv: Float32Array, dyv: Float32Array) {
  const x = tf.tensor4d(xv, [c.batch, c.size[0], c.size[1], c.inC]);
  const outShape = tf.conv2d(
    tf.zeros([c.batch, c.size[0], c.size[1], c.inC]) as tf.Tensor4D,
    tf.zeros([...c.kernel, c.inC, c.outC]) as tf.Tensor4D,
    c.stride,
    c.pad,
  ).shape;
  const dy = tf.tensor4d(dyv.subarray(0, outShape.reduce((a, b) => a * b, 1)), outShape);
  const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    strides: [c.stride, c.stride],
    pad: c.pad,
    dataFormat: "NHWC",
    filterShape: [...c.kernel, c.inC, c.outC],
  }) as tf.Tensor;
  const out = await dw.data() as Float32Array;
  tf.dispose([x, dy, dw]);
  return out;
}

Deno.test("kit Conv2DBackpropFilter on webgpu matches the cpu backend (cpu and gpu tunings)", async () => {
  const info = await initBackend("webgpu");
  assert.equal(info.name, "webgpu");
  registerKitKernels();
  const saved = { ...kitTuning() };
  const rng = new Rng(7);
  try {
    const splitK = { ...GPU_TUNING, name: "splitK", splitKWorkgroups: 1000, splitKMinChunk: 8 };
    for (const tuning of [CPU_TUNING, GPU_TUNING, { ...GPU_TUNING, name: "tk8", tk: 8 }, splitK]) {
      setKitTuning(tuning);
      for (const c of CONV_CASES) {
        const xv = randomArray(rng, c.batch * c.size[0] * c.size[1] * c.inC);
        const dyv = randomArray(rng, c.batch * c.size[0] * c.size[1] * c.outC);
        await tf.setBackend("cpu");
        const want = await backpropFilter(c, xv, dyv);
        await tf.setBackend("webgpu");
        const got = await backpropFilter(c, xv, dyv);
        assertClose(got, want, 1e-4, `${describeCase(c)}, tuning ${tuning.name}`);
      }
    }
  } finally {
    setKitTuning(saved);
    await tf.setBackend("webgpu");
  }
});

Deno.test("kit Conv2DBackpropFilter is registered and unregistered cleanly", async () => {
  await initBackend("webgpu");
  const names = registerKitKernels();
  assert.ok(names.includes("Conv2DBackpropFilter"));
  const kit = tf.getKernel("Conv2DBackpropFilter", "webgpu")!.kernelFunc;
  unregisterKitKernels();
  const stock = tf.getKernel("Conv2DBackpropFilter", "webgpu")!.kernelFunc;
  assert.notEqual(kit, stock);
  registerKitKernels();
  assert.notEqual(tf.getKernel("Conv2DBackpropFilter", "webgpu")!.kernelFunc, stock);
});
