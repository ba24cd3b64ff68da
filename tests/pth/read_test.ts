import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { tinycnn } from "../../lib/backbones/small_cnn.ts";
import type { Backbone } from "../../lib/backbones/types.ts";
import { initBackend } from "../../lib/backend.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { decodePth, readPth } from "../../lib/pth/mod.ts";
import { PickleWriter } from "../../lib/pth/pickle.ts";
import { writeZip } from "../../lib/pth/zip.ts";
import { readSafetensors } from "../../lib/safetensors.ts";
import { loadWeights, readWeightsFile } from "../../lib/weights.ts";

await initBackend("cpu");

const FIX = new URL("../fixtures/pth/", import.meta.url).pathname;
const SENTINEL = "/tmp/cyborg_pth_evil_sentinel";
const dir = await Deno.makeTempDir({ prefix: "pth_read_test_" });

/** Every tensor of `ref` is in `got` with the same shape and bit-identical float32 values. */
function assertSameTensors(
  got: Map<string, { shape: number[]; data: Float32Array }>,
  ref: Map<string, { shape: number[]; data: Float32Array }>,
  what: string,
) {
  assert.deepEqual([...got.keys()], [...ref.keys()], `${what}: names in file order`);
  for (const [name, t] of ref) {
    const g = got.get(name)!;
    assert.deepEqual(g.shape, t.shape, `${what}: ${name} shape`);
    assert.deepEqual(g.data, t.data, `${what}: ${name} values`);
  }
}

Deno.test("zip and legacy .pth: every dtype, views, offsets and strides read as torch wrote them", async () => {
  const ref = (await readSafetensors(`${FIX}mixed.safetensors`)).tensors;
  for (const file of ["mixed.pth", "mixed_legacy.pth"]) {
    const pth = await readPth(`${FIX}${file}`);
    assertSameTensors(pth.tensors, ref, file);
    assert.deepEqual(pth.tensors.get("transposed")!.shape, [5, 6]);
    assert.deepEqual(pth.tensors.get("permuted")!.shape, [4, 2, 3]);
    assert.deepEqual(pth.tensors.get("scalar")!.shape, []);
    assert.deepEqual([...pth.tensors.get("offset_view")!.data.slice(0, 2)], [-0.5, -0.25]);
    assert.deepEqual([...pth.tensors.get("strided")!.data.slice(0, 3)], [-2.75, -2, -1.25]);
    assert.equal(pth.tensors.get("i64")!.data[2], 2 ** 40);
    assert.equal(pth.tensors.get("i64")!.dtype, "I64");
    assert.equal(pth.tensors.get("f16")!.dtype, "F16");
  }
});

Deno.test("tinycnn state_dicts: zip, legacy, module.-prefixed and the paper's checkpoint dict", async () => {
  const ref = (await readSafetensors(`${FIX}tinycnn_sd.safetensors`)).tensors;
  for (const file of ["tinycnn_sd.pth", "tinycnn_sd_legacy.pth", "tinycnn_ckpt.pth", "zip64.pth"]) {
    assertSameTensors((await readPth(`${FIX}${file}`)).tensors, ref, file);
  }
  const ckpt = await readPth(`${FIX}tinycnn_ckpt.pth`);
  assert.deepEqual(ckpt.metadata, { epoch: "3" }, "plain values of the checkpoint dict");
  assert.deepEqual(ckpt.skipped, []);
  const mod = await readPth(`${FIX}tinycnn_module.pth`);
  assert.deepEqual([...mod.tensors.keys()], [...ref.keys()].map((k) => `module.${k}`));
});

async function logits(m: Backbone): Promise<Float32Array> {
  const x = tf.randomNormal([2, 16, 16, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const out = m.forward(x, new ForwardContext(false));
  const v = (await out.logits.data()) as Float32Array;
  tf.dispose([x, out.logits, out.taps.paper, out.taps.standard]);
  return v;
}

Deno.test("loadWeights: every .pth form loads like the safetensors of the same state_dict (pre-0.4.1 files lack num_batches_tracked)", async () => {
  const ref = tinycnn.build({ seed: 1 });
  await loadWeights(ref, `${FIX}tinycnn_sd.safetensors`);
  const want = await logits(ref);
  ref.store.dispose();
  // A .pth under a safetensors name still loads: the magic bytes decide.
  await Deno.copyFile(`${FIX}tinycnn_sd.pth`, `${dir}/renamed.safetensors`);
  for (
    const file of [
      `${FIX}tinycnn_sd.pth`,
      `${FIX}tinycnn_sd_legacy.pth`,
      `${FIX}tinycnn_module.pth`,
      `${FIX}tinycnn_ckpt.pth`,
      `${dir}/renamed.safetensors`,
      `${FIX}tinycnn_old.pth`,
    ]
  ) {
    const m = tinycnn.build({ seed: 2 });
    try {
      const report = await loadWeights(m, file);
      assert.equal(report.loaded, file.endsWith("old.pth") ? 17 : 20, file);
      assert.equal(report.renamed, file.endsWith("module.pth") ? 20 : 0, file);
      assert.deepEqual(await logits(m), want, file);
    } finally {
      m.store.dispose();
    }
  }
});

Deno.test("malicious pickles (os.system via GLOBAL and STACK_GLOBAL) are refused; nothing runs", async () => {
  for (const file of ["evil_global.pth", "evil_stack_global.pth"]) {
    await Deno.remove(SENTINEL).catch(() => {});
    await assert.rejects(
      readWeightsFile(`${FIX}${file}`),
      new RegExp(`^Error: refused global posix\\.system in .*${file.replace(".", "\\.")}`),
    );
    const m = tinycnn.build({ seed: 1 });
    await assert.rejects(loadWeights(m, `${FIX}${file}`), /refused global posix\.system/);
    m.store.dispose();
    assert.equal(await Deno.stat(SENTINEL).then(() => true, () => false), false, "sentinel");
  }
});

/** A one-tensor zip checkpoint whose pickle is built by `build` (for malformed views). */
function checkpointWith(size: number[], stride: number[], offset: number): Uint8Array {
  const w = new PickleWriter().proto().op(0x7d).str("w"); // EMPTY_DICT, key
  w.global("torch._utils", "_rebuild_tensor_v2").op(0x28);
  w.op(0x28).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4)
    .op(0x74, 0x51);
  w.int(offset).intTuple(size).intTuple(stride).op(0x89).op(0x7d).op(0x74, 0x52);
  w.op(0x73, 0x2e); // SETITEM, STOP
  return writeZip([
    { name: "archive/data.pkl", data: w.bytes() },
    { name: "archive/data/0", data: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) },
  ]);
}

