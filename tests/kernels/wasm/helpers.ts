/**
 * Shared helpers of the wasm kernel tests: run the same computation on the cpu backend (reference)
 * and on the wasm backend with the kit's kernels, from plain arrays.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import type { ConvCase } from "../helpers.ts";

/** Odd shapes, strides 1 and 2, explicit / same / valid padding, 1×1, 3×3, 7×7 and 2×3 filters. */
export const CONV_CASES: ConvCase[] = [
  { batch: 2, size: [9, 7], inC: 3, outC: 5, kernel: [3, 3], stride: 1, pad: 1 },
  { batch: 1, size: [11, 11], inC: 5, outC: 7, kernel: [3, 3], stride: 2, pad: 1 },
  { batch: 3, size: [8, 8], inC: 16, outC: 33, kernel: [1, 1], stride: 1, pad: 0 },
  { batch: 2, size: [9, 9], inC: 17, outC: 8, kernel: [1, 1], stride: 2, pad: 0 },
  { batch: 2, size: [13, 15], inC: 3, outC: 64, kernel: [7, 7], stride: 2, pad: 3 },
  { batch: 1, size: [10, 9], inC: 6, outC: 4, kernel: [7, 7], stride: 1, pad: 3 },
  { batch: 1, size: [6, 5], inC: 70, outC: 66, kernel: [3, 3], stride: 1, pad: "same" },
  { batch: 2, size: [9, 8], inC: 5, outC: 6, kernel: [3, 3], stride: 2, pad: "same" },
  { batch: 2, size: [7, 7], inC: 4, outC: 3, kernel: [2, 3], stride: 2, pad: "valid" },
  { batch: 3, size: [5, 6], inC: 2, outC: 3, kernel: [3, 3], stride: 1, pad: "valid" },
  // Even filters with "same": asymmetric padding (more at the bottom / right).
  { batch: 2, size: [6, 7], inC: 3, outC: 4, kernel: [2, 4], stride: 1, pad: "same" },
  { batch: 1, size: [9, 8], inC: 4, outC: 5, kernel: [4, 2], stride: 2, pad: "same" },
];

/** Runs `fn` on cpu, then on wasm, and returns both results (`[want, got]`). */
export async function cpuThenWasm(
  fn: () => Promise<Float32Array | Float32Array[]>,
): Promise<[Float32Array[], Float32Array[]]> {
  await initBackend("wasm");
  await tf.setBackend("cpu");
  const want = await fn();
  await tf.setBackend("wasm");
  const got = await fn();
  return [[want].flat(), [got].flat()];
}

/** Runs a kernel by name on the active backend and reads its (first) output. */
export async function runKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown>,
): Promise<Float32Array> {
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const v = await out.data() as Float32Array;
  tf.dispose([out, ...Object.values(inputs)]);
  return v;
}
