import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, randomArray } from "../helpers.ts";
import { cpuThenWasm, runKernel } from "./helpers.ts";

interface DwCase {
  x: [number, number, number, number];
  k: [number, number];
  q: number;
  stride: number;
  pad: number | "same" | "valid";
  dilation?: number;
}

const CASES: DwCase[] = [
  { x: [2, 9, 7, 5], k: [3, 3], q: 1, stride: 1, pad: 1 },
  { x: [1, 11, 11, 8], k: [3, 3], q: 1, stride: 2, pad: "same" },
  { x: [2, 8, 9, 3], k: [1, 1], q: 2, stride: 2, pad: "valid" },
  { x: [1, 13, 12, 4], k: [7, 7], q: 1, stride: 2, pad: 3 },
  { x: [2, 7, 7, 3], k: [2, 3], q: 3, stride: 1, pad: "valid" },
];

// tfjs's cpu kernels ignore dilations (its gradients reject them): checked by adjointness instead.
const DILATED: DwCase[] = [
  { x: [1, 9, 9, 2], k: [3, 3], q: 1, stride: 1, pad: "same", dilation: 2 },
  { x: [2, 10, 9, 3], k: [3, 2], q: 2, stride: 1, pad: "valid", dilation: 3 },
];

function label(c: DwCase): string {
  return `${c.x} k${c.k} q${c.q} s${c.stride} pad ${c.pad} d${c.dilation ?? 1}`;
}

Deno.test("wasm depthwise conv gradients (filter and input) match the cpu backend", async () => {
  const rng = new Rng("wasm/depthwise");
  for (const c of CASES) {
    const [b, h, w, ch] = c.x;
    const filterShape: [number, number, number, number] = [...c.k, ch, c.q];
    const xv = randomArray(rng, b * h * w * ch);
    const wv = randomArray(rng, filterShape.reduce((s, v) => s * v, 1));
    const dyv = randomArray(rng, b * h * w * ch * c.q);
    const attrs = {
      strides: [c.stride, c.stride],
      pad: c.pad,
      dilations: [c.dilation ?? 1, c.dilation ?? 1],
    };
    const [want, got] = await cpuThenWasm(async () => {
      const outShape = tf.tidy(() =>
        tf.depthwiseConv2d(
          tf.zeros(c.x) as tf.Tensor4D,
          tf.zeros(filterShape) as tf.Tensor4D,
          c.stride,
          c.pad,
          "NHWC",
          c.dilation ?? 1,
        ).shape
      );
      const dySize = outShape.reduce((s, v) => s * v, 1);
      const dy = () => tf.tensor4d(dyv.subarray(0, dySize), outShape);
      const dW = await runKernel("DepthwiseConv2dNativeBackpropFilter", {
        x: tf.tensor4d(xv, c.x),
        dy: dy(),
      }, { ...attrs, filterShape });
      const dX = await runKernel("DepthwiseConv2dNativeBackpropInput", {
        dy: dy(),
        filter: tf.tensor4d(wv, filterShape),
      }, { ...attrs, inputShape: c.x });
      return [dW, dX];
    });
    assertClose(got[0], want[0], 1e-4, `${label(c)}: filter gradient`);
    assertClose(got[1], want[1], 1e-4, `${label(c)}: input gradient`);
  }
});

Deno.test("wasm depthwise gradients with dilations are the adjoints of the forward conv", async () => {
  const rng = new Rng("wasm/depthwise/dilated");
  await cpuThenWasm(() => Promise.resolve(new Float32Array())); // leaves wasm active
  for (const c of DILATED) {
    const filterShape: [number, number, number, number] = [...c.k, c.x[3], c.q];
    const x = tf.tensor4d(randomArray(rng, c.x.reduce((s, v) => s * v, 1)), c.x);
    const w = tf.tensor4d(randomArray(rng, filterShape.reduce((s, v) => s * v, 1)), filterShape);
    const y = tf.depthwiseConv2d(x, w, c.stride, c.pad as "same", "NHWC", c.dilation);
    const dy = tf.tensor4d(randomArray(rng, y.size), y.shape);
    const attrs = { strides: c.stride, pad: c.pad, dilations: c.dilation } as const;
    const dW = tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", { x, dy }, {
      ...attrs,
      filterShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dX = tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy, filter: w }, {
      ...attrs,
      inputShape: c.x,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    // <dy, conv(x, W)> = <dW, W> = <dx, x>: the conv is linear in W and in x.
    const [lhs, viaW, viaX] = await Promise.all(
      [tf.sum(tf.mul(dy, y)), tf.sum(tf.mul(dW, w)), tf.sum(tf.mul(dX, x))].map(async (t) =>
        (await t.data())[0]
      ),
    );
    const tol = 1e-4 * Math.max(1, Math.abs(lhs));
    assert.ok(Math.abs(viaW - lhs) <= tol, `${label(c)}: <dW, W> ${viaW} != ${lhs}`);
    assert.ok(Math.abs(viaX - lhs) <= tol, `${label(c)}: <dx, x> ${viaX} != ${lhs}`);
    tf.dispose([x, w, y, dy, dW, dX]);
  }
});

Deno.test("wasm depthwise gradients reject non-float32 input naming the kernel", async () => {
  await cpuThenWasm(() => Promise.resolve(new Float32Array()));
  const x = tf.zeros([1, 4, 4, 2], "int32");
  const dy = tf.zeros([1, 4, 4, 2]);
  assert.throws(
    () =>
      tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        filterShape: [3, 3, 2, 1],
      } as unknown as tf.NamedAttrMap),
    /wasm DepthwiseConv2dNativeBackpropFilter: float32 inputs required/,
  );
  tf.dispose([x, dy]);
});
