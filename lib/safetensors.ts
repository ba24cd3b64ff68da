/**
 * Reading and writing the safetensors format (8-byte little-endian header length, JSON header,
 * raw little-endian data), the exchange format with PyTorch (`safetensors.torch.save_file`).
 *
 * @module
 */
import { type Dtype, DTYPE_BYTES, elementReader } from "./dtypes.ts";

/** Element types the kit reads; everything is converted to float32 on read. */
export type SafetensorsDtype = Exclude<Dtype, "BOOL">;

/** One tensor as read from or written to a file. */
export interface NamedArray {
  /** Shape in the file's (torch) layout. */
  shape: number[];
  /** Values, converted to float32 on read. */
  data: Float32Array;
  /** Element type in the file. Written as F32 unless set to I64 (for integer buffers). */
  dtype?: SafetensorsDtype;
}

/** Contents of a safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in file order. */
  tensors: Map<string, NamedArray>;
  /** The `__metadata__` string map. */
  metadata: Record<string, string>;
}

/** The dtypes read from safetensors files (every {@linkcode Dtype} but BOOL). */
const READABLE: readonly SafetensorsDtype[] = [
  "F32",
  "F64",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U8",
];

/** Largest header accepted (the reference reader's limit is 100 MB). */
const MAX_HEADER = 100_000_000;

/** Parses safetensors bytes. `source` names the file in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${source}: not a safetensors file (too short)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen <= 0 || headerLen > MAX_HEADER) {
    throw new Error(`${source}: not a safetensors file (header length ${headerLen} out of range)`);
  }
  if (8 + headerLen > bytes.length) {
    throw new Error(
      `${source}: truncated safetensors file (a ${headerLen}-byte header announced, the file has ` +
        `${bytes.length} bytes)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`${source}: not a safetensors header (not JSON: ${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error(
      `${source}: not a safetensors header (expected a JSON object, got ${
        JSON.stringify(header).slice(0, 40)
      })`,
    );
  }
  const base = 8 + headerLen;
  const tensors = new Map<string, NamedArray>();
  const metadata = ((header as Record<string, unknown>).__metadata__ ?? {}) as Record<
    string,
    string
  >;
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const info = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (
      info === null || typeof info !== "object" || typeof info.dtype !== "string" ||
      !Array.isArray(info.shape) || !info.shape.every(isCount) ||
      !Array.isArray(info.data_offsets) || info.data_offsets.length !== 2 ||
      !info.data_offsets.every(isCount) || info.data_offsets[1] < info.data_offsets[0]
    ) {
      throw new Error(
        `${source}: not a safetensors header (entry "${name}" is not {dtype, shape, ` +
          `data_offsets}: ${JSON.stringify(raw)?.slice(0, 60)})`,
      );
    }
    const dtype = info.dtype as SafetensorsDtype;
    if (!READABLE.includes(dtype)) {
      throw new Error(
        `${source}: tensor "${name}" has dtype ${info.dtype}, which the kit cannot read ` +
          `(readable: ${READABLE.join(", ")})`,
      );
    }
    const [start, end] = info.data_offsets;
    const n = info.shape.reduce((a, b) => a * b, 1);
    if (end - start !== n * DTYPE_BYTES[dtype]) {
      throw new Error(`${source}: tensor "${name}" has inconsistent offsets [${start}, ${end}]`);
    }
    if (base + end > bytes.length) {
      throw new Error(
        `${source}: truncated safetensors file (tensor "${name}" ends at byte ${base + end}, ` +
          `the file has ${bytes.length})`,
      );
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base + start, end - start);
    const out = new Float32Array(n);
    const get = elementReader(dtype, dv, true);
    for (let i = 0; i < n; i++) out[i] = get(i);
    tensors.set(name, { shape: info.shape, data: out, dtype });
  }
  return { tensors, metadata };
}

/** Serialises tensors (F32, or I64 where `dtype` says so) and string metadata. */
export function encodeSafetensors(
  tensors: Map<string, NamedArray>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const dtype = t.dtype === "I64" ? "I64" : "F32";
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new Error(
        `encodeSafetensors: "${name}" has ${t.data.length} values for shape [${t.shape}]`,
      );
    }
    const size = n * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8; // align data to 8 bytes, as the reference writer does
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors.values()) {
    if (t.dtype === "I64") {
      for (let i = 0; i < t.data.length; i++, p += 8) {
        view.setBigInt64(p, BigInt(Math.round(t.data[i])), true);
      }
    } else {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
      p += t.data.byteLength;
    }
  }
  return out;
}

/** Reads a safetensors file, naming the file in every error. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read weights file: ${(e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, NamedArray>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeFile(tmp, encodeSafetensors(tensors, metadata));
  await Deno.rename(tmp, path);
}
