/**
 * The kit's fused batch-norm kernels (`lib/kernels/batch_norm_train.ts`) for the wasm backend,
 * written for row-major NHWC data: per-channel coefficients are computed once, then one pass over
 * the rows with the channel as the inner index (no per-element division, square root or modulo).
 * Same formulas and float64 accumulation as the cpu versions:
 *
 *     stats = [μ, σ²] (biased, two-pass);  y = (x − μ)·σ⁻¹·γ + β
 *     red = [Σdy, Σdy·(x − μ)];  dx = γσ⁻¹·dy − γσ⁻³·red₁/N·(x − μ) − γσ⁻¹·red₀/N
 *
 * The remaining kit kernels (dγ, running update, SGD) are small and run through
 * `lib/kernels/wasm/cpu_kernels.ts`.
 *
 * @module
 */
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { BN_APPLY, BN_BACK_DX, BN_BACK_REDUCE, BN_STATS } from "../batch_norm_train.ts";
import { heapF32, type WasmBackendLike } from "./wasm_types.ts";

function channels(x: TensorInfo): { c: number; rows: number } {
  const c = x.shape[x.shape.length - 1];
  return { c, rows: x.shape.reduce((a, b) => a * b, 1) / c };
}

/** Per-channel inverse standard deviation `1/√(σ² + eps)` from a [2, C] stats tensor. */
function invStd(sv: Float32Array, c: number, eps: number): Float64Array {
  const out = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) out[ch] = 1 / Math.sqrt(sv[c + ch] + eps);
  return out;
}

/** The wasm batch-norm kernels (statistics, apply, backward reduction, dx). */
export const WASM_BN_KERNELS: readonly KernelConfig[] = [
  {
    kernelName: BN_STATS,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const wb = backend as unknown as WasmBackendLike;
      const { x } = inputs as { x: TensorInfo };
      const { c, rows } = channels(x);
      const out = wb.makeOutput([2, c], "float32");
      const xv = heapF32(wb, x);
      const mean = new Float64Array(c);
      const sq = new Float64Array(c);
      for (let r = 0, i = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) mean[ch] += xv[i++];
      for (let ch = 0; ch < c; ch++) mean[ch] /= rows;
      for (let r = 0, i = 0; r < rows; r++) {
        for (let ch = 0; ch < c; ch++) {
          const d = xv[i++] - mean[ch];
          sq[ch] += d * d;
        }
      }
      const ov = heapF32(wb, out);
      for (let ch = 0; ch < c; ch++) {
        ov[ch] = mean[ch];
        ov[c + ch] = sq[ch] / rows;
      }
      return out;
    },
  },
  {
    kernelName: BN_APPLY,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wb = backend as unknown as WasmBackendLike;
      const { x, stats, gamma, beta } = inputs as Record<string, TensorInfo>;
      const { c, rows } = channels(x);
      const eps = (attrs as { eps: number }).eps;
      const out = wb.makeOutput(x.shape, "float32");
      const [xv, sv, gv, bv, ov] = [x, stats, gamma, beta, out].map((t) => heapF32(wb, t));
      const inv = invStd(sv, c, eps);
      const scale = new Float32Array(c);
      for (let ch = 0; ch < c; ch++) scale[ch] = inv[ch] * gv[ch];
      for (let r = 0, i = 0; r < rows; r++) {
        for (let ch = 0; ch < c; ch++, i++) ov[i] = (xv[i] - sv[ch]) * scale[ch] + bv[ch];
      }
      return out;
    },
  },
  {
    kernelName: BN_BACK_REDUCE,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const wb = backend as unknown as WasmBackendLike;
      const { x, dy, stats } = inputs as Record<string, TensorInfo>;
      const { c, rows } = channels(x);
      const out = wb.makeOutput([2, c], "float32");
      const [xv, gv, sv, ov] = [x, dy, stats, out].map((t) => heapF32(wb, t));
      const s0 = new Float64Array(c);
      const s1 = new Float64Array(c);
      for (let r = 0, i = 0; r < rows; r++) {
        for (let ch = 0; ch < c; ch++, i++) {
          s0[ch] += gv[i];
          s1[ch] += gv[i] * (xv[i] - sv[ch]);
        }
      }
      for (let ch = 0; ch < c; ch++) {
        ov[ch] = s0[ch];
        ov[c + ch] = s1[ch];
      }
      return out;
    },
  },
  {
    kernelName: BN_BACK_DX,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wb = backend as unknown as WasmBackendLike;
      const { x, dy, stats, red, gamma } = inputs as Record<string, TensorInfo>;
      const { c, rows } = channels(x);
      const eps = (attrs as { eps: number }).eps;
      const out = wb.makeOutput(x.shape, "float32");
      const [xv, gv, sv, rv, wv, ov] = [x, dy, stats, red, gamma, out].map((t) => heapF32(wb, t));
      const inv = invStd(sv, c, eps);
      const kdy = new Float32Array(c);
      const kx = new Float32Array(c);
      const k0 = new Float32Array(c);
      for (let ch = 0; ch < c; ch++) {
        const a = wv[ch] * inv[ch];
        const q = inv[ch] * inv[ch] * rv[c + ch] / rows;
        kdy[ch] = a;
        kx[ch] = -a * q;
        k0[ch] = -a * rv[ch] / rows;
      }
      for (let r = 0, i = 0; r < rows; r++) {
        for (let ch = 0; ch < c; ch++, i++) {
          ov[i] = kdy[ch] * gv[i] + kx[ch] * (xv[i] - sv[ch]) + k0[ch];
        }
      }
      return out;
    },
  },
];
