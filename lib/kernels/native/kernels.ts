/**
 * Convolution and matmul kernels for tfjs's wasm backend that run their GEMMs in native OpenBLAS
 * (`cblas_sgemm` through `Deno.dlopen`, {@linkcode sgemm}) on the wasm heap's memory, with no copy
 * of the tensors:
 *
 * - `Conv2D`: `y[rows = b·oy·ox, N] = col[rows, K = kh·kw·ci] · W[K, N]` (a 1×1, stride-1,
 *   unpadded convolution multiplies `x` itself);
 * - `Conv2DBackpropInput`: `dcol[rows, K] = dy[rows, N] · Wᵀ`, then col2im (each column entry
 *   added to the input pixel it came from);
 * - `Conv2DBackpropFilter`: `dW[K, N] = colᵀ · dy`, summed over chunks of whole images;
 * - `BatchMatMul`: one GEMM per batch entry (equal ranks; equal batch shapes, or one side's
 *   batch entries all 1).
 *
 * im2col and col2im run in JavaScript on a scratch `Float32Array` outside the wasm heap, in
 * chunks of whole images within {@linkcode columnBudget}; heap views are taken after every output
 * is allocated, and the heap does not grow while they are used. Each kernel wraps the one it
 * replaces and hands it the calls it does not serve (NCHW, dilations, non-float32, GEMMs
 * narrower than {@linkcode nativeMinDim}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { nhwcFloat32ConvInfo } from "../conv_info.ts";
import { columnBudget } from "../wasm/conv2d_backprop_filter.ts";
import { col2imAdd } from "../wasm/conv2d_backprop_input.ts";
import { maxPoolGradCall } from "../wasm/max_pool_grad.ts";
import { heapF32, type WasmBackendLike } from "../wasm/wasm_types.ts";
import { openBlas, sgemm } from "./openblas.ts";
import { type ConvKind, dnnlConv, dnnlMaxPoolGrad, dnnlMode } from "./onednn.ts";

let minDim = 32;

/**
 * Smallest GEMM side (output channels and `kh·kw·ci` for a convolution; each of M, N, K for a
 * matmul) served natively; narrower calls stay on the wrapped wasm kernel. Measured per call on 2
 * cores (ms wasm / native): minicnn's 3→8 and 8→16 convolutions are 0.2–0.9× as fast natively (JS
 * im2col and thread hand-off dominate skinny GEMMs), its 16→32 one 1.2–2.2×, ResNet50's 2–46×.
 */
export function nativeMinDim(): number {
  return minDim;
}

/** Sets {@linkcode nativeMinDim} (an integer >= 1; tests use 1); returns the previous value. */
export function setNativeMinDim(n: number): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`setNativeMinDim: expected an integer >= 1, got ${n}`);
  }
  const prev = minDim;
  minDim = n;
  return prev;
}

function wideEnough(info: backend_util.Conv2DInfo): boolean {
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  return info.outChannels >= minDim && k >= minDim;
}

let scratch = new Float32Array(0);

function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

function dilationOne(attrs: { dilations?: number | [number, number] }): boolean {
  const d = attrs.dilations ?? 1;
  return (typeof d === "number" ? d : Math.max(...d)) === 1;
}

/** True for a 1×1, stride-1, unpadded convolution (its im2col matrix is the input itself). */
function isPointwise(info: backend_util.Conv2DInfo): boolean {
  const p = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 &&
    info.strideWidth === 1 && p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0;
}

/**
 * Whether a convolution goes to oneDNN rather than OpenBLAS + the JavaScript im2col / col2im (when
 * both are loaded; with one of them, that one). Measured per call on ResNet50's shapes (CPU ms, one
 * thread, AVX2): oneDNN wins where the JavaScript copies dominate, i.e. short im2col runs (the
 * 3-channel 7×7 stem: 2.2–3.3× at 64 px, 2.0–3.0× at 224 px) and the col2im of the input gradient
 * of 3×3 convolutions with enough rows (1.3–3.5× at 224 px); OpenBLAS wins on 1×1 convolutions
 * (1.1–1.3×) and on the forward and filter gradients of the others (1.0–1.5×).
 */
export function preferDnnl(kind: ConvKind, info: backend_util.Conv2DInfo): boolean {
  if (info.filterWidth * info.inChannels < 64) return true;
  return kind === "backwardData" && !isPointwise(info) &&
    info.batchSize * info.outHeight * info.outWidth >= 256;
}

