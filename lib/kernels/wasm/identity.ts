/**
 * `Identity` for the tfjs wasm backend, sharing the input's storage (reference-counted, as the cpu
 * and webgpu backends and the wasm `Reshape` do) instead of copying it like the stock wasm kernel.
 * tfjs's engine clones (`Identity`) every tensor a kernel saves for the backward pass, so with the
 * copying kernel a training step holds each saved activation twice: the sharing kernel cuts a
 * ResNet50 step's peak memory on wasm by about half (see `bench/README.md`). Strings go to the
 * stock kernel.
 *
 * @module
 */
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";

/** The part of the wasm backend this kernel uses. */
interface RefCounted {
  incRef(dataId: object): void;
}

/** Makes the kit's kernel function around the stock wasm one. */
export function makeIdentityWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === "string") return stock(args);
    (args.backend as unknown as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
