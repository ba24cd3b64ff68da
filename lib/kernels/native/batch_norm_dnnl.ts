/**
 * The kit's training batch-norm kernels (`KitBatchNormStats`, `KitBatchNormApply`,
 * `KitBatchNormBackReduce`, `KitBatchNormBackDx`; lib/kernels/batch_norm_train.ts) for the wasm
 * backend through oneDNN's batch normalization ({@linkcode dnnlBatchNorm}: threaded, vectorised)
 * on the wasm heap's memory, wrapping the wasm kernels (JavaScript loops, one thread), which keep
 * the calls oneDNN does not serve. Float32 sums in oneDNN's order instead of the wasm kernels'
 * float64 ones: within 1e-5 relative of them (tested against the cpu backend).
 *
 * @module
 */
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "../wasm/wasm_types.ts";
import { type BnStep, dnnlBatchNorm } from "./onednn.ts";

function rowsAndChannels(x: TensorInfo): { rows: number; c: number } {
  const c = x.shape[x.shape.length - 1];
  return { c, rows: x.shape.reduce((a, b) => a * b, 1) / c };
}

function make(step: BnStep, outShape: (x: TensorInfo, c: number) => number[]) {
  return (wrapped: KernelFunc): KernelFunc => (args) => {
    const inputs = args.inputs as Record<string, TensorInfo>;
    const { x } = inputs;
    if (Object.values(inputs).some((t) => t.dtype !== "float32")) return wrapped(args);
    const { rows, c } = rowsAndChannels(x);
    const wb = args.backend as unknown as WasmBackendLike;
    const out = wb.makeOutput(outShape(x, c), "float32");
    const view = (t?: TensorInfo) => t && heapF32(wb, t);
    const eps = (args.attrs as { eps?: number } | undefined)?.eps ?? 0;
    const done = dnnlBatchNorm(step, rows, c, eps, {
      x: heapF32(wb, x),
      out: heapF32(wb, out),
      stats: view(inputs.stats),
      dy: view(inputs.dy),
      gamma: view(inputs.gamma),
      beta: view(inputs.beta),
    });
    if (done) return out;
    wb.disposeData(out.dataId, true);
    return wrapped(args);
  };
}

/** `KitBatchNormStats` ([μ; σ²]). */
export const makeBnStatsDnnl = make("stats", (_x, c) => [2, c]);
/** `KitBatchNormApply` (the normalised, scaled and shifted x). */
export const makeBnApplyDnnl = make("apply", (x) => x.shape);
/** `KitBatchNormBackReduce` ([Σdy; Σdy·(x − μ)]). */
export const makeBnBackReduceDnnl = make("reduce", (_x, c) => [2, c]);
/** `KitBatchNormBackDx` (the input gradient). */
export const makeBnBackDxDnnl = make("dx", (x) => x.shape);
