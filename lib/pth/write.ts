/**
 * Writing a state_dict as a PyTorch zip checkpoint (the format of `torch.save` since torch 1.6),
 * which `torch.load` reads and `load_state_dict(strict=True)` accepts: an `OrderedDict` of tensors
 * rebuilt by `torch._utils._rebuild_tensor_v2` from one storage each (`FloatStorage`, or
 * `LongStorage` for `dtype: "I64"` such as `num_batches_tracked`), stored uncompressed in
 * `archive/data/<i>` with `archive/data.pkl`, `archive/byteorder` and `archive/version`.
 *
 * @module
 */
import type { NamedArray } from "../safetensors.ts";
import { PickleWriter } from "./pickle.ts";
import { writeZip, type ZipEntry } from "./zip.ts";

function contiguousStrides(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d];
  }
  return stride;
}

/** Encodes tensors (torch names and layouts) as the bytes of a `.pth` zip checkpoint. */
export function encodePth(tensors: Map<string, NamedArray>): Uint8Array {
  const w = new PickleWriter().proto().global("collections", "OrderedDict").op(0x29, 0x52);
  const entries: ZipEntry[] = [];
  w.op(0x28); // MARK for SETITEMS
  let i = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new Error(`encodePth: "${name}" has ${t.data.length} values for shape [${t.shape}]`);
    }
    const long = t.dtype === "I64";
    const key = String(i++);
    let data: Uint8Array;
    if (long) {
      const b = new BigInt64Array(n);
      for (let j = 0; j < n; j++) b[j] = BigInt(Math.round(t.data[j]));
      data = new Uint8Array(b.buffer);
    } else {
      data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    }
    entries.push({ name: `archive/data/${key}`, data });
    w.str(name).global("torch._utils", "_rebuild_tensor_v2").op(0x28); // MARK (args)
    w.op(0x28).str("storage").global("torch", long ? "LongStorage" : "FloatStorage").str(key)
      .str("cpu").int(n).op(0x74, 0x51); // TUPLE, BINPERSID
    w.int(0).intTuple(t.shape).intTuple(contiguousStrides(t.shape)).op(0x89); // requires_grad
    w.global("collections", "OrderedDict").op(0x29, 0x52); // backward_hooks
    w.op(0x74, 0x52); // TUPLE, REDUCE
  }
  w.op(0x75, 0x2e); // SETITEMS, STOP
  const enc = new TextEncoder();
  return writeZip([
    { name: "archive/data.pkl", data: w.bytes() },
    { name: "archive/byteorder", data: enc.encode("little") },
    ...entries,
    { name: "archive/version", data: enc.encode("3\n") },
  ]);
}

/** Writes tensors as a `.pth` zip checkpoint, atomically (temporary file, then rename). */
export async function writePth(path: string, tensors: Map<string, NamedArray>): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeFile(tmp, encodePth(tensors));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${path}: cannot write weights: ${(e as Error).message}`);
  }
}