function useDnnl(kind: ConvKind, info: backend_util.Conv2DInfo): boolean {
  const m = dnnlMode();
  return m === "always" || (m === "auto" && (!openBlas() || preferDnnl(kind, info)));
}

function chunkImages(info: backend_util.Conv2DInfo): number {
  const rows = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  return Math.max(1, Math.min(info.batchSize, Math.floor(columnBudget() / Math.max(1, rows * k))));
}

/**
 * Row-major im2col of images `b0 … b0 + nb − 1`: row `(b − b0)·oH·oW + oy·oW + ox`, column
 * `(kh·fW + kw)·C + c`; zero where the window reads padding. Each (row, kh) copies one run of
 * `kw·C` contiguous input values.
 */
export function im2colRows(
  xv: Float32Array,
  col: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = FH * FW * C;
  const run = FW * C;
  for (let b = 0; b < nb; b++) {
    const img = (b0 + b) * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const base = ((b * OH + oy) * OW + ox) * K;
        const ix0 = ox * SW - left;
        const lo = Math.min(FW, Math.max(0, -ix0));
        const hi = Math.max(lo, Math.min(FW, W - ix0));
        for (let kh = 0; kh < FH; kh++) {
          const dst = base + kh * run;
          const iy = oy * SH + kh - top;
          if (iy < 0 || iy >= H) {
            col.fill(0, dst, dst + run);
            continue;
          }
          if (lo > 0) col.fill(0, dst, dst + lo * C);
          if (hi > lo) {
            const src = img + (iy * W + ix0 + lo) * C;
            col.set(xv.subarray(src, src + (hi - lo) * C), dst + lo * C);
          }
          if (hi < FW) col.fill(0, dst + hi * C, dst + run);
        }
      }
    }
  }
}

/** Frees `out` (allocated for a native path that declined) and runs the wrapped kernel. */
function stockInto(
  wb: WasmBackendLike,
  stock: KernelFunc,
  args: Parameters<KernelFunc>[0],
  out: TensorInfo,
) {
  wb.disposeData(out.dataId, true);
  return stock(args);
}

type ConvAttrsIn = tf.Conv2DAttrs & { dilations?: number | [number, number] };

/** `Conv2D` through OpenBLAS, wrapping `stock` for what it does not serve. */
export function makeConv2DNative(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrsIn;
    if (!dilationOne(attrs)) return stock(args);
    const info = nhwcFloat32ConvInfo(x.shape, filter.shape, attrs, [x, filter]);
    if (typeof info === "string" || !wideEnough(info)) return stock(args);
    const wb = args.backend as unknown as WasmBackendLike;
    const { batchSize: B, outHeight: OH, outWidth: OW, outChannels: N } = info;
    const K = info.filterHeight * info.filterWidth * info.inChannels;
    const out = wb.makeOutput([B, OH, OW, N], "float32");
    const xv = heapF32(wb, x);
    const wv = heapF32(wb, filter);
    const ov = heapF32(wb, out);
    if (useDnnl("forward", info) && dnnlConv("forward", info, xv, wv, ov)) return out;
    if (!openBlas()) return stockInto(wb, stock, args, out);
    if (isPointwise(info)) {
      sgemm(false, false, B * OH * OW, N, K, 1, xv, wv, 0, ov);
      return out;
    }
    const chunk = chunkImages(info);
    const perImage = OH * OW;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const nb = Math.min(chunk, B - b0);
      const rows = nb * perImage;
      const col = scratchOf(rows * K);
      im2colRows(xv, col, info, b0, nb);
      sgemm(false, false, rows, N, K, 1, col, wv, 0, ov.subarray(b0 * perImage * N));
    }
    return out;
  };
}

/** `Conv2DBackpropInput` through OpenBLAS, wrapping `stock` for what it does not serve. */
export function makeConv2DBackpropInputNative(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs & {
      dilations?: number | [number, number];
    };
    if (!dilationOne(attrs)) return stock(args);
    const info = nhwcFloat32ConvInfo(attrs.inputShape, filter.shape, attrs, [dy, filter]);
    if (typeof info === "string" || !wideEnough(info)) return stock(args);
    const wb = args.backend as unknown as WasmBackendLike;
    const { batchSize: B, outHeight: OH, outWidth: OW, outChannels: N, inChannels: C } = info;
    const K = info.filterHeight * info.filterWidth * C;
    const out = wb.makeOutput(attrs.inputShape as number[], "float32");
    const dyv = heapF32(wb, dy);
    const wv = heapF32(wb, filter);
    const dx = heapF32(wb, out);
    if (useDnnl("backwardData", info) && dnnlConv("backwardData", info, dyv, wv, dx)) return out;
    if (!openBlas()) return stockInto(wb, stock, args, out);
    if (isPointwise(info)) {
      sgemm(false, true, B * OH * OW, C, N, 1, dyv, wv, 0, dx);
      return out;
    }
    dx.fill(0);
    const chunk = chunkImages(info);
    const perImage = OH * OW;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const nb = Math.min(chunk, B - b0);
      const rows = nb * perImage;
      const col = scratchOf(rows * K);
      sgemm(false, true, rows, K, N, 1, dyv.subarray(b0 * perImage * N), wv, 0, col);
      col2imAdd(col, dx, info, b0, nb);
    }
    return out;
  };
}

