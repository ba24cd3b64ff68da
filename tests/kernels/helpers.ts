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
