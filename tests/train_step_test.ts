import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { exportStateDict } from "../lib/state_dict.ts";
import { Sgd } from "../lib/optim.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";
import { forEachBackend } from "./_support/backends.ts";
import {
  fixtureBatch,
  fixtureModel,
  loadCyborgFixture,
  maxAbsDiff,
  toStateDict,
} from "./_support/fixture.ts";

const fx = await loadCyborgFixture();

Deno.test("two SGD steps match PyTorch (weights, BN running stats) within 1e-4 on every backend", async () => {
  await forEachBackend(async (backend) => {
    const model = fixtureModel(fx);
    const opt = new Sgd(model.store.trainable(), {
      lr: fx.sgd.lr,
      momentum: fx.sgd.momentum,
      weightDecay: fx.sgd.weight_decay,
    });
    const acc = new StepAccumulators();
    const batch = fixtureBatch(fx);
    for (let i = 0; i < fx.sgd.steps.length; i++) {
      trainStep(model, opt, batch, acc, { alpha: fx.sgd.alpha, camTap: "paper", camClass: "pred" });
    }
    const sums = await acc.read();
    const n = fx.labels.length;
    const expectedLossSum = fx.sgd.steps.reduce((s, st) => s + st.loss * n, 0);
    assert.ok(
      Math.abs(sums.loss - expectedLossSum) < 1e-4 * n * fx.sgd.steps.length,
      `${backend}: loss sum ${sums.loss} vs ${expectedLossSum}`,
    );
    assert.equal(sums.steps, 2);
    assert.equal(sums.firstBadStep, -1);
    const got = await exportStateDict(model.store);
    const want = toStateDict(fx.sgd.final_state);
    let worst = 0;
    for (const [name, t] of want) {
      const d = maxAbsDiff(got.get(name)!.data, t.data);
      worst = Math.max(worst, d);
      assert.ok(d < 1e-4, `${backend}: ${name} differs by ${d}`);
    }
    // The update must actually move the weights (the test could otherwise pass vacuously).
    const initial = toStateDict(fx.initial_state);
    assert.ok(maxAbsDiff(got.get("fc.weight")!.data, initial.get("fc.weight")!.data) > 1e-3);
    console.log(`${backend}: max |Δ| vs PyTorch after 2 steps = ${worst.toExponential(2)}`);
    tf.dispose(Object.values(batch));
    opt.dispose();
    acc.dispose();
    model.store.dispose();
  });
});

Deno.test("a non-finite loss is recorded with its step index, without a readback per step", async () => {
  await forEachBackend(async () => {
    const model = fixtureModel(fx);
    const opt = new Sgd(model.store.trainable(), { lr: 0.01, momentum: 0.9, weightDecay: 0 });
    const acc = new StepAccumulators();
    const batch = fixtureBatch(fx);
    const o = { alpha: 0.5, camTap: "paper", camClass: "pred" } as const;
    trainStep(model, opt, batch, acc, o);
    // A NaN in a target map (WebGPU's max() may swallow NaN pixels, so poison the map instead).
    const bad = { ...batch, maps: tf.fill(batch.maps.shape, NaN) as tf.Tensor3D };
    trainStep(model, opt, bad, acc, o);
    trainStep(model, opt, batch, acc, o);
    const sums = await acc.read();
    assert.equal(sums.firstBadStep, 1);
    assert.equal(sums.steps, 3);
    opt.dispose();
    acc.dispose();
    model.store.dispose();
  });
});
