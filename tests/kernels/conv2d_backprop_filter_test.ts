import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { registerKitKernels, unregisterKitKernels } from "../../lib/kernels/register.ts";
import { CPU_TUNING, GPU_TUNING, kitTuning, setKitTuning } from "../../lib/kernels/tuning.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, type ConvCase, describeCase, randomArray } from "./helpers.ts";

const CASES: ConvCase[] = [
  { batch: 2, size: [9, 7], inC: 3, outC: 5, kernel: [3, 3], stride: 1, pad: 1 },
  { batch: 1, size: [11, 11], inC: 5, outC: 7, kernel: [3, 3], stride: 2, pad: 1 },
  { batch: 3, size: [8, 8], inC: 16, outC: 33, kernel: [1, 1], stride: 1, pad: 0 },
  { batch: 2, size: [9, 9], inC: 17, outC: 8, kernel: [1, 1], stride: 2, pad: 0 },
  { batch: 2, size: [13, 15], inC: 3, outC: 64, kernel: [7, 7], stride: 2, pad: 3 },
  { batch: 1, size: [6, 5], inC: 70, outC: 66, kernel: [3, 3], stride: 1, pad: "same" },
  { batch: 2, size: [7, 7], inC: 4, outC: 3, kernel: [2, 3], stride: 2, pad: "valid" },
];

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
      for (const c of CASES) {
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
