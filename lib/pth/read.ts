/**
 * Reading PyTorch checkpoints (`torch.save`) without Python: the zip format (torch ≥ 1.6:
 * `<name>/data.pkl`, `<name>/data/<key>`, optional `<name>/byteorder`) and the legacy format
 * (pickled magic number, protocol, sys_info, the object, the storage keys, then each storage as an
 * int64 element count and its raw bytes). The pickle goes through the restricted unpickler of
 * `pickle.ts`; tensors are materialised from their storages with offsets and strides, so views
 * and non-contiguous tensors come out as torch sees them, converted to float32.
 *
 * A checkpoint dict (`{'state_dict': …, 'optimizer': …, 'epoch': …}`, the paper's format) yields
 * its `state_dict`; its other plain values (epoch, …) become metadata strings, and the optimizer is
 * parsed but not materialised.
 *
 * @module
 */
import type { NamedArray, SafetensorsDtype } from "../safetensors.ts";
import {
  PyGlobal,
  type PyValue,
  STORAGE_DTYPES,
  type StorageRef,
  TensorRef,
  unpickle,
} from "./pickle.ts";
import { isZip, readZip } from "./zip.ts";
import { DTYPE_BYTES, elementReader } from "../dtypes.ts";

/** The pickled magic number that starts a legacy (pre-zip) checkpoint: LONG1 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = Uint8Array.from([
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
  0x2e,
]);

/** Which PyTorch format bytes are in, or null for neither. */
export function sniffPth(bytes: Uint8Array): "zip" | "legacy" | null {
  if (isZip(bytes)) return "zip";
  if (bytes.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => bytes[i] === b)) {
    return "legacy";
  }
  return null;
}

/** A parsed checkpoint: the unpickled object and the storages its tensors view. */
export interface PthArchive {
  /** The object `torch.save` was given. */
  root: PyValue;
  /** Raw storage bytes by key. */
  storages: Map<string, Uint8Array>;
  /** Byte order of the storages. */
  littleEndian: boolean;
  /** The file's format. */
  format: "zip" | "legacy";
}

/** Contents of a `.pth` file as the kit uses them. */
export interface PthFile {
  /** Tensors of the state_dict by name, in file order, float32 values in torch layout. */
  tensors: Map<string, NamedArray>;
  /** Plain top-level values of a checkpoint dict (`epoch`, …) as strings. */
  metadata: Record<string, string>;
  /** Names of state_dict entries that are not tensors (left out). */
  skipped: string[];
}

function storageFromPid(pid: PyValue, source: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
    throw new Error(`${source}: unexpected persistent id (not a torch storage)`);
  }
  const [, type, key, , numel] = pid;
  if (!(type instanceof PyGlobal) || !(type.name in STORAGE_DTYPES) || type.module !== "torch") {
    throw new Error(`${source}: persistent id names ${String(type)}, not a torch storage class`);
  }
  if (typeof key !== "string" || typeof numel !== "number") {
    throw new Error(`${source}: malformed storage persistent id`);
  }
  return { key, dtype: STORAGE_DTYPES[type.name], numel };
}

function parseZip(bytes: Uint8Array, source: string): PthArchive {
  const entries = readZip(bytes, source);
  const byName = new Map(entries.map((e) => [e.name, e.data]));
  const pkl = entries.find((e) => /^[^/]*\/data\.pkl$/.test(e.name));
  if (!pkl) {
    throw new Error(`${source}: zip archive without <name>/data.pkl: not a PyTorch checkpoint`);
  }
  const prefix = pkl.name.slice(0, -"data.pkl".length);
  const order = byName.get(`${prefix}byteorder`);
  const orderText = order ? new TextDecoder().decode(order).trim() : "little";
  if (orderText !== "little" && orderText !== "big") {
    throw new Error(`${source}: ${prefix}byteorder says "${orderText}"`);
  }
  const storages = new Map<string, Uint8Array>();
  const { value } = unpickle(pkl.data, {
    source,
    persistentLoad(pid) {
      const ref = storageFromPid(pid, source);
      const data = byName.get(`${prefix}data/${ref.key}`);
      if (!data) throw new Error(`${source}: storage ${prefix}data/${ref.key} is missing`);
      if (data.length % DTYPE_BYTES[ref.dtype] !== 0) {
        throw new Error(`${source}: storage ${prefix}data/${ref.key} has a partial element`);
      }
      storages.set(ref.key, data);
      return { ...ref, numel: data.length / DTYPE_BYTES[ref.dtype] };
    },
  });
  return { root: value, storages, littleEndian: orderText === "little", format: "zip" };
}