/** `Conv2DBackpropFilter` through OpenBLAS, wrapping `stock` for what it does not serve. */
export function makeConv2DBackpropFilterNative(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs & {
      dilations?: number | [number, number];
    };
    if (!dilationOne(attrs)) return stock(args);
    const info = nhwcFloat32ConvInfo(x.shape, attrs.filterShape, attrs, [x, dy]);
    if (typeof info === "string" || !wideEnough(info)) return stock(args);
    const wb = args.backend as unknown as WasmBackendLike;
    const { batchSize: B, outHeight: OH, outWidth: OW, outChannels: N } = info;
    const K = info.filterHeight * info.filterWidth * info.inChannels;
    const out = wb.makeOutput(attrs.filterShape as number[], "float32");
    const xv = heapF32(wb, x);
    const dyv = heapF32(wb, dy);
    const dw = heapF32(wb, out);
    if (useDnnl("backwardWeights", info) && dnnlConv("backwardWeights", info, xv, dyv, dw)) {
      return out;
    }
    if (!openBlas()) return stockInto(wb, stock, args, out);
    if (isPointwise(info)) {
      sgemm(true, false, K, N, B * OH * OW, 1, xv, dyv, 0, dw);
      return out;
    }
    const chunk = chunkImages(info);
    const perImage = OH * OW;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const nb = Math.min(chunk, B - b0);
      const rows = nb * perImage;
      const col = scratchOf(rows * K);
      im2colRows(xv, col, info, b0, nb);
      sgemm(true, false, K, N, rows, 1, col, dyv.subarray(b0 * perImage * N), b0 === 0 ? 0 : 1, dw);
    }
    return out;
  };
}

/** `BatchMatMul` through OpenBLAS (equal batch shapes or one side unbatched), else `stock`. */
export function makeBatchMatMulNative(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    if (
      !openBlas() || a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 ||
      b.shape.length < 2
    ) {
      return stock(args);
    }
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
    const same = batchA.join() === batchB.join();
    if (
      Math.min(M, N, K) < minDim || ra !== rb || K !== Kb ||
      !(same || size(batchA) === 1 || size(batchB) === 1)
    ) {
      return stock(args);
    }
    const outBatch = batchA.map((d, i) => Math.max(d, batchB[i]));
    const wb = args.backend as unknown as WasmBackendLike;
    const out = wb.makeOutput([...outBatch, M, N], "float32");
    const av = heapF32(wb, a);
    const bv = heapF32(wb, b);
    const ov = heapF32(wb, out);
    const n = Math.max(size(batchA), size(batchB));
    const strideA = size(batchA) === 1 ? 0 : M * K;
    const strideB = size(batchB) === 1 ? 0 : K * N;
    for (let i = 0; i < n; i++) {
      sgemm(
        transposeA,
        transposeB,
        M,
        N,
        K,
        1,
        av.subarray(i * strideA),
        bv.subarray(i * strideB),
        0,
        ov.subarray(i * M * N),
      );
    }
    return out;
  };
}

/**
 * `MaxPoolGrad` through oneDNN's max pooling (threaded), wrapping `stock` (the kit's one-threaded
 * JavaScript kernel) for what it does not serve (dilations, non-float32, no oneDNN). Measured per
 * ResNet50 step at 224 px, batch 4: 49 CPU ms in the JavaScript kernel.
 */
export function makeMaxPoolGradNative(stock: KernelFunc): KernelFunc {
  return (args) => {
    const call = maxPoolGradCall(args);
    if (!call) return stock(args);
    const { info, wb, input, dy, out } = call;
    if (dnnlMaxPoolGrad(info, heapF32(wb, input), heapF32(wb, dy), heapF32(wb, out))) return out;
    return stockInto(wb, stock, args, out);
  };
}
