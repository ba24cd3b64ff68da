import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { inceptionV3 } from "../lib/backbones/inception_v3.ts";
import { resnet18, resnet34 } from "../lib/backbones/resnet.ts";
import { tinycnn } from "../lib/backbones/small_cnn.ts";
import { xception } from "../lib/backbones/xception.ts";
import type { Backbone } from "../lib/backbones/types.ts";
import { initBackend } from "../lib/backend.ts";
import { ForwardContext } from "../lib/nn.ts";
import { encodeSafetensors, type NamedArray, readSafetensors } from "../lib/safetensors.ts";
import { exportStateDict } from "../lib/state_dict.ts";
import { applyWeights, loadWeights, normaliseStateDictNames, saveWeights } from "../lib/weights.ts";

await initBackend("cpu");

const dir = await Deno.makeTempDir({ prefix: "weights_test_" });
const path = (name: string) => `${dir}/${name}`;

async function logits(m: Backbone, size: number): Promise<Float32Array> {
  const x = tf.randomNormal([2, size, size, 3], 0, 1, "float32", 11) as tf.Tensor4D;
  const out = m.forward(x, new ForwardContext(false));
  const v = (await out.logits.data()) as Float32Array;
  tf.dispose([x, out.logits, out.taps.paper, out.taps.standard]);
  return v;
}

async function withModels<T>(models: Backbone[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const m of models) m.store.dispose();
  }
}

Deno.test("saveWeights → loadWeights round-trips every tensor (BN stats, I64 counters)", async () => {
  const a = resnet18.build({ seed: 1, inputSize: 32 });
  const b = resnet18.build({ seed: 2, inputSize: 32 });
  await withModels([a, b], async () => {
    // Move running stats and counters off their initial values with a training-mode forward.
    const ctx = new ForwardContext(true);
    tf.tidy(() => {
      a.forward(tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D, ctx);
    });
    ctx.applyUpdates();
    await saveWeights(a, path("r18.safetensors"));
    const file = await readSafetensors(path("r18.safetensors"));
    assert.equal(file.metadata.network, "resnet18");
    assert.equal(file.metadata.format, "pt");
    assert.equal(file.tensors.get("bn1.num_batches_tracked")!.dtype, "I64");
    assert.equal(file.tensors.get("bn1.num_batches_tracked")!.data[0], 1);
    assert.deepEqual(file.tensors.get("conv1.weight")!.shape, [64, 3, 7, 7]);
    assert.deepEqual(file.tensors.get("fc.weight")!.shape, [2, 512]);
    assert.notDeepEqual(await logits(a, 32), await logits(b, 32));
    const report = await loadWeights(b, path("r18.safetensors"));
    assert.equal(report.loaded, a.store.entries.size);
    assert.deepEqual(report.skipped, []);
    const [sa, sb] = [await exportStateDict(a.store), await exportStateDict(b.store)];
    for (const [k, t] of sa) assert.deepEqual(sb.get(k)!.data, t.data, k);
    assert.deepEqual(await logits(b, 32), await logits(a, 32));
  });
});

Deno.test("paper-style names: DataParallel 'module.', FF++ 'model.' + last_linear, legacy DenseNet", () => {
  const t = (shape: number[]): NamedArray => ({ shape, data: new Float32Array(shape[0] ?? 1) });
  const known = new Set(["conv1.weight", "fc.weight", "fc.bias", "block1.rep.0.pointwise.weight"]);
  const ff = normaliseStateDictNames(
    new Map([
      ["model.conv1.weight", t([4])],
      ["model.last_linear.weight", t([2])],
      ["model.last_linear.bias", t([2])],
      ["model.block1.rep.0.pointwise.weight", t([8, 4])],
    ]),
    known,
  );
  assert.deepEqual([...ff.tensors.keys()], [
    "conv1.weight",
    "fc.weight",
    "fc.bias",
    "block1.rep.0.pointwise.weight",
  ]);
  assert.equal(ff.renamed, 4);
  // Cadene's ImageNet file stores pointwise kernels as [out, in]; torch's are [out, in, 1, 1].
  assert.deepEqual(ff.tensors.get("block1.rep.0.pointwise.weight")!.shape, [8, 4, 1, 1]);
  const dp = normaliseStateDictNames(new Map([["module.fc.weight", t([2])]]), known);
  assert.deepEqual([...dp.tensors.keys()], ["fc.weight"]);
  const legacy = normaliseStateDictNames(
    new Map([["features.denseblock1.denselayer1.norm.1.weight", t([1])]]),
    known,
  );
  assert.deepEqual([...legacy.tensors.keys()], ["features.denseblock1.denselayer1.norm1.weight"]);
  // A prefix that only some names carry is left alone.
  const mixed = normaliseStateDictNames(
    new Map([["model.fc.weight", t([2])], ["conv1.weight", t([4])]]),
    known,
  );
  assert.deepEqual([...mixed.tensors.keys()], ["model.fc.weight", "conv1.weight"]);
});

