/**
 * Element types of weight files (safetensors names: `F32`, `BF16`, …), their sizes, and reading
 * one element of any of them as a number, shared by the safetensors and `.pth` readers.
 *
 * @module
 */

/** Element types the kit reads from weight files; everything becomes float32 on read. */
export type Dtype = "F32" | "F64" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const HALF_EXP = new Float32Array(32).map((_, e) => 2 ** (e - 15));

/** An IEEE 754 half-precision value (its 16 bits) as a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * HALF_EXP[e] * (1 + f / 1024);
}

/**
 * A function reading element `i` of `dtype` from `dv` (little-endian when `le`) as a number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { elementReader } from "./dtypes.ts";
 * const dv = new DataView(new Uint16Array([0x3c00, 0xc000]).buffer); // 1.0, -2.0 as F16
 * const get = elementReader("F16", dv, true);
 * assert.deepEqual([get(0), get(1)], [1, -2]);
 * ```
 */
export function elementReader(dtype: Dtype, dv: DataView, le: boolean): (i: number) => number {
  switch (dtype) {
    case "F32":
      return (i) => dv.getFloat32(i * 4, le);
    case "F64":
      return (i) => dv.getFloat64(i * 8, le);
    case "F16":
      return (i) => halfToFloat(dv.getUint16(i * 2, le));
    case "BF16": {
      const buf = new DataView(new ArrayBuffer(4));
      return (i) => (buf.setUint32(0, dv.getUint16(i * 2, le) << 16), buf.getFloat32(0));
    }
    case "I64":
      return (i) => Number(dv.getBigInt64(i * 8, le));
    case "I32":
      return (i) => dv.getInt32(i * 4, le);
    case "I16":
      return (i) => dv.getInt16(i * 2, le);
    case "I8":
      return (i) => dv.getInt8(i);
    case "U8":
    case "BOOL":
      return (i) => dv.getUint8(i);
  }
}
