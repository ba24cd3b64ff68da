/**
 * A restricted unpickler for PyTorch checkpoints, and the few pickle opcodes the `.pth` writer
 * emits. Nothing is ever executed: the only globals understood are `collections.OrderedDict`, the
 * tensor rebuild functions of `torch._utils`, the `torch.*Storage` classes and the `torch` dtypes;
 * any other `GLOBAL` / `STACK_GLOBAL` / `INST` is refused with an error naming it. Calls
 * (`REDUCE`, `NEWOBJ`) are interpreted for these names only, as data constructors.
 *
 * Python values map to: `None` → null, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes → Uint8Array, list and tuple → array, dict and OrderedDict → Map,
 * set → Set, a tensor → {@linkcode TensorRef}, a persistent id → whatever `persistentLoad` returns.
 *
 * @module
 */
import type { Dtype } from "../dtypes.ts";

/** Element types of torch storages, by the safetensors-style names the kit uses. */
export type PthDtype = Dtype;

/** `torch.<X>Storage` class name → dtype. */
export const STORAGE_DTYPES: Readonly<Record<string, PthDtype>> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

const TORCH_DTYPES: Readonly<Record<string, PthDtype>> = {
  float32: "F32",
  float: "F32",
  float64: "F64",
  double: "F64",
  float16: "F16",
  half: "F16",
  bfloat16: "BF16",
  int64: "I64",
  long: "I64",
  int32: "I32",
  int: "I32",
  int16: "I16",
  short: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};

/** An allowed global, as a value (a storage class, a dtype, or a rebuild function). */
export class PyGlobal {
  /** @param module Python module @param name attribute */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage as named by a persistent id; resolved by the reader. */
export interface StorageRef {
  /** Storage key (zip: `data/<key>`; legacy: the key in the trailing list). */
  key: string;
  /** Element type (from the storage class). */
  dtype: PthDtype;
  /** Element count the pickle declares. */
  numel: number;
  /** Legacy view of another storage: that storage's key and the element offset. */
  viewOf?: { key: string; offset: number };
}

/** A tensor: a strided view into a storage. Values are read by `lib/pth/read.ts`. */
export class TensorRef {
  /**
   * @param storage the storage it views
   * @param offset storage offset in elements
   * @param shape sizes
   * @param stride strides in elements
   */
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** A Python value as the unpickler builds it (see the module notes). */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | TensorRef
  | PyGlobal
  | StorageRef;

/** Options of {@linkcode unpickle}. */
export interface UnpickleOptions {
  /** Names the file in errors. */
  source: string;
  /** Resolves a persistent id (`BINPERSID`). Without it, persistent ids are refused. */
  persistentLoad?: (pid: PyValue) => PyValue;
}

/** The result of {@linkcode unpickle}: the value and the byte after its STOP opcode. */
export interface Unpickled {
  /** The unpickled object. */
  value: PyValue;
  /** Offset just past the STOP opcode (the next pickle of a legacy file starts there). */
  end: number;
}

/** Whether `module.name` is a global this unpickler understands. */
function allowed(module: string, name: string): boolean {
  if (module === "collections" && name === "OrderedDict") return true;
  if (module === "torch._utils") {
    return [
      "_rebuild_tensor_v2",
      "_rebuild_tensor",
      "_rebuild_parameter",
      "_rebuild_parameter_with_state",
    ].includes(name);
  }
  if (module === "torch") return name in STORAGE_DTYPES || name in TORCH_DTYPES;
  return false;
}

const MARK = Symbol("mark");
type StackItem = PyValue | typeof MARK;

function intArray(v: PyValue, what: string, source: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isInteger(x))) {
    throw new Error(`${source}: ${what} is not a tuple of integers`);
  }
  return v as number[];
}

function asInt(v: PyValue, what: string, source: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new Error(`${source}: ${what} is not an integer`);
  }
  return v;
}

function rebuildTensor(args: PyValue[], source: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (
    !storage || typeof storage !== "object" || !("key" in storage) || !("dtype" in storage)
  ) {
    throw new Error(`${source}: a tensor's storage is not a storage reference`);
  }
  const shape = intArray(size, "a tensor's size", source);
  const strides = intArray(stride, "a tensor's stride", source);
  if (shape.length !== strides.length) {
    throw new Error(`${source}: a tensor has ${shape.length} sizes but ${strides.length} strides`);
  }
  return new TensorRef(
    storage as StorageRef,
    asInt(offset, "a tensor's storage offset", source),
    shape,
    strides,
  );
}