function parseLegacy(bytes: Uint8Array, source: string): PthArchive {
  const opts = { source };
  let p = unpickle(bytes, opts, 0).end; // magic number (checked by sniffPth)
  const protocol = unpickle(bytes, opts, p);
  if (protocol.value !== 1001) {
    throw new Error(`${source}: legacy checkpoint protocol ${String(protocol.value)} (want 1001)`);
  }
  const sysInfo = unpickle(bytes, opts, protocol.end);
  const littleEndian = !(sysInfo.value instanceof Map) ||
    sysInfo.value.get("little_endian") !== false;
  const roots = new Map<string, StorageRef>();
  const obj = unpickle(bytes, {
    source,
    persistentLoad(pid) {
      const ref = storageFromPid(pid, source);
      if (!roots.has(ref.key)) roots.set(ref.key, ref);
      const view = (pid as PyValue[])[5];
      if (Array.isArray(view)) {
        const [viewKey, offset] = view;
        if (typeof viewKey !== "string" || typeof offset !== "number") {
          throw new Error(`${source}: malformed storage view metadata`);
        }
        return { ...ref, key: viewKey, viewOf: { key: ref.key, offset } };
      }
      return ref;
    },
  }, sysInfo.end);
  const keys = unpickle(bytes, opts, obj.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    throw new Error(`${source}: legacy checkpoint storage key list is damaged`);
  }
  p = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Uint8Array>();
  for (const key of keys.value as string[]) {
    const ref = roots.get(key);
    if (!ref) throw new Error(`${source}: storage ${key} is listed but no tensor uses it`);
    if (p + 8 > bytes.length) {
      throw new Error(`${source}: file ends before storage ${key} (truncated file?)`);
    }
    const numel = Number(view.getBigInt64(p, littleEndian));
    const size = numel * DTYPE_BYTES[ref.dtype];
    if (numel < 0 || p + 8 + size > bytes.length) {
      throw new Error(
        `${source}: storage ${key} needs ${size} bytes but the file ends first (truncated file?)`,
      );
    }
    storages.set(key, bytes.subarray(p + 8, p + 8 + size));
    p += 8 + size;
  }
  // Legacy views share their root's bytes.
  return { root: obj.value, storages, littleEndian, format: "legacy" };
}

/** Parses a `.pth` file's structure (nothing is materialised yet). Errors name `source`. */
export function parsePth(bytes: Uint8Array, source: string): PthArchive {
  const format = sniffPth(bytes);
  if (format === "zip") return parseZip(bytes, source);
  if (format === "legacy") return parseLegacy(bytes, source);
  throw new Error(
    `${source}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle)`,
  );
}

/**
 * Materialises a tensor (any offset and strides) as a contiguous float32 array in torch layout.
 * Errors name `source` and the tensor when its view leaves its storage.
 */
export function materialise(
  t: TensorRef,
  archive: PthArchive,
  name: string,
  source: string,
): NamedArray {
  let { key, dtype } = t.storage;
  let base = t.offset;
  if (t.storage.viewOf) {
    base += t.storage.viewOf.offset;
    key = t.storage.viewOf.key;
  }
  const bytes = archive.storages.get(key);
  if (!bytes) throw new Error(`${source}: tensor "${name}": storage ${key} has no data`);
  const numel = bytes.length / DTYPE_BYTES[dtype];
  const shape = t.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (n > 0) {
    let last = base;
    for (let d = 0; d < shape.length; d++) {
      if (shape[d] < 0 || t.stride[d] < 0) {
        throw new Error(`${source}: tensor "${name}" has a negative size or stride`);
      }
      last += (shape[d] - 1) * t.stride[d];
    }
    if (base < 0 || last >= numel) {
      throw new Error(
        `${source}: tensor "${name}" (shape [${shape}], offset ${t.offset}, stride [${t.stride}]) ` +
          `reaches past its storage of ${numel} elements (damaged file?)`,
      );
    }
    const get = elementReader(
      dtype,
      new DataView(bytes.buffer, bytes.byteOffset, bytes.length),
      archive.littleEndian,
    );
    const rank = shape.length;
    const idx = new Array<number>(rank).fill(0);
    let pos = base;
    for (let i = 0; i < n; i++) {
      out[i] = get(pos);
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]++;
        pos += t.stride[d];
        if (idx[d] < shape[d]) break;
        pos -= idx[d] * t.stride[d];
        idx[d] = 0;
      }
    }
  }
  dtype = dtype === "BOOL" ? "U8" : dtype;
  return { shape: [...shape], data: out, dtype: dtype as SafetensorsDtype };
}

function describe(v: PyValue): string {
  if (v === null) return "None";
  if (v instanceof TensorRef) return "a tensor";
  if (v instanceof Map) return "a dict";
  if (Array.isArray(v)) return "a list or tuple";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/**
 * Decodes a `.pth` file into its state_dict's tensors (see the module notes for checkpoint dicts).
 * Errors name `source`.
 */
export function decodePth(bytes: Uint8Array, source: string): PthFile {
  const archive = parsePth(bytes, source);
  const root = archive.root;
  if (!(root instanceof Map)) {
    throw new Error(`${source}: holds ${describe(root)}, not a state_dict or checkpoint dict`);
  }
  let sd: Map<PyValue, PyValue> = root;
  const metadata: Record<string, string> = {};
  for (const key of ["state_dict", "model_state_dict"]) {
    const inner = root.get(key);
    if (inner instanceof Map) {
      sd = inner;
      for (const [k, v] of root) {
        if (typeof k !== "string" || k === key) continue;
        if (["string", "number", "boolean"].includes(typeof v)) metadata[k] = String(v);
      }
      break;
    }
  }
  const tensors = new Map<string, NamedArray>();
  const skipped: string[] = [];
  for (const [k, v] of sd) {
    if (typeof k === "string" && v instanceof TensorRef) {
      tensors.set(k, materialise(v, archive, k, source));
    } else skipped.push(String(k));
  }
  if (tensors.size === 0) throw new Error(`${source}: holds no tensors (not a state_dict?)`);
  return { tensors, metadata, skipped };
}

/** Reads a `.pth` / `.pt` file (see {@linkcode decodePth}). */
export async function readPth(path: string): Promise<PthFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read weights file: ${(e as Error).message}`);
  }
  return decodePth(bytes, path);
}