Deno.test("truncated and corrupt files each get a clear message naming the file", async () => {
  const zip = await Deno.readFile(`${FIX}tinycnn_sd.pth`);
  const legacy = await Deno.readFile(`${FIX}tinycnn_sd_legacy.pth`);
  const cases: [string, Uint8Array, RegExp][] = [
    ["zip cut in half", zip.slice(0, zip.length >> 1), /zip archive is truncated or damaged/],
    ["zip less 30 bytes", zip.slice(0, zip.length - 30), /truncated or damaged/],
    ["legacy cut in half", legacy.slice(0, legacy.length >> 1), /truncated file\?/],
    ["legacy cut in its pickle", legacy.slice(0, 200), /pickle ends early/],
    ["random bytes", crypto.getRandomValues(new Uint8Array(100)).fill(7, 0, 4), /not a PyTorch/],
  ];
  const flipped = zip.slice();
  flipped[zip.length >> 1] ^= 0xff; // inside some storage: its CRC-32 no longer matches
  cases.push(["flipped byte", flipped, /is corrupt \(CRC-32 mismatch\)/]);
  for (const [what, bytes, re] of cases) {
    assert.throws(() => decodePth(bytes, `bad-${what}.pth`), (e: Error) => {
      assert.match(e.message, re, what);
      assert.ok(e.message.startsWith(`bad-${what}.pth: `), `${what}: ${e.message}`);
      return true;
    });
  }
  await assert.rejects(
    readWeightsFile(`${FIX}deflated.pth`),
    /deflated\.pth: zip entry "tinycnn_sd\/data\.pkl" is compressed \(method 8\)/,
  );
  assert.throws(
    () => decodePth(checkpointWith([2, 3], [3, 1], 0), "view.pth"),
    /view\.pth: tensor "w" \(shape \[2,3\], offset 0, stride \[3,1\]\) reaches past its storage of 4 elements/,
  );
  assert.throws(
    () => decodePth(checkpointWith([2], [1], 3), "off.pth"),
    /reaches past its storage/,
  );
  assert.deepEqual([
    ...decodePth(checkpointWith([2, 2], [1, 2], 0), "ok.pth").tensors.get("w")!.data,
  ], [1, 3, 2, 4]);
  await assert.rejects(readPth(`${dir}/absent.pth`), /absent\.pth: cannot read weights file/);
  const otherZip = writeZip([{ name: "notes/a.txt", data: new Uint8Array([65]) }]);
  assert.throws(
    () => decodePth(otherZip, "x.zip"),
    /x\.zip: zip archive without <name>\/data\.pkl/,
  );
});

Deno.test("a ZIP64 end record is followed", async () => {
  const bytes = await Deno.readFile(`${FIX}zip64.pth`);
  const view = new DataView(bytes.buffer);
  const eocd = bytes.length - 22;
  assert.equal(view.getUint32(eocd, true), 0x06054b50);
  // Fields saying "see the ZIP64 record", as a writer of an archive over 4 GiB puts them.
  view.setUint16(eocd + 8, 0xffff, true);
  view.setUint16(eocd + 10, 0xffff, true);
  view.setUint32(eocd + 12, 0xffffffff, true);
  view.setUint32(eocd + 16, 0xffffffff, true);
  const ref = (await readSafetensors(`${FIX}tinycnn_sd.safetensors`)).tensors;
  assertSameTensors(decodePth(bytes, "zip64.pth").tensors, ref, "zip64 end record");
  view.setUint32(eocd - 20, 0, true); // the locator gone
  assert.throws(
    () => decodePth(bytes, "z.pth"),
    /z\.pth: zip archive is truncated or damaged \(ZIP64 locator missing\)/,
  );
});
