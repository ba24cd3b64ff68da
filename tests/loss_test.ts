import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { checkAlpha, crossEntropy, cyborgLoss } from "../lib/loss.ts";
import { ForwardContext } from "../lib/nn.ts";
import { forEachBackend } from "./_support/backends.ts";
import { fixtureBatch, fixtureModel, loadCyborgFixture } from "./_support/fixture.ts";

const fx = await loadCyborgFixture();
type Terms = { total: number; ce: number; mse: number };

Deno.test("CYBORG loss terms match PyTorch for α ∈ {1, 0.5, 0} and both CAM classes", async () => {
  await forEachBackend(async (backend) => {
    const model = fixtureModel(fx);
    const { x, y, maps } = fixtureBatch(fx);
    for (const alpha of [1, 0.5, 0]) {
      for (const camClass of ["pred", "true"] as const) {
        // Train-mode forward each time, as the fixture did (running stats are not used).
        const out = model.forward(x, new ForwardContext(true));
        const l = cyborgLoss({
          logits: out.logits,
          labels: y,
          features: out.taps.paper,
          classifierWeight: model.classifierWeight as tf.Tensor2D,
          maps,
          alpha,
          camClass,
        });
        const want = fx[`loss_a${alpha.toFixed(1)}_${camClass}`] as Terms;
        const [total, ce, cam] = await Promise.all([l.total.data(), l.ce.data(), l.cam.data()]);
        const tag = `${backend} α=${alpha} ${camClass}`;
        assert.ok(
          Math.abs(total[0] - want.total) < 1e-4,
          `${tag}: total ${total[0]} vs ${want.total}`,
        );
        assert.ok(Math.abs(ce[0] - want.ce) < 1e-4, `${tag}: ce`);
        if (alpha < 1) assert.ok(Math.abs(cam[0] - want.mse) < 1e-4, `${tag}: mse`);
        else assert.equal(cam[0], 0); // α = 1 computes no CAM term
      }
    }
    model.store.dispose();
  });
});

Deno.test("α = 1 needs no maps; α < 1 without maps or with the wrong grid is a clear error", () => {
  const logits = tf.tensor2d([[1, 2], [3, 0]]);
  const labels = tf.tensor1d([1, 0], "int32");
  const features = tf.ones([2, 4, 4, 3]) as tf.Tensor4D;
  const classifierWeight = tf.ones([3, 2]) as tf.Tensor2D;
  const base = { logits, labels, features, classifierWeight, camClass: "pred" as const };
  cyborgLoss({ ...base, alpha: 1 });
  assert.throws(() => cyborgLoss({ ...base, alpha: 0.5 }), /needs maps/);
  assert.throws(
    () => cyborgLoss({ ...base, alpha: 0.5, maps: tf.zeros([2, 7, 7]) as tf.Tensor3D }),
    /map grid 7x7 does not match the CAM grid 4x4/,
  );
});

Deno.test("alpha outside [0, 1] is rejected naming the option", () => {
  for (const a of [-0.1, 1.5, NaN]) {
    assert.throws(() => checkAlpha(a), /^Error: alpha: alpha must be in \[0, 1\]/);
  }
  checkAlpha(0);
  checkAlpha(1);
});

Deno.test("samples without a map are left out of the MSE (and all-missing gives 0)", async () => {
  await forEachBackend(async () => {
    const logits = tf.tensor2d([[2, 0], [0, 2]]);
    const labels = tf.tensor1d([0, 1], "int32");
    const features = tf.tensor4d([0, 1, 2, 3, 3, 2, 1, 0], [2, 2, 2, 1]);
    const classifierWeight = tf.tensor2d([[1, 1]]);
    const maps = tf.tensor3d([0, 1 / 3, 2 / 3, 1, 5, 5, 5, 5], [2, 2, 2]);
    const args = {
      logits,
      labels,
      features,
      classifierWeight,
      maps,
      alpha: 0,
      camClass: "pred" as const,
    };
    // Sample 0's CAM equals its map exactly; sample 1's map is garbage but marked missing.
    const masked = await cyborgLoss({ ...args, hasMap: tf.tensor1d([1, 0]) }).cam.data();
    assert.ok(Math.abs(masked[0]) < 1e-6);
    const none = await cyborgLoss({ ...args, hasMap: tf.tensor1d([0, 0]) }).cam.data();
    assert.equal(none[0], 0);
    const all = await cyborgLoss(args).cam.data();
    assert.ok(all[0] > 1);
  });
});

Deno.test("cross-entropy equals -mean log softmax of the label", async () => {
  const v = await crossEntropy(tf.tensor2d([[0, Math.log(3)]]), tf.tensor1d([1], "int32")).data();
  assert.ok(Math.abs(v[0] - -Math.log(0.75)) < 1e-6);
});
