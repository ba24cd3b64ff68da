import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { camClassOneHot, computeCam, minMaxNormalize, rawCam, upsampleCam } from "../lib/cam.ts";
import { ForwardContext } from "../lib/nn.ts";
import { forEachBackend } from "./_support/backends.ts";
import { fixtureBatch, fixtureModel, loadCyborgFixture, maxAbsDiff } from "./_support/fixture.ts";

const fx = await loadCyborgFixture();

Deno.test("CAM of the predicted and the true class matches PyTorch within 1e-4", async () => {
  await forEachBackend(async (backend) => {
    const model = fixtureModel(fx);
    const { x, y } = fixtureBatch(fx);
    const out = model.forward(x, new ForwardContext(true));
    for (const which of ["pred", "true"] as const) {
      const oneHot = camClassOneHot(out.logits, y, which);
      const cam = computeCam(out.taps.paper, model.classifierWeight as tf.Tensor2D, oneHot);
      assert.deepEqual(cam.shape, [4, 4, 4]);
      const d = maxAbsDiff(await cam.data(), fx[`cam_${which}`] as number[]);
      assert.ok(d < 1e-4, `${backend} ${which}: CAM differs by ${d}`);
      const dl = maxAbsDiff(await out.logits.data(), fx[`logits_${which}`] as number[]);
      assert.ok(dl < 1e-4, `${backend}: logits differ by ${dl}`);
    }
    model.store.dispose();
  });
});

Deno.test("the pred and true CAMs differ when a prediction is wrong (the option matters)", () => {
  const pred = fx.cam_pred as number[];
  const truth = fx.cam_true as number[];
  assert.ok(maxAbsDiff(pred, truth) > 0.1);
});

Deno.test("min-max: each map spans [0, 1]; a constant map becomes zeros, not NaN", async () => {
  await forEachBackend(async () => {
    const cam = tf.tensor3d([[[1, 2], [3, 5]], [[7, 7], [7, 7]]]);
    const v = await minMaxNormalize(cam).data();
    assert.deepEqual(Array.from(v.slice(0, 4)).map((a) => +a.toFixed(5)), [0, 0.25, 0.5, 1]);
    assert.deepEqual(Array.from(v.slice(4)), [0, 0, 0, 0]);
  });
});

Deno.test("raw CAM is features · classifier row, no bias; channel mismatch is an error", async () => {
  await forEachBackend(async () => {
    const f = tf.tensor4d([1, 2, 3, 4], [1, 2, 1, 2]); // h=2, w=1, C=2
    const w = tf.tensor2d([[10, -1], [100, -2]]); // [C=2, K=2]
    const cam0 = await rawCam(f, w, tf.tensor2d([[1, 0]])).data();
    assert.deepEqual(Array.from(cam0), [1 * 10 + 2 * 100, 3 * 10 + 4 * 100]);
    const cam1 = await rawCam(f, w, tf.tensor2d([[0, 1]])).data();
    assert.deepEqual(Array.from(cam1), [-1 - 4, -3 - 8]);
    assert.throws(() => rawCam(f, tf.zeros([3, 2]) as tf.Tensor2D, tf.tensor2d([[1, 0]])), /3/);
  });
});

Deno.test("gradients reach the features and only the selected classifier row", async () => {
  await forEachBackend(async () => {
    const f = tf.variable(tf.randomUniform([2, 3, 3, 4], -1, 1, "float32", 7));
    const w = tf.variable(tf.randomUniform([4, 2], -1, 1, "float32", 8));
    const oneHot = tf.tensor2d([[1, 0], [1, 0]]);
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(computeCam(f as tf.Tensor4D, w as tf.Tensor2D, oneHot))) as tf.Scalar,
      [f, w],
    );
    const gw = await grads[w.name].data(); // [C, K]: column 1 (class 1) untouched
    for (let ch = 0; ch < 4; ch++) assert.equal(gw[ch * 2 + 1], 0);
    assert.ok(Math.abs(gw[0]) + Math.abs(gw[2]) > 0);
    assert.ok((await tf.sum(tf.abs(grads[f.name])).data())[0] > 0);
  });
});

Deno.test("upsampled display CAM has the image size and keeps the range", async () => {
  await forEachBackend(async () => {
    const up = upsampleCam(tf.tensor3d([[[0, 1], [1, 0]]]), 8);
    assert.deepEqual(up.shape, [1, 8, 8]);
    const v = await up.data();
    assert.ok(Math.min(...v) >= 0 && Math.max(...v) <= 1);
  });
});

Deno.test("--cam-class diff: the raw CAM is features · (W_fake − W_real), for every image", async () => {
  await forEachBackend(async (backend) => {
    const model = fixtureModel(fx);
    const { x, y } = fixtureBatch(fx);
    const out = model.forward(x, new ForwardContext(true));
    const w = model.classifierWeight as tf.Tensor2D; // [C, 2]
    const feats = out.taps.paper as tf.Tensor4D;
    const diff = await rawCam(feats, w, camClassOneHot(out.logits, y, "diff")).data();
    // Closed form in plain numbers: Σ_c f[b, i, j, c] · (W[c, 1] − W[c, 0]).
    const f = await feats.data();
    const wv = await w.data();
    const [b, h, wd, c] = feats.shape;
    const want: number[] = [];
    for (let p = 0; p < b * h * wd; p++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += f[p * c + k] * (wv[k * 2 + 1] - wv[k * 2]);
      want.push(s);
    }
    const scale = Math.max(...want.map(Math.abs));
    const d = maxAbsDiff(diff, want);
    // Float32 against float64: measured ≤ 1.15e-7 of the largest value on cpu, wasm and webgpu.
    assert.ok(d <= 1e-6 * scale, `${backend}: diff CAM differs by ${d} (scale ${scale})`);
    // Not the predicted-class CAM: for images predicted real it is its negative.
    const pred = await rawCam(feats, w, camClassOneHot(out.logits, y, "pred")).data();
    assert.ok(maxAbsDiff(pred, diff) > 0.1 * scale);
    assert.throws(
      () => camClassOneHot(tf.zeros([2, 3]) as tf.Tensor2D, tf.tensor1d([0, 1]), "diff"),
      /camClass diff: needs 2 classes, the classifier has 3/,
    );
    model.store.dispose();
  });
});
