/**
 * CPU→GPU uploads through `GPUQueue.writeBuffer` instead of tfjs's per-upload staging buffer.
 *
 * tfjs-backend-webgpu uploads a CPU-side tensor (every JS scalar a layer, loss or gradient
 * function passes to an op) by creating a `mappedAtCreation` staging buffer, copying it on the
 * command encoder and destroying it after the submit: three WebGPU objects and several driver
 * calls per value, hundreds of times per training step. `writeBuffer` queues the same bytes with one
 * call and no JS-visible buffer. It is ordered before the command buffer being recorded, which is
 * safe because tfjs only returns a buffer to its pool after the commands using it were submitted.
 *
 * @module
 */
import type { DataId } from "@tensorflow/tfjs-core";

interface TensorDataLike {
  dtype: string;
  shape: number[];
  values: ArrayLike<number> | null;
  resource: unknown;
}

/** The WebGPU backend internals this patch touches (tfjs-backend-webgpu 4.22). */
export interface UploadPatchTarget {
  /** The backend's tensor storage. */
  tensorMap: { get(dataId: DataId): TensorDataLike };
  /** The backend's buffer pool. */
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  /** The device queue. */
  queue: GPUQueue;
  /** tfjs's upload method (replaced on the instance). */
  uploadToGPU(dataId: DataId): void;
}

const patched = new WeakMap<object, (dataId: DataId) => void>();

/** Replaces `backend.uploadToGPU` on this instance. Idempotent. */
export function patchUploads(backend: UploadPatchTarget): void {
  if (patched.has(backend)) return;
  const stock = backend.uploadToGPU;
  patched.set(backend, stock);
  backend.uploadToGPU = function (this: UploadPatchTarget, dataId: DataId): void {
    const data = this.tensorMap.get(dataId);
    if (data.resource != null || data.values == null) return stock.call(this, dataId);
    const n = data.shape.reduce((a, b) => a * b, 1);
    const size = n * 4;
    if (data.dtype !== "float32" && data.dtype !== "int32" && data.dtype !== "bool") {
      return stock.call(this, dataId);
    }
    const buffer = this.bufferManager.acquireBuffer(
      size,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    );
    const typed = data.dtype === "float32"
      ? (data.values instanceof Float32Array ? data.values : Float32Array.from(data.values))
      : (data.values instanceof Int32Array ? data.values : Int32Array.from(data.values));
    if (size > 0) {
      this.queue.writeBuffer(buffer, 0, typed.buffer as ArrayBuffer, typed.byteOffset, size);
    }
    data.values = null;
    data.resource = buffer;
  };
}

/** Restores tfjs's own upload method. */
export function unpatchUploads(backend: UploadPatchTarget): void {
  const stock = patched.get(backend);
  if (!stock) return;
  // Removing the instance property exposes the prototype's method again.
  delete (backend as unknown as Record<string, unknown>).uploadToGPU;
  if (backend.uploadToGPU !== stock) backend.uploadToGPU = stock;
  patched.delete(backend);
}

/** True when {@linkcode patchUploads} is active on this backend. */
export function uploadsPatched(backend: object): boolean {
  return patched.has(backend);
}
