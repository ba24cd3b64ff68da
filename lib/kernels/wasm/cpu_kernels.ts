/**
 * Runs the kit's cpu-backend kernels (fused batch norm, fused SGD update: plain JavaScript loops
 * over typed arrays) on the wasm backend. A kernel reads its inputs through `backend.data.get(id)
 * .values` and returns `backend.makeTensorInfo(shape, dtype, values)`; {@linkcode onWasm} hands it
 * a shim whose `values` are views of the wasm heap and whose `makeTensorInfo` copies the result
 * onto the heap. The views are read before the output is allocated, so heap growth cannot detach
 * them while they are in use.
 *
 * @module
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { CPU_BN_KERNELS } from "../batch_norm_train.ts";
import { SGD_KERNELS } from "../sgd_update.ts";
import type { WasmBackendLike } from "./wasm_types.ts";

type Values = Float32Array | Int32Array | Uint8Array;

function heapView(backend: WasmBackendLike, dataId: object, shape: number[], dtype: DataType) {
  const { memoryOffset } = backend.dataIdMap.get(dataId);
  const size = shape.reduce((a, b) => a * b, 1);
  const buf = backend.wasm.HEAPU8.buffer;
  switch (dtype) {
    case "float32":
      return new Float32Array(buf, memoryOffset, size);
    case "int32":
      return new Int32Array(buf, memoryOffset, size);
    case "bool":
      return new Uint8Array(buf, memoryOffset, size);
    default:
      throw new Error(`wasm kit kernel: unsupported dtype ${dtype}`);
  }
}

/** Wraps a cpu-backend kernel function so it runs on wasm heap tensors. */
export function onWasm(cpuKernel: KernelFunc): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wb = backend as unknown as WasmBackendLike;
    const byId = new Map<object, TensorInfo>();
    for (const t of Object.values(inputs)) if (t) byId.set(t.dataId, t as TensorInfo);
    const shim = {
      data: {
        get(dataId: object): { values: Values } {
          const t = byId.get(dataId);
          if (!t) throw new Error("wasm kit kernel: read of a tensor that is not an input");
          return { values: heapView(wb, dataId, t.shape, t.dtype) };
        },
      },
      makeTensorInfo(shape: number[], dtype: DataType, values: Values): TensorInfo {
        return wb.makeOutput(shape, dtype, undefined, values);
      },
    };
    return cpuKernel({ inputs, attrs, backend: shim as never });
  };
}

/** The kit's cpu kernels re-targeted at backend `wasm`. */
export const WASM_CPU_KERNELS: readonly KernelConfig[] = [...CPU_BN_KERNELS, ...SGD_KERNELS]
  .filter((k) => k.backendName === "cpu")
  .map((k) => ({
    kernelName: k.kernelName,
    backendName: "wasm",
    kernelFunc: onWasm(k.kernelFunc),
  }));
