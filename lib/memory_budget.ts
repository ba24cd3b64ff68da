/**
 * Will a training batch fit? tfjs's wasm backend keeps every tensor on one WebAssembly heap of at
 * most 4 GiB − 64 KiB (the `memory` maximum of `tfjs-backend-wasm-simd.wasm` 4.22: 65,536 pages).
 * When the heap cannot grow, its `malloc` returns 0 and tfjs-backend-wasm registers the tensor at
 * address 0 (it does not check), which corrupts the heap: the run later dies with `memory access out
 * of bounds` or `Aborted()`. The kit checks `malloc` ({@linkcode guardWasmMalloc}) and, before the
 * first step, estimates a step's peak heap ({@linkcode checkBatchFits}):
 *
 *     peak ≈ k · (state + fixed + B · perImage) + c · params
 *
 * `state` (parameters, buffers, momentum) is the tensor storage the heap holds now; `fixed +
 * B·perImage` is the peak of a forward and backward pass (with the kit's
 * {@linkcode leanVariableGrads}, as in a step) above it, measured by running one at batch 1 and one
 * at batch 2 at the real input size (no weights or statistics change); `k` ({@linkcode HEAP_FACTOR})
 * and `c` ({@linkcode PARAM_OVERHEAD}) cover what the heap holds beyond tensor storage (the
 * allocator's slack and growth steps; XNNPACK's packed weights), calibrated against the heap size
 * after two steps (see `bench/README.md`, `deno task bench:paper-sizes`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone } from "./backbones/types.ts";
import { leanVariableGrads } from "./lean_grads.ts";
import { ForwardContext } from "./nn.ts";

/** Largest wasm heap, in bytes: 65,536 pages of 64 KiB less one page (emscripten's getHeapMax). */
export const WASM_HEAP_LIMIT = 4294901760;

/**
 * Estimated tensor bytes are multiplied by this: a real step's tensor peak was 0–7 % above the
 * measured gradient passes (ResNet50 224 px batch 20, DenseNet121 224 px batch 19, InceptionV3 and
 * Xception 299 px batch 20 and 9: `bench/results/paper_sizes.csv`).
 */
export const HEAP_FACTOR = 1.08;

/**
 * Heap bytes outside tensor storage per parameter byte (XNNPACK's packed copies of the convolution
 * weights and its operators, the allocator's slack, the heap's growth steps). In the runs above,
 * heap − tensor peak was 2.9 (ResNet50), 3.9 (InceptionV3), 5.0 (Xception) and 7.1 (DenseNet121)
 * times the parameter bytes; with {@linkcode HEAP_FACTOR} the estimate was 165–445 MiB above the
 * heap in all four.
 */
export const PARAM_OVERHEAD = 6;

/** Largest single allocation the wasm backend's `malloc` handles: it takes sizes as signed. */
export const WASM_MAX_ALLOCATION = 2 ** 31 - 1;

/** Thrown when the wasm heap cannot hold an allocation (instead of a corrupt heap). */
export class WasmOutOfMemoryError extends Error {
  constructor(readonly requested: number, readonly heapBytes: number) {
    super(
      requested > WASM_MAX_ALLOCATION
        ? `wasm backend: one tensor of ${mib(requested)} MiB is over the backend's limit of ` +
          `${mib(WASM_MAX_ALLOCATION)} MiB per tensor`
        : `wasm backend: out of memory (could not allocate ${
          mib(requested)
        } MiB with the heap at ` +
          `${mib(heapBytes)} MiB of at most ${mib(WASM_HEAP_LIMIT)} MiB)`,
    );
    this.name = "WasmOutOfMemoryError";
  }
}

interface WasmModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  kitMallocGuarded?: boolean;
}

/** Tensor storage the wasm backend allocated from JavaScript (every tensor), in bytes. */
const alloc = { sizes: new Map<number, number>(), live: 0, peak: 0 };

