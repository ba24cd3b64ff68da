import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../lib/safetensors.ts";

Deno.test("encode/decode round-trips F32 and I64 with metadata, 8-byte aligned data", () => {
  const tensors = new Map([
    ["a.weight", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) }],
    ["a.num_batches_tracked", { shape: [], data: Float32Array.from([7]), dtype: "I64" as const }],
  ]);
  const bytes = encodeSafetensors(tensors, { k: "v" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { k: "v" });
  assert.deepEqual(Array.from(back.tensors.get("a.weight")!.data), [1, 2, 3, 4, 5, -6.5]);
  assert.equal(back.tensors.get("a.num_batches_tracked")!.dtype, "I64");
  assert.equal(back.tensors.get("a.num_batches_tracked")!.data[0], 7);
});

function handMade(dtype: string, bytes: number[], shape: number[]): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ t: { dtype, shape, data_offsets: [0, bytes.length] } }),
  );
  const out = new Uint8Array(8 + header.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(bytes, 8 + header.length);
  return out;
}

Deno.test("reads F16 and BF16 (as PyTorch writes them)", () => {
  // 1.0 = 0x3c00 in f16; -2.0 = 0xc000 in bf16.
  assert.equal(decodeSafetensors(handMade("F16", [0x00, 0x3c], [1])).tensors.get("t")!.data[0], 1);
  assert.equal(
    decodeSafetensors(handMade("BF16", [0x00, 0xc0], [1])).tensors.get("t")!.data[0],
    -2,
  );
});

Deno.test("bad files: unknown dtype, truncated, garbage — errors name the file", async () => {
  assert.throws(
    () => decodeSafetensors(handMade("C64", [0, 0, 0, 0, 0, 0, 0, 0], [1]), "w.st"),
    /w\.st: tensor "t" has dtype C64, which the kit cannot read/,
  );
  assert.throws(
    () => decodeSafetensors(new Uint8Array(4), "x.st"),
    /x\.st: not a safetensors file/,
  );
  assert.throws(
    () => decodeSafetensors(handMade("F32", [0, 0], [1]), "y.st"),
    /y\.st: tensor "t" has inconsistent offsets/,
  );
  await assert.rejects(
    readSafetensors("/nonexistent/w.safetensors"),
    /\/nonexistent\/w\.safetensors: cannot read weights file/,
  );
});

Deno.test("writeSafetensors is atomic: no temporary file remains", async () => {
  const dir = await Deno.makeTempDir();
  await writeSafetensors(
    `${dir}/w.safetensors`,
    new Map([["x", { shape: [1], data: Float32Array.from([3]) }]]),
  );
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names, ["w.safetensors"]);
  assert.equal((await readSafetensors(`${dir}/w.safetensors`)).tensors.get("x")!.data[0], 3);
  await Deno.remove(dir, { recursive: true });
});

function withHeader(json: string, data = new Uint8Array(0)): Uint8Array {
  const header = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

Deno.test("bad files are named as what they are: not a safetensors header, truncated", () => {
  for (const json of ["null", "[1,2,3]", '"x"', '{"t": 5}', '{"t": {"dtype": "F32"}}', "{oops"]) {
    assert.throws(
      () => decodeSafetensors(withHeader(json), "h.st"),
      /^Error: h\.st: not a safetensors header/,
      json,
    );
  }
  const whole = encodeSafetensors(
    new Map([["w", { shape: [4], data: Float32Array.from([1, 2, 3, 4]) }]]),
  );
  // Cut inside the data, and inside the header.
  assert.throws(
    () => decodeSafetensors(whole.subarray(0, whole.length - 3), "t.st"),
    /t\.st: truncated safetensors file \(tensor "w" ends at byte \d+, the file has \d+\)/,
  );
  assert.throws(
    () => decodeSafetensors(whole.subarray(0, 20), "t.st"),
    /t\.st: truncated safetensors file \(a \d+-byte header announced, the file has 20 bytes\)/,
  );
});
