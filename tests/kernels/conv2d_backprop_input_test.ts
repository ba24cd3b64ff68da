import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { TensorInfo } from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import {
  backpropInputInfo,
  backpropInputProgram,
} from "../../lib/kernels/conv2d_backprop_input.ts";
import { runGemm } from "../../lib/kernels/implicit_gemm.ts";
import { activeKitKernels, registerKitKernels } from "../../lib/kernels/register.ts";
import { CPU_TUNING, GPU_TUNING, kitTuning, setKitTuning } from "../../lib/kernels/tuning.ts";
import type { WebGpuBackendLike } from "../../lib/kernels/webgpu_types.ts";
import { Rng } from "../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "./helpers.ts";

// Odd sizes, 1×1 / 3×3 / 7×7 / 2×3 filters, padding modes; the stride-2 cases check the fallback.
const CASES: ConvCase[] = [
  ...CONV_CASES,
  { batch: 2, size: [13, 15], inC: 3, outC: 64, kernel: [7, 7], stride: 1, pad: 3 },
  { batch: 2, size: [7, 9], inC: 4, outC: 3, kernel: [2, 3], stride: 1, pad: "valid" },
];

function geometry(c: ConvCase) {
  const xs: [number, number, number, number] = [c.batch, c.size[0], c.size[1], c.inC];
  const ws: [number, number, number, number] = [...c.kernel, c.inC, c.outC];
  const info = tf.backend_util.computeConv2DInfo(xs, ws, c.stride, 1, c.pad);
  return { xs, ws, ys: info.outShape as [number, number, number, number] };
}

function attrs(c: ConvCase) {
  return { strides: c.stride, pad: c.pad, dataFormat: "NHWC", inputShape: geometry(c).xs };
}

async function dxThroughKernel(c: ConvCase, dyv: Float32Array, wv: Float32Array) {
  const { ws, ys } = geometry(c);
  const dy = tf.tensor4d(dyv, ys);
  const w = tf.tensor4d(wv, ws);
  const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, attrs(c)) as tf.Tensor;
  const out = (await dx.data()) as Float32Array;
  tf.dispose([dy, w, dx]);
  return out;
}

/** Random dy and w for a case, and dx from the cpu backend (left active: switch back after). */
async function cpuReference(c: ConvCase, rng: Rng) {
  const { ws, ys } = geometry(c);
  const dyv = randomArray(rng, ys.reduce((a, b) => a * b, 1));
  const wv = randomArray(rng, ws.reduce((a, b) => a * b, 1));
  await tf.setBackend("cpu");
  return { dyv, wv, want: await dxThroughKernel(c, dyv, wv) };
}

Deno.test("kit Conv2DBackpropInput GEMM program matches the cpu backend (cpu and gpu tiles)", async () => {
  await initBackend("webgpu");
  const saved = { ...kitTuning() };
  const rng = new Rng(5);
  try {
    const splitK = { ...GPU_TUNING, name: "splitK", splitKWorkgroups: 1000, splitKMinChunk: 8 };
    let splitRuns = 0;
    const indexMajor = { ...CPU_TUNING, name: "coalesce off", coalesce: false };
    for (const tuning of [CPU_TUNING, GPU_TUNING, splitK, indexMajor]) {
      setKitTuning({ ...tuning, dxMinM: 0 });
      for (const c of CASES.filter((c) => c.stride === 1)) {
        const { ws, ys } = geometry(c);
        const { dyv, wv, want } = await cpuReference(c, rng);
        await tf.setBackend("webgpu");
        const dy = tf.tensor4d(dyv, ys);
        const w = tf.tensor4d(wv, ws);
        const info = backpropInputInfo(dy, w, attrs(c) as tf.Conv2DBackpropInputAttrs);
        assert.equal(typeof info, "object", describeCase(c));
        const gemm = backpropInputProgram(info as tf.backend_util.Conv2DInfo);
        const backend = tf.backend() as unknown as WebGpuBackendLike;
        if (gemm.program.splitK > 1) splitRuns++;
        const out = runGemm(backend, gemm, [dy, w] as TensorInfo[]);
        const dx = tf.engine().makeTensorFromTensorInfo(out);
        assertClose(
          (await dx.data()) as Float32Array,
          want,
          1e-4,
          `${describeCase(c)} ${tuning.name}`,
        );
        tf.dispose([dy, w, dx]);
      }
    }
    assert.ok(splitRuns >= 2, `split-K ran in ${splitRuns} cases`);
  } finally {
    setKitTuning(saved);
    await tf.setBackend("webgpu");
  }
});

Deno.test("registered Conv2DBackpropInput: kit at stride 1 from dxMinM rows, stock otherwise, same values", async () => {
  await initBackend("webgpu");
  registerKitKernels();
  assert.ok(activeKitKernels().includes("Conv2DBackpropInput"));
  const saved = { ...kitTuning() };
  const rng = new Rng(9);
  try {
    setKitTuning(CPU_TUNING);
    const dy = tf.zeros([2, 8, 8, 4]);
    const w = tf.zeros([3, 3, 4, 4]);
    const a = (c: Partial<ConvCase> & { inputShape: number[] }) =>
      ({ strides: 1, pad: 1, dataFormat: "NHWC", ...c }) as unknown as tf.Conv2DBackpropInputAttrs;
    assert.equal(typeof backpropInputInfo(dy, w, a({ inputShape: [2, 8, 8, 4] })), "object");
    assert.match(
      backpropInputInfo(tf.zeros([1, 4, 4, 4]), w, a({ inputShape: [1, 4, 4, 4] })) as string,
      /few rows/,
    );
    assert.match(
      backpropInputInfo(dy, w, { ...a({ inputShape: [2, 16, 16, 4] }), strides: 2 }) as string,
      /stride/,
    );
    setKitTuning(GPU_TUNING);
    assert.match(backpropInputInfo(dy, w, a({ inputShape: [2, 8, 8, 4] })) as string, /few rows/);
    tf.dispose([dy, w]);
    // Through the registered kernel (kit path and stock fallback) the values match the cpu backend.
    setKitTuning({ ...CPU_TUNING, dxMinM: 0 });
    for (const c of CASES) {
      const { dyv, wv, want } = await cpuReference(c, rng);
      await tf.setBackend("webgpu");
      assertClose(await dxThroughKernel(c, dyv, wv), want, 1e-4, describeCase(c));
    }
  } finally {
    setKitTuning(saved);
    await tf.setBackend("webgpu");
  }
});
