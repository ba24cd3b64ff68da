import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  backpropFilterGeometry,
  columnBudget,
  im2colTransposed,
  setColumnBudget,
} from "../../../lib/kernels/wasm/conv2d_backprop_filter.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, CONV_CASES, type ConvCase, describeCase, randomArray } from "../helpers.ts";
import { cpuThenWasm, runKernel } from "./helpers.ts";

function filterGrad(c: ConvCase, xv: Float32Array, dyv: Float32Array) {
  return async () => {
    const x = tf.tensor4d(xv, [c.batch, c.size[0], c.size[1], c.inC]);
    const outShape = tf.tidy(() =>
      tf.conv2d(x, tf.zeros([...c.kernel, c.inC, c.outC]) as tf.Tensor4D, c.stride, c.pad).shape
    );
    const dy = tf.tensor4d(dyv.subarray(0, outShape.reduce((a, b) => a * b, 1)), outShape);
    return await runKernel("Conv2DBackpropFilter", { x, dy }, {
      strides: [c.stride, c.stride],
      pad: c.pad,
      dataFormat: "NHWC",
      filterShape: [...c.kernel, c.inC, c.outC],
    });
  };
}

Deno.test("wasm Conv2DBackpropFilter matches the cpu backend (strides, paddings, 1x1/3x3/7x7)", async () => {
  const rng = new Rng("wasm/conv2d_backprop_filter");
  for (const c of CONV_CASES) {
    const xv = randomArray(rng, c.batch * c.size[0] * c.size[1] * c.inC);
    const dyv = randomArray(rng, c.batch * c.size[0] * c.size[1] * c.outC);
    const [[want], [got]] = await cpuThenWasm(filterGrad(c, xv, dyv));
    assertClose(got, want, 1e-4, describeCase(c));
  }
});

Deno.test("wasm Conv2DBackpropFilter: chunked columns give the same result", async () => {
  const rng = new Rng("wasm/conv2d_backprop_filter/chunks");
  const c: ConvCase = {
    batch: 5,
    size: [9, 9],
    inC: 3,
    outC: 4,
    kernel: [3, 3],
    stride: 2,
    pad: 1,
  };
  const xv = randomArray(rng, 5 * 9 * 9 * 3);
  const dyv = randomArray(rng, 5 * 9 * 9 * 4);
  const [[want]] = await cpuThenWasm(filterGrad(c, xv, dyv));
  // 27 columns × 25 positions per image: a budget of 1500 floats holds 2 images per chunk.
  const prev = setColumnBudget(1500);
  try {
    const got = await filterGrad(c, xv, dyv)();
    assertClose(got, want, 1e-4, `${describeCase(c)} in chunks of 2 images`);
  } finally {
    setColumnBudget(prev);
  }
  assert.equal(columnBudget(), prev);
  assert.throws(() => setColumnBudget(0), /setColumnBudget: expected an integer >= 1, got 0/);
});

Deno.test("im2colTransposed lays out rows (kh, kw, c) and columns (b, oy, ox) with zero padding", () => {
  // 1 image 2×2×1, values 1..4; 3×3 filter, stride 1, pad 1: output 2×2.
  const info = tf.backend_util.computeConv2DInfo([1, 2, 2, 1], [3, 3, 1, 1], 1, 1, 1);
  const col = new Float32Array(9 * 4).fill(NaN);
  im2colTransposed(new Float32Array([1, 2, 3, 4]), col, info, 0, 1);
  // Row kh=1, kw=1 (the centre) is the image itself; row 0 (top-left) sees x[oy−1, ox−1].
  assert.deepEqual([...col.subarray(4 * 4, 5 * 4)], [1, 2, 3, 4]);
  assert.deepEqual([...col.subarray(0, 4)], [0, 0, 0, 1]);
  assert.deepEqual([...col.subarray(8 * 4, 9 * 4)], [4, 0, 0, 0]);
});

Deno.test("wasm Conv2DBackpropFilter rejects dilations, NCHW and mismatched dy with clear errors", () => {
  const x = { dataId: {}, shape: [1, 5, 5, 2], dtype: "float32" as const };
  const dy = { dataId: {}, shape: [1, 5, 5, 3], dtype: "float32" as const };
  const attrs = {
    strides: 1,
    pad: 1,
    dataFormat: "NHWC",
    filterShape: [3, 3, 2, 3],
  } as unknown as tf.Conv2DBackpropFilterAttrs;
  assert.equal(backpropFilterGeometry(x, dy, attrs).outHeight, 5);
  assert.throws(
    () => backpropFilterGeometry(x, dy, { ...attrs, dilations: [2, 2] } as never),
    /wasm Conv2DBackpropFilter: dilations \[2,2\] are not supported \(only 1\)/,
  );
  assert.throws(
    () => backpropFilterGeometry(x, dy, { ...attrs, dataFormat: "NCHW" }),
    /dataFormat NCHW is not supported/,
  );
  assert.throws(
    () => backpropFilterGeometry(x, { ...dy, shape: [1, 4, 4, 3] }, attrs),
    /dy shape \[1,4,4,3\] does not match the conv output \[1,5,5,3\]/,
  );
});
