/**
 * The kit's training batch-norm kernels (`KitBatchNormStats`, `KitBatchNormApply`,
 * `KitBatchNormBackReduce`, `KitBatchNormBackDx`; lib/kernels/batch_norm_train.ts) for the wasm
 * backend through oneDNN's batch normalization ({@linkcode dnnlBatchNorm}: threaded, vectorised)
 * on the wasm heap's memory, wrapping the wasm kernels (JavaScript loops, one thread), which keep
 * the calls oneDNN does not serve; and the fused `KitBatchNormForward` / `KitBatchNormBackward`
 * (one oneDNN pass each instead of two; batchNormTrain uses them where registered). Float32 sums in
 * oneDNN's order instead of the wasm kernels' float64 ones (tested against the cpu backend, 1e-4).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import {
  BN_APPLY,
  BN_BACK_DX,
  BN_BACK_REDUCE,
  BN_BACKWARD,
  BN_FORWARD,
  BN_STATS,
} from "../batch_norm_train.ts";
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

function fused(step: "forward" | "backward", separate: [string, string]): KernelFunc {
  return (args) => {
    const inputs = args.inputs as Record<string, TensorInfo>;
    const { x } = inputs;
    const wb = args.backend as unknown as WasmBackendLike;
    if (Object.values(inputs).every((t) => t.dtype === "float32")) {
      const { rows, c } = rowsAndChannels(x);
      const out = wb.makeOutput(x.shape, "float32");
      const out2 = wb.makeOutput([2, c], "float32");
      const view = (t?: TensorInfo) => t && heapF32(wb, t);
      const done = dnnlBatchNorm(step, rows, c, (args.attrs as { eps: number }).eps, {
        x: heapF32(wb, x),
        out: heapF32(wb, out),
        out2: heapF32(wb, out2),
        stats: view(inputs.stats),
        dy: view(inputs.dy),
        gamma: view(inputs.gamma),
        beta: view(inputs.beta),
      });
      if (done) return [out, out2];
      wb.disposeData(out.dataId, true);
      wb.disposeData(out2.dataId, true);
    }
    // The two separate kernels (the native ones, or the wasm ones they wrap).
    const run = (name: string, ins: Record<string, TensorInfo>) =>
      tf.getKernel(name, "wasm")!.kernelFunc({ ...args, inputs: ins }) as TensorInfo;
    if (step === "forward") {
      const stats = run(separate[0], { x });
      return [run(separate[1], { ...inputs, stats }), stats];
    }
    const red = run(separate[0], inputs);
    return [run(separate[1], { ...inputs, red }), red];
  };
}

/** `KitBatchNormForward` (`[y, stats]`) through one oneDNN pass. */
export const BN_FORWARD_DNNL: KernelConfig = {
  kernelName: BN_FORWARD,
  backendName: "wasm",
  kernelFunc: fused("forward", [BN_STATS, BN_APPLY]),
};

/** `KitBatchNormBackward` (`[dx, red]`) through one oneDNN pass. */
export const BN_BACKWARD_DNNL: KernelConfig = {
  kernelName: BN_BACKWARD,
  backendName: "wasm",
  kernelFunc: fused("backward", [BN_BACK_REDUCE, BN_BACK_DX]),
};
