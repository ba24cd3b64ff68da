/**
 * The parts of tfjs-backend-wasm's `BackendWasm` that the kit's wasm kernels use: tensor storage on
 * the wasm heap, output allocation, and the stock kernels to delegate GEMMs and copies to.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { DataId, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";

/** Storage record of one tensor on the wasm heap. */
export interface WasmTensorData {
  /** Id the C++ side knows the tensor by. */
  id: number;
  /** Byte offset on the heap. */
  memoryOffset: number;
}

/** Structural view of tfjs-backend-wasm's `BackendWasm`. */
export interface WasmBackendLike {
  /** The emscripten module (its heap views are replaced when memory grows). */
  wasm: { HEAPU8: Uint8Array };
  /** Storage records by data id. */
  dataIdMap: { get(dataId: DataId): WasmTensorData };
  /** Allocates an output tensor on the heap (values copied in when given). */
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: tf.backend_util.BackendValues,
  ): TensorInfo;
  /** Releases a tensor made by a kernel. */
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/**
 * A float32 view of a tensor on the wasm heap. Valid until the next allocation (the heap may grow
 * and detach it): take views after allocating every output.
 */
export function heapF32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  if (t.dtype !== "float32") throw new Error(`wasm kernel: expected float32, got ${t.dtype}`);
  const { memoryOffset } = backend.dataIdMap.get(t.dataId);
  const size = t.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(backend.wasm.HEAPU8.buffer, memoryOffset, size);
}

/** Runs a stock wasm kernel synchronously inside another kernel (the caller owns its output). */
export function runWasmKernel(
  backend: WasmBackendLike,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const k = tf.getKernel(name, "wasm");
  if (!k) throw new Error(`wasm kernel: stock kernel "${name}" is not registered`);
  const out = k.kernelFunc({ inputs, attrs, backend: backend as unknown as tf.KernelBackend });
  return (Array.isArray(out) ? out[0] : out) as TensorInfo;
}