/** Applies an allowed callable to its arguments (data constructors only). */
function call(fn: PyValue, args: PyValue, source: string): PyValue {
  if (!(fn instanceof PyGlobal)) throw new Error(`${source}: pickle calls a non-callable value`);
  if (!Array.isArray(args)) throw new Error(`${source}: pickle call arguments are not a tuple`);
  const id = fn.toString();
  switch (id) {
    case "collections.OrderedDict": {
      const m = new Map<PyValue, PyValue>();
      const init = args[0];
      if (init instanceof Map) { for (const [k, v] of init) m.set(k, v); }
      else if (Array.isArray(init)) {
        for (const pair of init) {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw new Error(`${source}: OrderedDict items are not pairs`);
          }
          m.set(pair[0], pair[1]);
        }
      } else if (init !== undefined && init !== null) {
        throw new Error(`${source}: OrderedDict built from an unexpected value`);
      }
      return m;
    }
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor":
      return rebuildTensor(args, source);
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      if (!(args[0] instanceof TensorRef)) {
        throw new Error(`${source}: a Parameter wraps something other than a tensor`);
      }
      return args[0];
  }
  throw new Error(`${source}: pickle calls ${id}, which is not a constructor the kit allows`);
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/**
 * Unpickles one object starting at `start` (protocols 0–5 as far as state_dicts use them; see
 * the module notes for what is allowed). Errors name `opts.source` and the byte offset.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, start = 0): Unpickled {
  const source = opts.source;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let p = start;

  const need = (n: number) => {
    if (p + n > bytes.length) {
      throw new Error(`${source}: pickle ends early at byte ${bytes.length} (truncated file?)`);
    }
  };
  const u8 = () => (need(1), bytes[p++]);
  const u16 = () => (need(2), (p += 2), view.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), view.getUint32(p - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(bytes.length)) {
      throw new Error(`${source}: pickle length ${v} at byte ${p - 8} exceeds the file`);
    }
    return Number(v);
  };
  const take = (n: number) => (need(n), (p += n), bytes.subarray(p - n, p));
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw new Error(`${source}: pickle ends early inside a text line`);
    const s = latin1.decode(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return textDecoder.decode(b);
    } catch {
      throw new Error(`${source}: invalid UTF-8 string in pickle at byte ${p}`);
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new Error(`${source}: pickle stack underflow at ${p}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new Error(`${source}: pickle stack underflow at ${p}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw new Error(`${source}: pickle has no MARK to pop at byte ${p}`);
    const items = stack.splice(m + 1) as PyValue[];
    stack.pop(); // the MARK itself
    return items;
  };
  const global = (module: string, name: string): PyGlobal => {
    if (!allowed(module, name)) {
      throw new Error(
        `refused global ${module}.${name} in ${source} (a weights file may hold only tensors, ` +
          "storages, dicts and plain values; nothing was run)",
      );
    }
    return new PyGlobal(module, name);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof Map)) throw new Error(`${source}: SETITEM on a non-dict at byte ${p}`);
    for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const appendItems = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list)) throw new Error(`${source}: APPEND to a non-list at byte ${p}`);
    list.push(...items);
  };

  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new Error(`${source}: pickle protocol above 5 at byte ${at}`);
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: p };
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const m = new Map<PyValue, PyValue>();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw new Error(`${source}: ADDITEMS on a non-set at ${at}`);
        for (const v of items) s.add(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x49: { // INT (text; also True/False in protocol 0)
        const s = line();
        if (s === "01" || s === "00") stack.push(s === "01");
        else if (/^-?\d+$/.test(s)) stack.push(Number(s));
        else throw new Error(`${source}: bad INT "${s}" at byte ${at}`);
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().replace(/L$/, "");
        if (!/^-?\d+$/.test(s)) throw new Error(`${source}: bad LONG "${s}" at byte ${at}`);
        const v = BigInt(s);
        stack.push(
          v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(v)
            : v,
        );
        break;
      }
      case 0x8a: // LONG1
        stack.push(long(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(take(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text; plain ASCII names only)
        stack.push(line());
        break;
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(latin1.decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: { // GET
        const i = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(i)) throw new Error(`${source}: pickle reads memo ${i} before it is set`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          throw new Error(`${source}: STACK_GLOBAL without string names at byte ${at}`);
        }
        stack.push(global(module, name));
        break;
      }
      case 0x69: { // INST
        const module = line();
        global(module, line());
        throw new Error(`${source}: INST opcode at byte ${at} is not allowed`);
      }
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(call(pop(), args, source));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || cls.toString() !== "collections.OrderedDict") {
          throw new Error(`${source}: NEWOBJ of ${String(cls)} at byte ${at} is not allowed`);
        }
        stack.push(call(cls, args, source));
        break;
      }
      case 0x62: { // BUILD: state of an OrderedDict (`_metadata`) or a tensor is ignored
        pop();
        const obj = top();
        if (!(obj instanceof Map) && !(obj instanceof TensorRef)) {
          throw new Error(`${source}: BUILD on an unexpected object at byte ${at}`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw new Error(`${source}: unexpected persistent id`);
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (!opts.persistentLoad) throw new Error(`${source}: unexpected persistent id`);
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new Error(
          `${source}: pickle opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at} is ` +
            "not supported in a weights file (damaged file?)",
        );
    }
  }
}

/** Emits pickle protocol 2 (the subset `lib/pth/write.ts` needs). */
export class PickleWriter {
  #parts: number[] = [];
  #enc = new TextEncoder();

  /** Raw opcode bytes. */
  op(...codes: number[]): this {
    this.#parts.push(...codes);
    return this;
  }

  /** `PROTO 2`. */
  proto(): this {
    return this.op(0x80, 2);
  }

  /** `GLOBAL module\nname\n`. */
  global(module: string, name: string): this {
    this.op(0x63, ...this.#enc.encode(`${module}\n${name}\n`));
    return this;
  }

  /** A non-negative or negative int (BININT1 / BININT / LONG1). */
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new Error(`PickleWriter: ${v} is not a safe integer`);
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= -(2 ** 31) && v < 2 ** 31) {
      return this.op(0x4a, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    }
    let b = BigInt(v);
    const bytes: number[] = [];
    for (let i = 0; i < 8; i++, b >>= 8n) bytes.push(Number(b & 0xffn));
    return this.op(0x8a, 8, ...bytes);
  }

  /** A str (BINUNICODE). */
  str(s: string): this {
    const b = this.#enc.encode(s);
    const n = b.length;
    return this.op(0x58, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff, ...b);
  }

  /** A tuple of ints (`MARK ints TUPLE`, or EMPTY_TUPLE). */
  intTuple(values: number[]): this {
    if (values.length === 0) return this.op(0x29);
    this.op(0x28);
    for (const v of values) this.int(v);
    return this.op(0x74);
  }

  /** The bytes written so far. */
  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}
