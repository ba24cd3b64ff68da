import assert from "node:assert/strict";
import { densenet121 } from "../../lib/backbones/densenet.ts";
import { initBackend } from "../../lib/backend.ts";
import {
  assertInputSizeLimits,
  assertTorchStateDict,
  assertTrainingMode,
  stats,
} from "./arch_checks.ts";

await initBackend("cpu");

Deno.test("densenet121: torchvision state_dict (names, order, shapes), 6,955,906 trainable", () => {
  const m = densenet121.build({ seed: 1 });
  try {
    assertTorchStateDict(m, 6_955_906);
  } finally {
    m.store.dispose();
  }
});

Deno.test("densenet121: spec (224 px, ImageNet, 1024-d, 7x7 grid) and init scheme", async () => {
  const s = densenet121.spec;
  assert.deepEqual([s.inputSize, s.featureDim], [224, 1024]);
  assert.deepEqual([s.mean, s.std], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
  assert.deepEqual([224, 299, 96, 64, 29].map(s.camGrid), [7, 9, 3, 2, 1]);
  assert.match(s.camTaps.paper, /norm5.*before the final ReLU/);
  const m = densenet121.build({ seed: 3 });
  try {
    // kaiming_normal_ (fan_in, ReLU gain): std sqrt(2 / (in·kh·kw)).
    const w = await stats(m.store.get("features.denseblock3.denselayer5.conv2.weight"));
    const want = Math.sqrt(2 / (128 * 9));
    assert.ok(Math.abs(w.std / want - 1) < 0.03, `std ${w.std} vs ${want}`);
    assert.equal((await stats(m.store.get("classifier.bias"))).maxAbs, 0);
    const fc = await stats(m.store.get("classifier.weight"));
    assert.ok(fc.maxAbs <= 1 / 32 && fc.maxAbs > 0.9 / 32);
  } finally {
    m.store.dispose();
  }
});

Deno.test("densenet121: training mode (batch stats, running-stat updates, gradients back to the first conv)", async () => {
  const m = densenet121.build({ seed: 2, inputSize: 32 });
  try {
    await assertTrainingMode(m, 32, "features.norm5");
  } finally {
    m.store.dispose();
  }
});

Deno.test("densenet121: input-size limits", () => assertInputSizeLimits(densenet121));