Deno.test("a FaceForensics++ Xception checkpoint (model.*, last_linear) loads into xception", async () => {
  const a = xception.build({ seed: 1, inputSize: 29 });
  const b = xception.build({ seed: 2, inputSize: 29 });
  await withModels([a, b], async () => {
    const sd = await exportStateDict(a.store);
    const paper = new Map(
      [...sd].map(([k, v]) => [`model.${k.replace(/^fc\./, "last_linear.")}`, v]),
    );
    const report = applyWeights(b, paper, {}, "final_model.safetensors");
    assert.equal(report.renamed, sd.size);
    assert.deepEqual(await logits(b, 29), await logits(a, 29));
  });
});

Deno.test("errors: missing file, another architecture, network metadata, unreadable dtype", async () => {
  const r18 = resnet18.build({ seed: 1, inputSize: 32 });
  const r34 = resnet34.build({ seed: 1, inputSize: 32 });
  await withModels([r18, r34], async () => {
    await assert.rejects(
      loadWeights(r18, path("nope.safetensors")),
      /nope\.safetensors: cannot read weights file/,
    );
    const sd34 = await exportStateDict(r34.store);
    const sd18 = await exportStateDict(r18.store);
    // ResNet18 weights into ResNet34: the first tensor ResNet34 has and the file lacks.
    assert.throws(
      () => applyWeights(r34, sd18, {}, "r18.safetensors"),
      /r18\.safetensors: missing tensor "layer1\.2\.conv1\.weight" \(expected shape \[64,64,3,3\]\)/,
    );
    // ResNet34 weights into ResNet18: the first name ResNet18 does not have.
    assert.throws(
      () => applyWeights(r18, sd34, {}, "r34.safetensors"),
      /r34\.safetensors: unexpected tensor "layer1\.2\.conv1\.weight"/,
    );
    // Same names, another shape: the tensor and both shapes.
    const wide = new Map(sd18);
    wide.set("layer2.0.conv1.weight", { shape: [128, 64, 5, 5], data: new Float32Array(204800) });
    assert.throws(
      () => applyWeights(r18, wide, {}, "wide.safetensors"),
      /wide\.safetensors: tensor "layer2\.0\.conv1\.weight" has shape \[128,64,5,5\] but the network expects \[128,64,3,3\]/,
    );
    // Nothing was assigned by the failed imports.
    assert.deepEqual(
      (await exportStateDict(r18.store)).get("layer2.0.conv1.weight")!.data,
      sd18.get("layer2.0.conv1.weight")!.data,
    );
    await saveWeights(r34, path("r34.safetensors"));
    await assert.rejects(
      loadWeights(r18, path("r34.safetensors")),
      /r34\.safetensors: weights of network "resnet34" cannot load into "resnet18"/,
    );
    // A dtype the kit cannot read (float8).
    const bytes = encodeSafetensors(
      new Map([["fc.bias", { shape: [2], data: new Float32Array(2) }]]),
    );
    const text = new TextDecoder().decode(bytes);
    const f8 = new TextEncoder().encode(text.replace('"dtype":"F32"', '"dtype":"F8E4"'));
    await Deno.writeFile(path("f8.safetensors"), f8);
    await assert.rejects(
      loadWeights(r18, path("f8.safetensors")),
      /f8\.safetensors: tensor "fc\.bias" has dtype F8E4, which the kit cannot read/,
    );
    await Deno.writeFile(
      path("meta.safetensors"),
      encodeSafetensors(sd18, { transform_input: "true" }),
    );
    await assert.rejects(
      loadWeights(r18, path("meta.safetensors")),
      /meta\.safetensors: metadata transform_input=true, but resnet18 has no transform_input/,
    );
  });
});

