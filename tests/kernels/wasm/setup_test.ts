import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setUpWasmBackend, wasmBinaryFolder } from "../../../lib/kernels/wasm/setup.ts";

Deno.test("the wasm binaries are found in the project's node_modules", () => {
  const folder = wasmBinaryFolder();
  assert.match(folder, /^file:\/\/.*\/node_modules\/@tensorflow\/tfjs-backend-wasm\/dist\/$/);
  assert.ok(Deno.statSync(new URL("tfjs-backend-wasm-simd.wasm", folder)).isFile);
});

Deno.test("setUpWasmBackend activates wasm (single-threaded SIMD) and is idempotent", async () => {
  const label = await setUpWasmBackend();
  assert.equal(tf.getBackend(), "wasm");
  // Plus the native GEMMs and convolutions (tools/ensure_test_deps.sh installs both libraries).
  assert.match(
    label,
    /^tfjs wasm \(XNNPACK, SIMD, 1 thread\) \+ OpenBLAS \(libopenblas\.so\.0, \d+ threads?\) \+ oneDNN \d+\.\d+\.\d+ \(libdnnl\.so\.2, \d+ threads?\)$/,
  );
  assert.equal(await setUpWasmBackend(), label);
  // A training-only kernel the stock backend lacks is there and runs.
  const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
  const dy = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
  const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    strides: 1,
    pad: "same",
    dataFormat: "NHWC",
    filterShape: [3, 3, 1, 1],
  }) as tf.Tensor;
  // Centre tap sees all 9 pixels; a corner tap sees 4.
  assert.deepEqual([...(await dw.data())], [4, 6, 4, 6, 9, 6, 4, 6, 4]);
  tf.dispose([x, dy, dw]);
});
