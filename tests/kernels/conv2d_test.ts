import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { TensorInfo } from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { conv2dInfo, conv2dProgram } from "../../lib/kernels/conv2d.ts";
import { runGemm } from "../../lib/kernels/implicit_gemm.ts";
import { registerKitKernels } from "../../lib/kernels/register.ts";
import type { WebGpuBackendLike } from "../../lib/kernels/webgpu_types.ts";
import { CPU_TUNING, GPU_TUNING, kitTuning, setKitTuning } from "../../lib/kernels/tuning.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "./helpers.ts";

// Strides 1 and 2, padding, 1×1 / 3×3 / 7×7, odd sizes. The GEMM program is run directly (the
// registered kernel serves outputs up to kitTuning().conv2dMaxM rows, see tuning.ts).
const CASES: ConvCase[] = [
  ...CONV_CASES,
  { batch: 3, size: [5, 5], inC: 16, outC: 33, kernel: [1, 1], stride: 1, pad: 0 },
  { batch: 1, size: [3, 2], inC: 70, outC: 66, kernel: [3, 3], stride: 1, pad: "same" },
];

function inputs(c: ConvCase, rng: Rng) {
  const xv = randomArray(rng, c.batch * c.size[0] * c.size[1] * c.inC);
  const wv = randomArray(rng, c.kernel[0] * c.kernel[1] * c.inC * c.outC);
  return { xv, wv };
}

Deno.test("kit implicit-GEMM Conv2D program on webgpu matches the cpu backend", async () => {
  await initBackend("webgpu");
  const rng = new Rng(11);
  const saved = { ...kitTuning() };
  try {
    const splitK = { ...GPU_TUNING, name: "splitK", splitKWorkgroups: 1000, splitKMinChunk: 8 };
    let splitRuns = 0;
    const indexMajor = { ...CPU_TUNING, name: "coalesce off", coalesce: false };
    for (const tuning of [CPU_TUNING, GPU_TUNING, splitK, indexMajor]) {
      for (const c of CASES) {
        setKitTuning(tuning);
        const { xv, wv } = inputs(c, rng);
        const xs: [number, number, number, number] = [c.batch, c.size[0], c.size[1], c.inC];
        const ws: [number, number, number, number] = [...c.kernel, c.inC, c.outC];
        await tf.setBackend("cpu");
        const yc = tf.conv2d(tf.tensor4d(xv, xs), tf.tensor4d(wv, ws), c.stride, c.pad);
        const want = (await yc.data()) as Float32Array;
        await tf.setBackend("webgpu");
        const x = tf.tensor4d(xv, xs);
        const w = tf.tensor4d(wv, ws);
        const info = tf.backend_util.computeConv2DInfo(xs, ws, c.stride, 1, c.pad);
        const backend = tf.backend() as unknown as WebGpuBackendLike;
        const gemm = conv2dProgram(info);
        if (gemm.program.splitK > 1) splitRuns++;
        const out = runGemm(backend, gemm, [x, w] as TensorInfo[]);
        const y = tf.engine().makeTensorFromTensorInfo(out);
        assert.deepEqual(y.shape, yc.shape);
        assertClose(
          (await y.data()) as Float32Array,
          want,
          1e-4,
          `${describeCase(c)} ${tuning.name}`,
        );
        tf.dispose([x, w, y, yc]);
      }
    }
    assert.ok(splitRuns >= 3, `split-K ran in ${splitRuns} cases`);
  } finally {
    setKitTuning(saved);
    await tf.setBackend("webgpu");
  }
});

Deno.test("registered Conv2D serves outputs up to the tuning's size at any stride, else stock", async () => {
  await initBackend("webgpu");
  registerKitKernels();
  const saved = { ...kitTuning() };
  setKitTuning(GPU_TUNING);
  const x = tf.zeros([2, 4, 4, 8]);
  const w = tf.zeros([3, 3, 8, 16]);
  const attrs = (stride: number) => ({
    strides: stride,
    pad: 1 as const,
    dataFormat: "NHWC" as const,
  });
  assert.equal(typeof conv2dInfo(x, w, attrs(1) as tf.Conv2DAttrs), "object");
  assert.equal(typeof conv2dInfo(x, w, attrs(2) as tf.Conv2DAttrs), "object");
  const big = tf.zeros([4, 32, 32, 8]);
  assert.match(conv2dInfo(big, w, attrs(1) as tf.Conv2DAttrs) as string, /large/);
  assert.match(conv2dInfo(big, w, attrs(2) as tf.Conv2DAttrs) as string, /large/);
  const dilated = { ...attrs(1), dilations: 2 } as tf.Conv2DAttrs;
  assert.match(conv2dInfo(x, w, dilated) as string, /dilations/);
  setKitTuning(CPU_TUNING); // llvmpipe: the kit serves every size
  assert.equal(typeof conv2dInfo(big, w, attrs(1) as tf.Conv2DAttrs), "object");
  setKitTuning(saved);
  // Through tf.conv2d (kit path) the values match the cpu backend.
  const rng = new Rng(3);
  const xv = randomArray(rng, 2 * 4 * 4 * 8);
  const wv = randomArray(rng, 3 * 3 * 8 * 16);
  for (const stride of [1, 2] as const) {
    const conv = () =>
      tf.conv2d(tf.tensor4d(xv, [2, 4, 4, 8]), tf.tensor4d(wv, [3, 3, 8, 16]), stride, 1);
    const gpu = await conv().data();
    await tf.setBackend("cpu");
    const cpu = await conv().data();
    await tf.setBackend("webgpu");
    assertClose(
      gpu as Float32Array,
      cpu as Float32Array,
      1e-4,
      `tf.conv2d kit path, stride ${stride}`,
    );
  }
  tf.dispose([x, w, big]);
});