/**
 * Makes the wasm backend's `malloc` throw {@linkcode WasmOutOfMemoryError} instead of returning 0
 * when the heap cannot grow (tfjs-backend-wasm would place the tensor at address 0 and corrupt the
 * heap) or a block that does not fit inside the heap (what it returns for a size of 2 GiB or more),
 * and counts the bytes of live tensor storage ({@linkcode wasmTensorBytes}). Idempotent.
 */
export function guardWasmMalloc(backend: tf.KernelBackend): void {
  const w = (backend as unknown as { wasm?: WasmModule }).wasm;
  if (!w || w.kitMallocGuarded) return;
  // emscripten's `_malloc`/`_free` replace themselves by the raw exports on their first call.
  w._free(w._malloc(8));
  const rawMalloc = w._malloc;
  const rawFree = w._free;
  w._malloc = (n: number) => {
    if (n > WASM_MAX_ALLOCATION) throw new WasmOutOfMemoryError(n, w.HEAPU8.length);
    const p = rawMalloc(n) >>> 0; // pointers above 2 GiB come back negative
    if (n > 0 && (p === 0 || p + n > w.HEAPU8.length)) {
      if (p !== 0) rawFree(p);
      throw new WasmOutOfMemoryError(n, w.HEAPU8.length);
    }
    alloc.sizes.set(p, n);
    alloc.live += n;
    if (alloc.live > alloc.peak) alloc.peak = alloc.live;
    return p;
  };
  w._free = (p: number) => {
    const key = p >>> 0;
    const n = alloc.sizes.get(key);
    if (n !== undefined) {
      alloc.live -= n;
      alloc.sizes.delete(key);
    }
    rawFree(p);
  };
  w.kitMallocGuarded = true;
}

/**
 * Live and peak bytes of tensor storage on the wasm heap (unlike `tf.memory().numBytes`, a view
 * sharing storage — a reshape, a clone — is not counted twice); `resetPeak` starts a new peak.
 * Zeros before the wasm backend is set up.
 */
export function wasmTensorBytes(resetPeak = false): { live: number; peak: number } {
  const out = { live: alloc.live, peak: alloc.peak };
  if (resetPeak) alloc.peak = alloc.live;
  return out;
}
/** Bytes of the wasm heap now (it never shrinks: after a step, the step's peak), or null. */
export function wasmHeapBytes(): number | null {
  const w = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  return w ? w.HEAPU8.length : null;
}

/** The measured parts of the estimate, in bytes. */
export interface StepMemoryModel {
  /** Tensor bytes held now on the wasm heap (parameters, buffers, optimizer state, batch). */
  state: number;
  /** Gradient bytes (one float32 per trainable parameter; included in `fixed`). */
  grads: number;
  /** Parameter bytes (trainable variables). */
  params: number;
  /** Peak bytes of a forward and backward pass above `state`, independent of the batch. */
  fixed: number;
  /** Peak bytes of a forward and backward pass per image. */
  perImage: number;
}

/**
 * Peak tensor storage above the current level, in bytes, of a training-mode forward and backward
 * pass for `n` images (a stand-in loss: the sum of the logits; the CYBORG terms are small), through
 * {@linkcode leanVariableGrads} like a real step. Nothing in the model changes: the gradients are
 * dropped and the batch-norm running statistics not applied.
 */
function gradientPeakBytes(model: Backbone, size: number, n: number): number {
  const vars = [...model.store.trainable().values()];
  const before = wasmTensorBytes(true).live;
  const ctx = new ForwardContext(true);
  try {
    tf.tidy(() => {
      const x = tf.zeros([n, size, size, 3]) as tf.Tensor4D;
      leanVariableGrads(() => tf.sum(model.forward(x, ctx).logits) as tf.Scalar, vars);
    });
  } finally {
    for (const [, v] of ctx.updates) v.dispose();
    ctx.updates.length = 0;
  }
  return wasmTensorBytes().peak - before;
}

