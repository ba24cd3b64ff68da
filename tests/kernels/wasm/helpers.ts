/**
 * Shared helpers of the wasm kernel tests: run the same computation on the cpu backend (reference)
 * and on the wasm backend with the kit's kernels, from plain arrays.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../../lib/backend.ts";
import { unregisterNativeKernels } from "../../../lib/kernels/native/register.ts";

/**
 * Runs `fn` on cpu, then on wasm with the kit's wasm kernels (the native OpenBLAS ones, tested in
 * tests/kernels/native/, taken out), and returns both results (`[want, got]`).
 */
export async function cpuThenWasm(
  fn: () => Promise<Float32Array | Float32Array[]>,
): Promise<[Float32Array[], Float32Array[]]> {
  await initBackend("wasm");
  unregisterNativeKernels();
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
