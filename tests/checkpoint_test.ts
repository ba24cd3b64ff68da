import assert from "node:assert/strict";
import { tinycnn } from "../lib/backbones/small_cnn.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/checkpoint.ts";
import { Sgd } from "../lib/optim.ts";
import { readSafetensors } from "../lib/safetensors.ts";
import { exportStateDict } from "../lib/state_dict.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";
import { loadWeights } from "../lib/weights.ts";
import { forEachBackend } from "./_support/backends.ts";
import { fixtureBatch, fixtureModel, loadCyborgFixture } from "./_support/fixture.ts";

const fx = await loadCyborgFixture();
const meta = {
  format: "cyborg-kit-checkpoint/1",
  network: "tinycnn",
  epochsDone: 3,
  steps: 42,
  bestValAcc: 0.75,
  bestEpoch: 2,
  valAcc: 0.5,
  finished: false,
};

Deno.test("a checkpoint restores weights, BN statistics and momentum exactly", async () => {
  await forEachBackend(async () => {
    const dir = await Deno.makeTempDir();
    const a = fixtureModel(fx);
    const optA = new Sgd(a.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-6 });
    const acc = new StepAccumulators();
    const batch = fixtureBatch(fx);
    const o = { alpha: 0.5, camTap: "paper", camClass: "pred" } as const;
    trainStep(a, optA, batch, acc, o);
    await saveCheckpoint(`${dir}/c.safetensors`, a, optA, meta);
    // A fresh model and optimizer loaded from the file continue exactly like the original.
    const b = tinycnn.build({ seed: 99, inputSize: 16 });
    const optB = new Sgd(b.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-6 });
    assert.deepEqual(await loadCheckpoint(`${dir}/c.safetensors`, b, optB), meta);
    trainStep(a, optA, batch, acc, o);
    trainStep(b, optB, batch, acc, o);
    const [sa, sb] = [await exportStateDict(a.store), await exportStateDict(b.store)];
    for (const [k, v] of sa) assert.deepEqual(sb.get(k)!.data, v.data, k);
    // The file is a torch state dict: torch names and layouts, momentum under optimizer.*.
    const file = await readSafetensors(`${dir}/c.safetensors`);
    assert.deepEqual(file.tensors.get("features.0.conv.weight")!.shape, [4, 3, 3, 3]);
    assert.equal(file.tensors.get("features.0.bn.num_batches_tracked")!.dtype, "I64");
    assert.ok(file.tensors.has("optimizer.momentum_buffer.fc.weight"));
    await Deno.remove(dir, { recursive: true });
  });
});

Deno.test("a checkpoint records and restores transformInput (InceptionV3's transform_input)", async () => {
  const dir = await Deno.makeTempDir();
  const a = fixtureModel(fx);
  const b = fixtureModel(fx);
  try {
    await saveCheckpoint(`${dir}/plain.safetensors`, a, null, meta);
    assert.equal(
      (await readSafetensors(`${dir}/plain.safetensors`)).metadata.transform_input,
      undefined,
    );
    // A network with the option (set by hand on a small one: InceptionV3 is slow to save).
    a.transformInput = false;
    b.transformInput = true;
    await saveCheckpoint(`${dir}/c.safetensors`, a, null, meta);
    assert.equal((await readSafetensors(`${dir}/c.safetensors`)).metadata.transform_input, "false");
    await loadCheckpoint(`${dir}/c.safetensors`, b, null);
    assert.equal(b.transformInput, false);
    // Without the record (an older checkpoint) the model keeps its own value.
    b.transformInput = true;
    await loadCheckpoint(`${dir}/plain.safetensors`, b, null);
    assert.equal(b.transformInput, true);
  } finally {
    a.store.dispose();
    b.store.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loading a checkpoint of another architecture names the tensor and both shapes", async () => {
  const dir = await Deno.makeTempDir();
  const a = fixtureModel(fx);
  await saveCheckpoint(`${dir}/c.safetensors`, a, null, meta);
  const { plainCnnEntry } = await import("../lib/backbones/small_cnn.ts");
  const other = plainCnnEntry("other", [4, 16, 8], 16).build({ seed: 0 });
  await assert.rejects(
    loadCheckpoint(`${dir}/c.safetensors`, other, null),
    /c\.safetensors: tensor "features\.1\.conv\.weight" has shape \[8,4,3,3\] but the network expects \[16,4,3,3\]/,
  );
  await Deno.writeFile(`${dir}/plain.safetensors`, new Uint8Array(16));
  await assert.rejects(loadCheckpoint(`${dir}/plain.safetensors`, a, null), /plain\.safetensors/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("transform_input travels with a checkpoint (resume, scoring and --init-weights)", async () => {
  const dir = await Deno.makeTempDir();
  // tinycnn with the InceptionV3 option attached: what matters is the flag's round trip.
  const a = { ...tinycnn.build({ seed: 1, inputSize: 16 }), transformInput: true };
  const b = { ...tinycnn.build({ seed: 2, inputSize: 16 }), transformInput: false };
  const c = { ...tinycnn.build({ seed: 3, inputSize: 16 }), transformInput: false };
  try {
    await saveCheckpoint(`${dir}/c.safetensors`, a, null, meta);
    assert.equal((await readSafetensors(`${dir}/c.safetensors`)).metadata.transform_input, "true");
    await loadCheckpoint(`${dir}/c.safetensors`, b, null);
    assert.equal(b.transformInput, true);
    assert.equal((await loadWeights(c, `${dir}/c.safetensors`)).transformInput, true);
    a.transformInput = false;
    await saveCheckpoint(`${dir}/off.safetensors`, a, null, meta);
    // Off is written too: a model trained without it is scored without it.
    assert.equal(
      (await readSafetensors(`${dir}/off.safetensors`)).metadata.transform_input,
      "false",
    );
    await loadCheckpoint(`${dir}/off.safetensors`, b, null);
    assert.equal(b.transformInput, false);
  } finally {
    for (const m of [a, b, c]) m.store.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
