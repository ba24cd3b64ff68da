import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { setColumnBudget } from "../../../lib/kernels/wasm/conv2d_backprop_filter.ts";
import { nativeKernelsActive } from "../../../lib/kernels/native/register.ts";
import { setNativeMinDim } from "../../../lib/kernels/native/kernels.ts";
import { coreTypeFromCpuinfo, sgemmCalls } from "../../../lib/kernels/native/openblas.ts";
import { dnnlCalls, openDnnl, setDnnlMode } from "../../../lib/kernels/native/onednn.ts";
import { nativeThreads, setNativeThreads } from "../../../lib/kernels/native/threads.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "../helpers.ts";
import { runKernel } from "../wasm/helpers.ts";

// Padding at least the filter size: windows entirely in the padding.
const EXTRA: ConvCase[] = [
  { batch: 2, size: [4, 5], inC: 3, outC: 2, kernel: [1, 1], stride: 1, pad: 1 },
  { batch: 1, size: [6, 6], inC: 4, outC: 5, kernel: [2, 2], stride: 1, pad: 2 },
];
const CASES = [...CONV_CASES, ...EXTRA];
// Every case natively, however narrow (the default sends narrow GEMMs to the wasm kernels).
setNativeMinDim(1);

/** The native libraries the convolutions can run in, each with its call counter. */
const PATHS = [
  { name: "oneDNN", dnnl: true, mode: "always", calls: dnnlCalls },
  { name: "OpenBLAS", dnnl: false, mode: "never", calls: sgemmCalls },
] as const;
type NativePath = typeof PATHS[number];

/**
 * Runs `fn` on cpu, then on wasm with the native kernels through `path` (which must run: its
 * library's calls are counted).
 */
async function cpuThenNative(
  fn: () => Promise<Float32Array>,
  path: NativePath = PATHS[1],
): Promise<[Float32Array, Float32Array]> {
  await initBackend("wasm");
  assert.ok(nativeKernelsActive(), "OpenBLAS not loaded: apt-get install libopenblas0-pthread");
  assert.ok(!path.dnnl || openDnnl(), "oneDNN not loaded: apt-get install libdnnl2");
  await tf.setBackend("cpu");
  const want = await fn();
  await tf.setBackend("wasm");
  const prev = setDnnlMode(path.mode);
  try {
    const before = path.calls();
    const got = await fn();
    assert.ok(path.calls() > before, `the native kernel did not call ${path.name}`);
    return [want, got];
  } finally {
    setDnnlMode(prev);
  }
}

