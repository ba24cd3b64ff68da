/**
 * Training memory on the wasm backend: the paper's four networks train a few steps at a small size
 * without a crash, a growing tensor count or growing memory; the memory check refuses a batch that
 * does not fit, before any step, naming the option and the largest batch that fits; a failed heap
 * allocation is an error, not a corrupt heap; the lean backward pass gives tfjs's gradients.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { leanVariableGrads } from "../lib/lean_grads.ts";
import {
  checkBatchFits,
  estimatePeakBytes,
  HEAP_FACTOR,
  largestBatch,
  measureStepMemory,
  wasmHeapBytes,
  WasmOutOfMemoryError,
  wasmTensorBytes,
} from "../lib/memory_budget.ts";
import { ForwardContext } from "../lib/nn.ts";
import { Sgd } from "../lib/optim.ts";
import { Rng } from "../lib/rng.ts";
import { stepFailure, train } from "../lib/train.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "../lib/config.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";

await initBackend("wasm");

function setup(network: string, size: number, batch: number) {
  const entry = getBackbone(network);
  const model = entry.build({ seed: 3, inputSize: size, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  const rng = new Rng(`memory_test/${network}`);
  const g = entry.spec.camGrid(size);
  const data = {
    x: tf.tensor4d(rng.fillNormal(new Float32Array(batch * size * size * 3), 1), [
      batch,
      size,
      size,
      3,
    ]),
    y: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2), "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(batch * g * g), 0, 1), [batch, g, g]),
  };
  return {
    model,
    step: () => trainStep(model, opt, data, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" }),
    read: () => acc.read(),
    dispose: () => {
      tf.dispose(Object.values(data));
      acc.dispose();
      opt.dispose();
      model.store.dispose();
    },
  };
}

// Small input, batch 2, three steps each: seconds per network.
const CASES: [string, number][] = [
  ["resnet50", 32],
  ["densenet121", 32],
  ["inception_v3", 75],
  ["xception", 32],
];

for (const [network, size] of CASES) {
  Deno.test(`${network} at ${size} px, batch 2: 3 wasm steps, constant tensors and memory`, async () => {
    const live0 = wasmTensorBytes().live;
    const s = setup(network, size, 2);
    try {
      const rows: { tensors: number; live: number; peak: number; heap: number }[] = [];
      for (let i = 0; i < 3; i++) {
        wasmTensorBytes(true);
        s.step();
        const sums = await s.read();
        assert.ok(Number.isFinite(sums.loss), `${network} step ${i + 1}: loss ${sums.loss}`);
        const b = wasmTensorBytes();
        rows.push({
          tensors: tf.memory().numTensors,
          live: b.live,
          peak: b.peak,
          heap: wasmHeapBytes()!,
        });
      }
      const msg = `${network}: ${JSON.stringify(rows)}`;
      // (The first step caches a few scalar constants: lib/consts.ts.)
      for (const r of rows) {
        assert.equal(r.tensors, rows[0].tensors, msg);
        assert.equal(r.live, rows[0].live, msg);
      }
      // Every step allocates the same tensors: the same peak, and the heap stops growing.
      assert.equal(rows[2].peak, rows[1].peak, msg);
      assert.equal(rows[2].heap, rows[1].heap, msg);
    } finally {
      s.dispose();
    }
    // Disposing the model, optimizer and accumulators gives their storage back (all but the few
    // scalar constants lib/consts.ts caches on first use).
    const left = wasmTensorBytes().live - live0;
    assert.ok(left < 1024, `${network}: ${left} bytes left after dispose`);
  });
}

Deno.test("the memory estimate bounds a real step's tensor peak, within 25%", async () => {
  for (const [network, size, batch] of [["resnet50", 128, 4], ["densenet121", 64, 3]] as const) {
    const s = setup(network, size, batch);
    try {
      const m = measureStepMemory(s.model, size);
      s.step(); // the first step (XNNPACK set-up, momentum) is not the steady state
      await s.read();
      wasmTensorBytes(true);
      s.step();
      await s.read();
      const real = wasmTensorBytes().peak;
      const est = estimatePeakBytes(m, batch, HEAP_FACTOR, 0); // tensor storage only
      const msg = `${network} ${size}px batch ${batch}: estimate ${est} B, real peak ${real} B`;
      assert.ok(est >= real, msg);
      assert.ok(est <= 1.25 * real, msg);
    } finally {
      s.dispose();
    }
  }
});

Deno.test("checkBatchFits refuses a batch over the limit before any step, with the largest that fits", () => {
  const s = setup("resnet18", 32, 2);
  try {
    measureStepMemory(s.model, 32); // the first pass sets up kernels and caches constants
    const m = measureStepMemory(s.model, 32);
    // Batch 5 fits, batch 6 does not, with room for a few bytes' difference between measurements.
    const limit = (estimatePeakBytes(m, 5) + estimatePeakBytes(m, 6)) / 2;
    assert.equal(largestBatch(m, limit), 5);
    assert.ok(estimatePeakBytes(m, 6) > limit);
    const tensors = tf.memory().numTensors;
    const fit = checkBatchFits(s.model, 32, 5, "batchSize", limit);
    assert.equal(fit?.largest, 5);
    assert.throws(
      () => checkBatchFits(s.model, 32, 20, "--batch-size", limit),
      (e: Error) =>
        /^--batch-size 20: a training step of resnet18 at 32 px needs about \d+ MiB on the wasm backend/
          .test(e.message) &&
        /largest batch that fits is about 5: use --batch-size 5 or less/.test(e.message),
    );
    assert.throws(
      () => checkBatchFits(s.model, 32, 20, "batchSize", limit),
      (e: Error) => e.message.startsWith("batchSize 20:"),
    );
    // The check changed nothing: no tensors left, no running statistics touched.
    assert.equal(tf.memory().numTensors, tensors);
  } finally {
    s.dispose();
  }
});

Deno.test("train() refuses a batch the wasm heap cannot hold, naming batchSize, before any folder", async () => {
  const root = await tinyDataRoot();
  const dir = await Deno.makeTempDir({ prefix: "cyborg-mem-" });
  const live0 = wasmTensorBytes().live;
  const cfg: TrainConfig = {
    ...DEFAULT_CONFIG,
    network: "resnet50",
    inputSize: 224,
    alpha: 1,
    csv: `${root}/csvs/original.csv`,
    dataset: root,
    heatmaps: null,
    batchSize: 64,
  };
  try {
    await assert.rejects(
      train(cfg, { output: `${dir}/run`, progress: "silent" }),
      (e: Error) =>
        /^batchSize 64: a training step of resnet50 at 224 px needs about \d+ MiB/.test(
          e.message,
        ) &&
        /The largest batch that fits is about \d+: use batchSize \d+ or less/.test(e.message),
    );
    assert.equal(await Deno.stat(`${dir}/run`).then(() => true, () => false), false);
    assert.ok(wasmTensorBytes().live - live0 < 1024, "the refused model was not disposed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a wasm allocation the heap cannot hold throws WasmOutOfMemoryError; the backend still works", async () => {
  const w =
    (tf.backend() as unknown as { wasm: { _malloc(n: number): number; _free(p: number): void } })
      .wasm;
  // One tensor over 2 GiB: tfjs-backend-wasm's malloc would hand back a block outside the heap.
  assert.throws(() => tf.zeros([600_000_000]), WasmOutOfMemoryError);
  // The heap cannot grow past 4 GiB: the second block fails (no memory is written to).
  const p = w._malloc(1_900_000_000);
  try {
    assert.throws(() => w._malloc(2_000_000_000), /wasm backend: out of memory/);
  } finally {
    w._free(p);
  }
  const t = tf.add(tf.ones([1000]), tf.ones([1000]));
  assert.equal((await t.data())[999], 2);
  t.dispose();
});

Deno.test("stepFailure: a wasm trap names the step and the batch option; other errors pass", () => {
  const e = stepFailure(new WebAssembly.RuntimeError("Aborted()"), 7, 20, "--batch-size");
  assert.match(e.message, /^step 7: the wasm backend ran out of memory or stopped \(Aborted\(\)\)/);
  assert.match(e.message, /smaller --batch-size than 20/);
  const oob = stepFailure(new Error("memory access out of bounds"), 3, 4, "batchSize");
  assert.match(oob.message, /^step 3: .* smaller batchSize than 4/);
  const other = new Error("shape mismatch");
  assert.equal(stepFailure(other, 1, 2, "batchSize"), other);
});

Deno.test("wasm Identity shares storage: a clone adds no tensor bytes", () => {
  const x = tf.ones([1000]);
  const before = wasmTensorBytes().live;
  const y = tf.clone(x);
  assert.equal(wasmTensorBytes().live, before);
  x.dispose();
  assert.equal(y.dataSync()[0], 1);
  y.dispose();
});

Deno.test("leanVariableGrads: the same gradients as tf.variableGrads, with a lower peak", () => {
  const model = getBackbone("resnet18").build({ seed: 5, inputSize: 64, numClasses: 2 });
  const vars = [...model.store.trainable().values()];
  const x = tf.tensor4d(new Rng("lean").fillNormal(new Float32Array(4 * 64 * 64 * 3), 1), [
    4,
    64,
    64,
    3,
  ]);
  const run = (lean: boolean) => {
    const ctx = new ForwardContext(true);
    const before = wasmTensorBytes(true).live;
    const f = () => tf.sum(model.forward(x, ctx).logits) as tf.Scalar;
    const { value, grads } = lean ? leanVariableGrads(f, vars) : tf.variableGrads(f, vars);
    const peak = wasmTensorBytes().peak - before;
    const out = {
      value: value.dataSync()[0],
      grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync()])),
      peak,
    };
    tf.dispose([value, ...Object.values(grads)]);
    for (const [, v] of ctx.updates) v.dispose();
    return out;
  };
  const tensors = tf.memory().numTensors;
  const a = run(false);
  const b = run(true);
  assert.ok(b.peak < 0.8 * a.peak, `peak lean ${b.peak} vs tfjs ${a.peak}`);
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(b.value, a.value);
  assert.deepEqual(Object.keys(b.grads).sort(), Object.keys(a.grads).sort());
  for (const k of Object.keys(a.grads)) assert.deepEqual(b.grads[k], a.grads[k], k);
  x.dispose();
  model.store.dispose();
});
