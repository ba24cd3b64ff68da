import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setColumnBudget } from "../../../lib/kernels/wasm/conv2d_backprop_filter.ts";
import {
  backpropInputGeometry,
  col2imAdd,
} from "../../../lib/kernels/wasm/conv2d_backprop_input.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "../helpers.ts";
import { cpuThenWasm, runKernel } from "./helpers.ts";

function inputGrad(c: ConvCase, wv: Float32Array, dyv: Float32Array) {
  return async () => {
    const inputShape: [number, number, number, number] = [c.batch, c.size[0], c.size[1], c.inC];
    const w = tf.tensor4d(wv, [...c.kernel, c.inC, c.outC]);
    const outShape = tf.tidy(() =>
      tf.conv2d(tf.zeros(inputShape) as tf.Tensor4D, w, c.stride, c.pad).shape
    );
    const dy = tf.tensor4d(dyv.subarray(0, outShape.reduce((a, b) => a * b, 1)), outShape);
    return await runKernel("Conv2DBackpropInput", { dy, filter: w }, {
      strides: [c.stride, c.stride],
      pad: c.pad,
      dataFormat: "NHWC",
      inputShape,
    });
  };
}

// Stride 1 with padding >= the filter size takes the col2im path.
const EXTRA: ConvCase[] = [
  { batch: 2, size: [4, 5], inC: 3, outC: 2, kernel: [1, 1], stride: 1, pad: 1 },
  { batch: 1, size: [6, 6], inC: 4, outC: 5, kernel: [2, 2], stride: 1, pad: 2 },
];

Deno.test("wasm Conv2DBackpropInput matches the cpu backend (strides, paddings, 1x1/3x3/7x7)", async () => {
  const rng = new Rng("wasm/conv2d_backprop_input");
  for (const c of [...CONV_CASES, ...EXTRA]) {
    const wv = randomArray(rng, c.kernel[0] * c.kernel[1] * c.inC * c.outC);
    const dyv = randomArray(rng, c.batch * (c.size[0] + 4) * (c.size[1] + 4) * c.outC);
    const [[want], [got]] = await cpuThenWasm(inputGrad(c, wv, dyv));
    assertClose(got, want, 1e-4, describeCase(c));
  }
});

Deno.test("wasm Conv2DBackpropInput: chunked columns give the same result", async () => {
  const rng = new Rng("wasm/conv2d_backprop_input/chunks");
  const c: ConvCase = {
    batch: 5,
    size: [9, 9],
    inC: 3,
    outC: 4,
    kernel: [3, 3],
    stride: 2,
    pad: 1,
  };
  const wv = randomArray(rng, 3 * 3 * 3 * 4);
  const dyv = randomArray(rng, 5 * 9 * 9 * 4);
  const [[want]] = await cpuThenWasm(inputGrad(c, wv, dyv));
  const prev = setColumnBudget(1500); // 2 images per chunk
  try {
    assertClose(await inputGrad(c, wv, dyv)(), want, 1e-4, `${describeCase(c)} in chunks`);
  } finally {
    setColumnBudget(prev);
  }
});

Deno.test("col2imAdd is the adjoint of im2col: each entry lands on the pixel it was read from", () => {
  // 1 image 3×3×1, 2×2 filter, stride 1, valid: output 2×2, M = 4.
  const info = tf.backend_util.computeConv2DInfo([1, 3, 3, 1], [2, 2, 1, 1], 1, 1, "valid");
  const dcol = new Float32Array(16).fill(1);
  const dx = new Float32Array(9);
  col2imAdd(dcol, dx, info, 0, 1);
  // How many windows cover each pixel.
  assert.deepEqual([...dx], [1, 2, 1, 2, 4, 2, 1, 2, 1]);
});

Deno.test("wasm Conv2DBackpropInput leaves NCHW and non-float32 to the stock kernel", () => {
  const dy = { dataId: {}, shape: [1, 5, 5, 3], dtype: "float32" as const };
  const filter = { dataId: {}, shape: [3, 3, 2, 3], dtype: "float32" as const };
  const attrs = {
    strides: 1,
    pad: 1,
    dataFormat: "NHWC",
    inputShape: [1, 5, 5, 2],
  } as unknown as tf.Conv2DBackpropInputAttrs;
  const info = backpropInputGeometry(dy, filter, attrs);
  assert.equal(typeof info === "string" ? info : info.inHeight, 5);
  assert.equal(backpropInputGeometry(dy, filter, { ...attrs, dataFormat: "NCHW" }), "NCHW layout");
  assert.equal(
    backpropInputGeometry({ ...dy, dtype: "int32" }, filter, attrs),
    "non-float32 input",
  );
});