function shapes(c: ConvCase) {
  const x: [number, number, number, number] = [c.batch, c.size[0], c.size[1], c.inC];
  const w: [number, number, number, number] = [c.kernel[0], c.kernel[1], c.inC, c.outC];
  const info = tf.backend_util.computeConv2DInfo(x, w, c.stride, 1, c.pad);
  const y = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  return { x, w, y };
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const convAttrs = (c: ConvCase) => ({
  strides: [c.stride, c.stride],
  pad: c.pad,
  dataFormat: "NHWC",
});

function forward(c: ConvCase, xv: Float32Array, wv: Float32Array) {
  const s = shapes(c);
  return () =>
    runKernel("Conv2D", {
      x: tf.tensor4d(xv.subarray(0, size(s.x)), s.x),
      filter: tf.tensor4d(wv.subarray(0, size(s.w)), s.w),
    }, { ...convAttrs(c), dilations: [1, 1] });
}

function inputGrad(c: ConvCase, dyv: Float32Array, wv: Float32Array) {
  const s = shapes(c);
  return () =>
    runKernel("Conv2DBackpropInput", {
      dy: tf.tensor4d(dyv.subarray(0, size(s.y)), s.y as [number, number, number, number]),
      filter: tf.tensor4d(wv.subarray(0, size(s.w)), s.w),
    }, { ...convAttrs(c), inputShape: s.x });
}

function filterGrad(c: ConvCase, xv: Float32Array, dyv: Float32Array) {
  const s = shapes(c);
  return () =>
    runKernel("Conv2DBackpropFilter", {
      x: tf.tensor4d(xv.subarray(0, size(s.x)), s.x),
      dy: tf.tensor4d(dyv.subarray(0, size(s.y)), s.y as [number, number, number, number]),
    }, { ...convAttrs(c), filterShape: s.w });
}

const BIG = 6 * 20 * 20 * 80;

for (const path of PATHS) {
  Deno.test(`native Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter (${path.name}) match the cpu backend`, async () => {
    const rng = new Rng("native/conv");
    for (const c of CASES) {
      const a = randomArray(rng, BIG);
      const b = randomArray(rng, BIG);
      const label = `${describeCase(c)} ${path.name}`;
      const [fw, fg] = await cpuThenNative(forward(c, a, b), path);
      assertClose(fg, fw, 1e-4, `Conv2D ${label}`);
      const [iw, ig] = await cpuThenNative(inputGrad(c, a, b), path);
      assertClose(ig, iw, 1e-4, `Conv2DBackpropInput ${label}`);
      const [ww, wg] = await cpuThenNative(filterGrad(c, a, b), path);
      assertClose(wg, ww, 1e-4, `Conv2DBackpropFilter ${label}`);
    }
  });
}

Deno.test("native conv kernels: chunks of images give the same result", async () => {
  const rng = new Rng("native/conv/chunks");
  const c: ConvCase = {
    batch: 5,
    size: [9, 9],
    inC: 3,
    outC: 4,
    kernel: [3, 3],
    stride: 2,
    pad: 1,
  };
  const a = randomArray(rng, BIG);
  const b = randomArray(rng, BIG);
  const prev = setColumnBudget(1500); // 5·5·27 = 675 floats per image: 2 images per chunk
  try {
    for (
      const [name, fn] of [
        ["Conv2D", forward(c, a, b)],
        ["Conv2DBackpropInput", inputGrad(c, a, b)],
        ["Conv2DBackpropFilter", filterGrad(c, a, b)],
      ] as const
    ) {
      const [want, got] = await cpuThenNative(fn, PATHS[1]);
      assertClose(got, want, 1e-4, `${name} chunked`);
    }
  } finally {
    setColumnBudget(prev);
  }
});

Deno.test("native BatchMatMul matches the cpu backend (transposes, batches, broadcast)", async () => {
  const rng = new Rng("native/matmul");
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 13], [13, 5], false, false],
    [[13, 7], [13, 5], true, false],
    [[7, 13], [5, 13], false, true],
    [[13, 7], [5, 13], true, true],
    [[3, 4, 9], [3, 9, 6], false, false],
    [[3, 4, 9], [1, 9, 6], false, false],
    [[1, 9, 4], [2, 6, 9], true, true],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const av = randomArray(rng, size(sa));
    const bv = randomArray(rng, size(sb));
    const [want, got] = await cpuThenNative(() =>
      runKernel("BatchMatMul", { a: tf.tensor(av, sa), b: tf.tensor(bv, sb) }, {
        transposeA: ta,
        transposeB: tb,
      })
    );
    assertClose(got, want, 1e-4, `BatchMatMul ${sa} x ${sb} ta=${ta} tb=${tb}`);
  }
});

Deno.test("coreTypeFromCpuinfo reads the kernel family from the flags", () => {
  assert.equal(
    coreTypeFromCpuinfo("flags\t\t: fpu avx2 fma avx512f avx512bw avx512dq avx512vl\n"),
    "SkylakeX",
  );
  assert.equal(coreTypeFromCpuinfo("flags\t\t: fpu avx avx2 fma\n"), "Haswell");
  assert.equal(coreTypeFromCpuinfo("flags\t\t: fpu sse3\n"), undefined);
  assert.equal(coreTypeFromCpuinfo(""), undefined);
});

Deno.test("GEMMs narrower than nativeMinDim stay on the wasm kernels", async () => {
  await initBackend("wasm");
  const prev = setNativeMinDim(32);
  try {
    const calls = (ci: number, co: number) => {
      const before = sgemmCalls() + dnnlCalls();
      tf.tidy(() =>
        tf.conv2d(tf.ones([1, 6, 6, ci]) as tf.Tensor4D, tf.ones([3, 3, ci, co]), 1, 1)
      );
      return sgemmCalls() + dnnlCalls() - before ? 1 : 0;
    };
    assert.equal(calls(3, 8), 0); // N = 8
    assert.equal(calls(3, 32), 0); // K = 27
    assert.equal(calls(4, 32), 1); // K = 36, N = 32
  } finally {
    setNativeMinDim(prev);
  }
});

Deno.test("native conv kernels repeat bitwise at a fixed thread count (2 threads)", async () => {
  await initBackend("wasm");
  const prevThreads = nativeThreads();
  setNativeThreads(2);
  const rng = new Rng("native/repeat");
  // Large enough for both libraries to split the work between the threads.
  const c: ConvCase = {
    batch: 4,
    size: [16, 16],
    inC: 64,
    outC: 64,
    kernel: [3, 3],
    stride: 1,
    pad: 1,
  };
  const a = randomArray(rng, 4 * 16 * 16 * 64);
  const b = randomArray(rng, 4 * 16 * 16 * 64);
  try {
    for (const path of PATHS) {
      const prev = setDnnlMode(path.mode);
      try {
        for (const fn of [forward(c, a, b), inputGrad(c, a, b), filterGrad(c, a, b)]) {
          const first = await fn();
          for (let i = 0; i < 20; i++) assert.deepEqual(await fn(), first, path.name);
        }
      } finally {
        setDnnlMode(prev);
      }
    }
  } finally {
    setNativeThreads(prevThreads);
  }
});
