import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resnet18 } from "../../lib/backbones/resnet.ts";
import { tinycnn } from "../../lib/backbones/small_cnn.ts";
import type { Backbone } from "../../lib/backbones/types.ts";
import { initBackend } from "../../lib/backend.ts";
import { CHECKPOINT_FORMAT, saveCheckpoint } from "../../lib/checkpoint.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { decodePth, encodePth, readPth, readZip } from "../../lib/pth/mod.ts";
import { readSafetensors, writeSafetensors } from "../../lib/safetensors.ts";
import { Sgd } from "../../lib/optim.ts";
import { StepAccumulators, trainStep } from "../../lib/train_step.ts";
import { exportStateDict } from "../../lib/state_dict.ts";
import { loadWeights, saveWeights } from "../../lib/weights.ts";
import { exportBest } from "../../tools/train.ts";

await initBackend("cpu");

const dir = await Deno.makeTempDir({ prefix: "pth_write_test_" });
const CHECK = new URL("../../tools/fixtures/check_pth_export.py", import.meta.url).pathname;

/** A resnet18 whose BN statistics and counters moved off their initial values. */
function trainedResnet18(seed: number, size: number): Backbone {
  const m = resnet18.build({ seed, inputSize: size });
  const ctx = new ForwardContext(true);
  tf.tidy(() => {
    m.forward(tf.randomNormal([4, size, size, 3], 0, 1, "float32", seed) as tf.Tensor4D, ctx);
  });
  ctx.applyUpdates();
  return m;
}

/** A resnet18 trained by the kit: two CYBORG SGD steps (α = 0.5) on random images and maps. */
function kitTrainedResnet18(seed: number, size: number): Backbone {
  const m = resnet18.build({ seed, inputSize: size });
  const opt = new Sgd(m.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-6 });
  const acc = new StepAccumulators();
  const g = resnet18.spec.camGrid(size);
  const batch = {
    x: tf.randomNormal([4, size, size, 3], 0, 1, "float32", seed) as tf.Tensor4D,
    y: tf.tensor1d([0, 1, 1, 0], "int32"),
    maps: tf.randomUniform([4, g, g], 0, 1, "float32", seed + 1) as tf.Tensor3D,
    hasMap: tf.ones([4]) as tf.Tensor1D,
  };
  for (let i = 0; i < 2; i++) {
    trainStep(m, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
  }
  tf.dispose(Object.values(batch));
  opt.dispose();
  acc.dispose();
  return m;
}

async function forward(m: Backbone, x: tf.Tensor4D): Promise<Float32Array> {
  const out = m.forward(x, new ForwardContext(false));
  const v = (await out.logits.data()) as Float32Array;
  tf.dispose([out.logits, out.taps.paper, out.taps.standard]);
  return v;
}

Deno.test("encodePth → decodePth: every tensor bit for bit, int64 counters, 64-byte aligned data", async () => {
  const m = trainedResnet18(1, 32);
  try {
    const sd = await exportStateDict(m.store);
    const bytes = encodePth(sd);
    const back = decodePth(bytes, "r18.pth");
    assert.deepEqual([...back.tensors.keys()], [...sd.keys()]);
    for (const [k, t] of sd) {
      assert.deepEqual(back.tensors.get(k)!.shape, t.shape, k);
      assert.deepEqual(back.tensors.get(k)!.data, t.data, k);
      assert.equal(back.tensors.get(k)!.dtype, t.dtype === "I64" ? "I64" : "F32", k);
    }
    assert.equal(back.tensors.get("bn1.num_batches_tracked")!.data[0], 1);
    for (const e of readZip(bytes, "r18.pth")) {
      assert.ok(e.name.startsWith("archive/"), e.name);
      if (e.name.startsWith("archive/data/")) assert.equal(e.data.byteOffset % 64, 0, e.name);
    }
  } finally {
    m.store.dispose();
  }
});

Deno.test("saveWeights(x.pth) → loadWeights: same logits; --save-weights x.pth drops the optimizer", async () => {
  const a = trainedResnet18(1, 32);
  const b = resnet18.build({ seed: 2, inputSize: 32 });
  const c = tinycnn.build({ seed: 3 });
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 9) as tf.Tensor4D;
  try {
    await saveWeights(a, `${dir}/r18.pth`);
    assert.equal((await Deno.readFile(`${dir}/r18.pth`))[0], 0x50, "a zip (PK) file");
    assert.notDeepEqual(await forward(b, x), await forward(a, x));
    const report = await loadWeights(b, `${dir}/r18.pth`);
    assert.equal(report.loaded, a.store.entries.size);
    assert.deepEqual(await forward(b, x), await forward(a, x));
    // A run's best checkpoint (weights + momentum buffers) exported as a plain state_dict.
    const opt = new Sgd(c.store.trainable(), { lr: 0.01, momentum: 0.9, weightDecay: 0 });
    const meta = {
      format: CHECKPOINT_FORMAT,
      network: "tinycnn",
      epochsDone: 1,
      steps: 1,
      bestValAcc: 0.5,
      bestEpoch: 1,
      valAcc: 0.5,
      finished: true,
    };
    await saveCheckpoint(`${dir}/best.safetensors`, c, opt, meta);
    opt.dispose();
    assert.ok(
      [...(await readSafetensors(`${dir}/best.safetensors`)).tensors.keys()].some((k) =>
        k.startsWith("optimizer.")
      ),
    );
    await exportBest(`${dir}/best.safetensors`, `${dir}/best.pth`);
    const pth = await readPth(`${dir}/best.pth`);
    assert.deepEqual([...pth.tensors.keys()], [...c.store.entries.keys()]);
    await exportBest(`${dir}/best.safetensors`, `${dir}/best_copy.safetensors`);
    assert.deepEqual(
      await Deno.readFile(`${dir}/best_copy.safetensors`),
      await Deno.readFile(`${dir}/best.safetensors`),
    );
  } finally {
    tf.dispose(x);
    for (const m of [a, b, c]) m.store.dispose();
  }
});

const hasTorch = new Deno.Command("/usr/bin/python3", {
  args: ["-c", "import torch, torchvision"],
  stdout: "null",
  stderr: "null",
}).outputSync().success;

Deno.test({
  name:
    "PyTorch loads a kit-trained resnet18's .pth strictly, same logits (needs /usr/bin/python3 with torch)",
  ignore: !hasTorch,
  async fn() {
    // Trained and run on wasm, the kit's backend on a machine without a GPU (cpu: minutes a step).
    await initBackend("wasm");
    const size = 64;
    const m = kitTrainedResnet18(4, size);
    const x = tf.randomNormal([2, size, size, 3], 0, 1, "float32", 21) as tf.Tensor4D;
    try {
      await saveWeights(m, `${dir}/check.pth`);
      const saved = (await readPth(`${dir}/check.pth`)).tensors;
      assert.equal(saved.get("layer4.1.bn2.num_batches_tracked")!.data[0], 2, "two steps");
      const nchw = tf.transpose(x, [0, 3, 1, 2]);
      await writeSafetensors(
        `${dir}/io.safetensors`,
        new Map([
          ["x", { shape: nchw.shape, data: (await nchw.data()) as Float32Array }],
          ["logits", { shape: [2, 2], data: await forward(m, x) }],
        ]),
      );
      nchw.dispose();
      const r = await new Deno.Command("/usr/bin/python3", {
        args: [CHECK, `${dir}/check.pth`, `${dir}/io.safetensors`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      console.log(out.trim());
      assert.equal(r.code, 0, out);
    } finally {
      tf.dispose(x);
      m.store.dispose();
      await initBackend("cpu");
    }
  },
});