Deno.test("newHead: ImageNet-style 1000-class weights load with a fresh 2-class head", async () => {
  const r18 = resnet18.build({ seed: 1, inputSize: 32 });
  const src = resnet18.build({ seed: 5, inputSize: 32, numClasses: 1000 });
  await withModels([r18, src], async () => {
    const sd = await exportStateDict(src.store);
    assert.throws(
      () => applyWeights(r18, sd, {}, "imagenet.safetensors"),
      /tensor "fc\.weight" has shape \[1000,512\] but the network expects \[2,512\]/,
    );
    const head = await r18.store.get("fc.weight").data();
    const report = applyWeights(r18, sd, {}, "imagenet.safetensors", { newHead: true });
    assert.deepEqual(report.skipped, ["fc.weight", "fc.bias"]);
    assert.deepEqual(await r18.store.get("fc.weight").data(), head);
    assert.deepEqual(
      await r18.store.get("layer4.1.conv2.weight").data(),
      await src.store.get("layer4.1.conv2.weight").data(),
    );
  });
});

Deno.test("InceptionV3: AuxLogits skipped, transform_input metadata sets and exports the flag", async () => {
  const m = inceptionV3.build({ seed: 1, inputSize: 75 });
  await withModels([m], async () => {
    const sd = await exportStateDict(m.store);
    const fc = sd.get("fc.weight")!.data.slice();
    sd.set("AuxLogits.fc.weight", { shape: [1000, 768], data: new Float32Array(768000) });
    sd.set("fc.weight", { shape: [2, 2048], data: fc.map((v) => v + 1) });
    await Deno.writeFile(path("inc.safetensors"), encodeSafetensors(sd));
    await Deno.writeFile(
      path("inc_off.safetensors"),
      encodeSafetensors(sd, { transform_input: "false" }),
    );
    // On by default (the paper's); metadata turns it off, and on again.
    assert.equal(m.transformInput, true);
    const off = await loadWeights(m, path("inc_off.safetensors"));
    assert.equal(off.transformInput, false);
    assert.equal(m.transformInput, false);
    await saveWeights(m, path("inc_off2.safetensors"));
    assert.equal(
      (await readSafetensors(path("inc_off2.safetensors"))).metadata.transform_input,
      "false",
    );
    sd.delete("AuxLogits.fc.weight");
    await Deno.writeFile(
      path("inc_on.safetensors"),
      encodeSafetensors(sd, { transform_input: "true" }),
    );
    assert.equal((await loadWeights(m, path("inc_on.safetensors"))).transformInput, true);
    // No metadata leaves the flag as it is (a fresh build: on).
    m.transformInput = false;
    const report = await loadWeights(m, path("inc.safetensors"));
    assert.deepEqual(report.skipped, ["AuxLogits.fc.weight"]);
    assert.equal(report.transformInput, false);
    m.transformInput = true;
    const loaded = (await exportStateDict(m.store)).get("fc.weight")!.data;
    assert.deepEqual(loaded, fc.map((v) => v + 1));
    await saveWeights(m, path("inc2.safetensors"));
    assert.equal(
      (await readSafetensors(path("inc2.safetensors"))).metadata.transform_input,
      "true",
    );
    await Deno.writeFile(
      path("bad.safetensors"),
      encodeSafetensors(new Map(), { transform_input: "maybe" }),
    );
    await assert.rejects(
      loadWeights(m, path("bad.safetensors")),
      /bad\.safetensors: metadata transform_input="maybe" is not true\/false/,
    );
  });
});

Deno.test("a kit checkpoint loads as weights (optimizer.* skipped, network checked)", async () => {
  const a = tinycnn.build({ seed: 1 });
  const b = tinycnn.build({ seed: 2 });
  await withModels([a, b], async () => {
    const sd = await exportStateDict(a.store);
    sd.set("optimizer.momentum_buffer.fc.weight", { shape: [2, 8], data: new Float32Array(16) });
    const meta = {
      cyborg: JSON.stringify({ format: "cyborg-kit-checkpoint/1", network: "tinycnn" }),
    };
    const report = applyWeights(b, sd, meta, "best.safetensors");
    assert.deepEqual(report.skipped, ["optimizer.momentum_buffer.fc.weight"]);
    assert.deepEqual(await logits(b, 16), await logits(a, 16));
    const other = { cyborg: JSON.stringify({ network: "smallcnn" }) };
    assert.throws(
      () => applyWeights(b, sd, other, "best.safetensors"),
      /best\.safetensors: weights of network "smallcnn" cannot load into "tinycnn"/,
    );
  });
});

Deno.test("an input size the network cannot take is refused at build time", () => {
  assert.throws(
    () => inceptionV3.build({ seed: 0, inputSize: 74 }),
    /inputSize: inception_v3 cannot take 74x74 images \(needs an integer of at least 75 px/,
  );
});

Deno.test({
  name: "cleanup",
  fn: async () => await Deno.remove(dir, { recursive: true }),
});