/**
 * Measures {@linkcode StepMemoryModel} for `model` at `size` px on the wasm backend: a forward and
 * backward pass at batch 1 and at batch 2 (about 3 images' training compute; nothing in the model
 * changes), counting tensor storage with {@linkcode wasmTensorBytes}.
 */
export function measureStepMemory(model: Backbone, size: number): StepMemoryModel {
  const state = wasmTensorBytes().live;
  let grads = 0;
  for (const v of model.store.trainable().values()) grads += v.size * 4;
  const params = grads;
  const one = gradientPeakBytes(model, size, 1);
  const two = gradientPeakBytes(model, size, 2);
  const perImage = Math.max(two - one, 1);
  return { state, grads, params, fixed: Math.max(one - perImage, 0), perImage };
}

/**
 * Estimated peak heap bytes of a step at `batch`: `factor · tensors + overhead · params`. With
 * `factor` 1 and `overhead` 0: the peak tensor storage alone.
 */
export function estimatePeakBytes(
  m: StepMemoryModel,
  batch: number,
  factor = HEAP_FACTOR,
  overhead = PARAM_OVERHEAD,
): number {
  return factor * (m.state + m.fixed + batch * m.perImage) + overhead * m.params;
}

/** The largest batch whose estimate fits in `limit` bytes (0 if none). */
export function largestBatch(
  m: StepMemoryModel,
  limit: number,
  factor = HEAP_FACTOR,
  overhead = PARAM_OVERHEAD,
): number {
  const room = (limit - overhead * m.params) / factor - m.state - m.fixed;
  return Math.max(0, Math.floor(room / m.perImage));
}

/** What {@linkcode checkBatchFits} found. */
export interface BatchFit {
  /** Estimated peak heap of a step, bytes. */
  estimate: number;
  /** The backend's limit, bytes. */
  limit: number;
  /** Largest batch whose estimate fits. */
  largest: number;
  /** The measured model. */
  model: StepMemoryModel;
}

/**
 * Before the first step: on the wasm backend, estimates the step's peak heap and throws when it
 * exceeds {@linkcode WASM_HEAP_LIMIT}, naming `option` (`--batch-size` on the command line,
 * `batchSize` for the library) and the largest batch that fits. Other backends: returns null (tfjs
 * does not expose a WebGPU device's memory; a failed allocation there is an error from the
 * driver). `pendingBytes`: storage the run will hold that does not exist yet (the optimizer's
 * momentum when it is created later). `limit` is for tests.
 */
export function checkBatchFits(
  model: Backbone,
  size: number,
  batch: number,
  option: string,
  limit = WASM_HEAP_LIMIT,
  pendingBytes = 0,
): BatchFit | null {
  if (tf.getBackend() !== "wasm") return null;
  const measured = measureStepMemory(model, size);
  const m = { ...measured, state: measured.state + pendingBytes };
  const estimate = estimatePeakBytes(m, batch);
  const largest = largestBatch(m, limit);
  if (estimate > limit) {
    throw new Error(
      `${option} ${batch}: a training step of ${model.spec.name} at ${size} px needs about ` +
        `${mib(estimate)} MiB on the wasm backend, whose heap is limited to ${mib(limit)} MiB ` +
        `(${mib(m.perImage * HEAP_FACTOR)} MiB per image, ${
          mib(estimatePeakBytes(m, 0))
        } MiB for parameters, gradients, optimizer state and kernel workspace). ` +
        (largest > 0
          ? `The largest batch that fits is about ${largest}: use ${option} ${largest} or less, `
          : "No batch fits: use a smaller input size, ") +
        "or a backend with more memory (--backend webgpu on a GPU).",
    );
  }
  return { estimate, limit, largest, model: m };
}

function mib(bytes: number): string {
  const m = bytes / 2 ** 20;
  return m < 10 ? m.toFixed(1) : m.toFixed(0);
}
