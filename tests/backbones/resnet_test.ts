import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resnet18, resnet34, resnet50 } from "../../lib/backbones/resnet.ts";
import { initBackend } from "../../lib/backend.ts";
import { ForwardContext } from "../../lib/nn.ts";
import {
  assertInputSizeLimits,
  assertTorchStateDict,
  assertTrainingMode,
  stats,
} from "./arch_checks.ts";

await initBackend("cpu");

Deno.test("resnet50: torchvision state_dict (names, order, shapes), 23,512,130 trainable", () => {
  const m = resnet50.build({ seed: 1 });
  try {
    assertTorchStateDict(m, 23_512_130);
  } finally {
    m.store.dispose();
  }
});

Deno.test("resnet18/34: torchvision state_dicts, 11,177,538 / 21,285,698 trainable", () => {
  for (const [entry, n] of [[resnet18, 11_177_538], [resnet34, 21_285_698]] as const) {
    const m = entry.build({ seed: 1 });
    try {
      assertTorchStateDict(m, n);
    } finally {
      m.store.dispose();
    }
  }
});

Deno.test("resnet50: spec (224 px, ImageNet normalisation, 2048-d, 7x7 grid) and init scheme", async () => {
  const s = resnet50.spec;
  assert.equal(s.inputSize, 224);
  assert.deepEqual([s.mean, s.std], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
  assert.equal(s.featureDim, 2048);
  assert.deepEqual([224, 299, 96, 64].map(s.camGrid), [7, 10, 3, 2]);
  assert.match(s.camTaps.paper, /layer4\.2\.conv3.*before its batch norm/);
  const m = resnet50.build({ seed: 3 });
  try {
    // kaiming_normal_(mode="fan_out", nonlinearity="relu"): std sqrt(2 / (out·kh·kw)).
    const w = await stats(m.store.get("layer3.1.conv2.weight"));
    const want = Math.sqrt(2 / (256 * 9));
    assert.ok(Math.abs(w.std / want - 1) < 0.02, `std ${w.std} vs ${want}`);
    // fc keeps PyTorch's default U(±1/sqrt(fan_in)).
    const fc = await stats(m.store.get("fc.weight"));
    assert.ok(fc.maxAbs <= 1 / Math.sqrt(2048) && fc.maxAbs > 0.9 / Math.sqrt(2048));
    const g = await stats(m.store.get("layer4.2.bn3.weight"));
    assert.deepEqual([g.mean, g.std], [1, 0]);
  } finally {
    m.store.dispose();
  }
});

Deno.test("resnet18: the seed fixes the weights", async () => {
  const [a, b, c] = [3, 3, 4].map((seed) => resnet18.build({ seed }));
  const w = await a.store.get("layer2.0.downsample.0.weight").data();
  assert.deepEqual(await b.store.get("layer2.0.downsample.0.weight").data(), w);
  assert.notDeepEqual(await c.store.get("layer2.0.downsample.0.weight").data(), w);
  for (const m of [a, b, c]) m.store.dispose();
});

Deno.test("resnet18: training mode (batch stats, running-stat updates, gradients back to the first conv)", async () => {
  const m = resnet18.build({ seed: 2, inputSize: 32 });
  try {
    await assertTrainingMode(m, 32, "layer4.1.bn2");
  } finally {
    m.store.dispose();
  }
});

Deno.test("resnet50: training mode at 32 px (running-stat updates, gradients)", async () => {
  const m = resnet50.build({ seed: 2, inputSize: 32 });
  try {
    await assertTrainingMode(m, 32, "layer4.2.bn3");
  } finally {
    m.store.dispose();
  }
});

Deno.test("resnet18: training-mode bn1 update = PyTorch momentum 0.1, unbiased variance", async () => {
  const m = resnet18.build({ seed: 2, inputSize: 32 });
  try {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const ctx = new ForwardContext(true);
    tf.tidy(() => {
      m.forward(x, ctx);
    });
    ctx.applyUpdates();
    // conv1: 7x7, stride 2, padding 3, no bias; statistics over N, H, W (n = 2·16·16). The biased
    // variance would be off by ~2e-5 relative here, far above the 1e-6 tolerance.
    const y = tf.conv2d(x, m.store.get("conv1.weight") as tf.Tensor4D, 2, [[0, 0], [3, 3], [
      3,
      3,
    ], [0, 0]]);
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    const n = 2 * 16 * 16;
    const wantMean = await tf.mul(mean, 0.1).data();
    const wantVar = await tf.add(0.9, tf.mul(variance, (0.1 * n) / (n - 1))).data();
    const gotMean = await m.store.get("bn1.running_mean").data();
    const gotVar = await m.store.get("bn1.running_var").data();
    for (let c = 0; c < 64; c++) {
      assert.ok(Math.abs(gotMean[c] - wantMean[c]) < 1e-5, `mean[${c}]`);
      assert.ok(Math.abs(gotVar[c] - wantVar[c]) < 1e-6 * wantVar[c], `var[${c}]`);
    }
    tf.dispose([x, y, mean, variance]);
  } finally {
    m.store.dispose();
  }
});

Deno.test("resnet50: input-size limits", () => assertInputSizeLimits(resnet50));
