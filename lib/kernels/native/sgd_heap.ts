/**
 * The kit's fused SGD kernels (`KitSgdBuffer`, `KitSgdParam`, lib/kernels/sgd_update.ts) for the
 * wasm backend, written straight onto the wasm heap: the output is allocated first, then one loop
 * reads the inputs' heap views and writes the output's, with the cpu kernels' arithmetic; tensors
 * of at least 64 Ki floats use OpenBLAS's threaded `scopy`/`saxpy` instead (the same terms, summed
 * in another order: within a float32 rounding of the loop), and with `inPlace` (`Sgd.step`) update
 * the buffer and the parameter over their own storage with `sscal`/`saxpy`, every pass threaded
 * (no copy; 13 → 11 passes over the parameters' size).
 * The generic wrapper (lib/kernels/wasm/cpu_kernels.ts) builds a JavaScript array and copies it
 * onto the heap; on ResNet50 (23.5 M parameters) that made the update ~40 % of a native-GEMM
 * training step (`deno task bench:train --backend wasm --backbone resnet50 --size 64 --batch 4`).
 *
 * @module
 */
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "../wasm/wasm_types.ts";
import { openBlas, saxpy, scopy, sscal } from "./openblas.ts";

/** Tensors at least this long go through OpenBLAS's threaded `scopy`/`saxpy`. */
const BLAS_MIN = 1 << 16;

interface RefCounting {
  refCount(dataId: object): number;
  incRef(dataId: object): void;
}

/**
 * With the `inPlace` attribute (the caller replaces `t` by the result: lib/kernels/sgd_update.ts),
 * a large float32 tensor whose storage no other tensor shares may be overwritten: returns it as
 * the result (one more reference to its storage), or null to allocate one.
 */
function inPlaceTarget(args: Parameters<KernelFunc>[0], t: TensorInfo): TensorInfo | null {
  const attrs = args.attrs as { inPlace?: boolean } | undefined;
  const b = args.backend as unknown as RefCounting;
  const n = t.shape.reduce((a, c) => a * c, 1);
  if (!attrs?.inPlace || n < BLAS_MIN || !openBlas() || b.refCount(t.dataId) !== 1) return null;
  b.incRef(t.dataId);
  return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
}

/** `buf' = momentum·buf + (g + wd·p)`. */
export function makeSgdBufferHeap(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { buf, g, p } = args.inputs as Record<string, TensorInfo>;
    if ([buf, g, p].some((t) => t.dtype !== "float32")) return fallback(args);
    const { momentum, weightDecay } = args.attrs as unknown as {
      momentum: number;
      weightDecay: number;
    };
    const wb = args.backend as unknown as WasmBackendLike;
    const same = inPlaceTarget(args, buf);
    if (same) {
      // buf ← momentum·buf + g + wd·p, every pass threaded
      const [bv, gv, pv] = [buf, g, p].map((t) => heapF32(wb, t));
      sscal(bv.length, momentum, bv);
      saxpy(bv.length, 1, gv, bv);
      saxpy(bv.length, weightDecay, pv, bv);
      return same;
    }
    const out = wb.makeOutput(p.shape, "float32");
    const [bv, gv, pv, ov] = [buf, g, p, out].map((t) => heapF32(wb, t));
    if (ov.length >= BLAS_MIN && openBlas()) {
      scopy(ov.length, gv, ov);
      saxpy(ov.length, weightDecay, pv, ov);
      saxpy(ov.length, momentum, bv, ov);
      return out;
    }
    for (let i = 0; i < ov.length; i++) {
      ov[i] = Math.fround(momentum * bv[i]) + Math.fround(gv[i] + weightDecay * pv[i]);
    }
    return out;
  };
}

/** `p' = p − lr·update` (`lr` a one-element tensor). */
export function makeSgdParamHeap(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { p, update, lr } = args.inputs as Record<string, TensorInfo>;
    if ([p, update, lr].some((t) => t.dtype !== "float32")) return fallback(args);
    const wb = args.backend as unknown as WasmBackendLike;
    const same = inPlaceTarget(args, p);
    if (same) {
      const [pv, uv, lv] = [p, update, lr].map((t) => heapF32(wb, t));
      saxpy(pv.length, -lv[0], uv, pv);
      return same;
    }
    const out = wb.makeOutput(p.shape, "float32");
    const [pv, uv, lv, ov] = [p, update, lr, out].map((t) => heapF32(wb, t));
    const l = lv[0];
    if (ov.length >= BLAS_MIN && openBlas()) {
      scopy(ov.length, pv, ov);
      saxpy(ov.length, -l, uv, ov);
      return out;
    }
    for (let i = 0; i < ov.length; i++) ov[i] = pv[i] - Math.fround(l * uv[i]);
    return out;
  };
}
