/**
 * Shared helpers of the kernel tests: convolution cases and a tolerance check that names the
 * worst element.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Rng } from "../../lib/rng.ts";

/** One convolution geometry under test (NHWC, square stride). */
export interface ConvCase {
  /** Batch size. */
  batch: number;
  /** Input [height, width]. */
  size: [number, number];
  /** Input channels. */
  inC: number;
  /** Output channels. */
  outC: number;
  /** Filter [height, width]. */
  kernel: [number, number];
  /** Stride (both axes). */
  stride: number;
  /** tfjs padding: a number (symmetric), "same" or "valid". */
  pad: number | "same" | "valid";
}

/**
 * The convolution cases every conv kernel test runs (WebGPU and wasm): odd shapes, strides 1 and 2, explicit / same / valid padding, 1×1, 3×3, 7×7 and 2×3 filters.
 */
export const CONV_CASES: ConvCase[] = [
  { batch: 2, size: [9, 7], inC: 3, outC: 5, kernel: [3, 3], stride: 1, pad: 1 },
  { batch: 1, size: [11, 11], inC: 5, outC: 7, kernel: [3, 3], stride: 2, pad: 1 },
  { batch: 3, size: [8, 8], inC: 16, outC: 33, kernel: [1, 1], stride: 1, pad: 0 },
  { batch: 2, size: [9, 9], inC: 17, outC: 8, kernel: [1, 1], stride: 2, pad: 0 },
  { batch: 2, size: [13, 15], inC: 3, outC: 64, kernel: [7, 7], stride: 2, pad: 3 },
  { batch: 1, size: [10, 9], inC: 6, outC: 4, kernel: [7, 7], stride: 1, pad: 3 },
  { batch: 1, size: [6, 5], inC: 70, outC: 66, kernel: [3, 3], stride: 1, pad: "same" },
  { batch: 2, size: [9, 8], inC: 5, outC: 6, kernel: [3, 3], stride: 2, pad: "same" },
  { batch: 2, size: [7, 7], inC: 4, outC: 3, kernel: [2, 3], stride: 2, pad: "valid" },
  { batch: 3, size: [5, 6], inC: 2, outC: 3, kernel: [3, 3], stride: 1, pad: "valid" },
  // Even filters with "same": asymmetric padding (more at the bottom / right).
  { batch: 2, size: [6, 7], inC: 3, outC: 4, kernel: [2, 4], stride: 1, pad: "same" },
  { batch: 1, size: [9, 8], inC: 4, outC: 5, kernel: [4, 2], stride: 2, pad: "same" },
];

/** A short label for assertion messages. */
export function describeCase(c: ConvCase): string {
  return `b${c.batch} ${c.size.join("x")}x${c.inC} -> ${c.outC}, k${c.kernel.join("x")} ` +
    `s${c.stride} pad ${c.pad}`;
}

/** Uniform(-1, 1) values. */
export function randomArray(rng: Rng, n: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), -1, 1);
}

/**
 * Asserts |got − want| <= tol · max(1, |want|) element-wise (absolute for small values, relative
 * for large ones).
 */
export function assertClose(got: Float32Array, want: Float32Array, tol: number, label: string) {
  assert.equal(got.length, want.length, `${label}: length ${got.length} != ${want.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(err <= worstErr)) {
      worstErr = Number.isNaN(err) ? Infinity : err;
      worst = i;
    }
  }
  assert.ok(
    worstErr <= tol,
    `${label}: element ${worst} got ${got[worst]} want ${want[worst]} (rel err ${worstErr})`,
  );
}
