import assert from "node:assert/strict";
import { xception } from "../../lib/backbones/xception.ts";
import { initBackend } from "../../lib/backend.ts";
import {
  assertInputSizeLimits,
  assertTorchStateDict,
  assertTrainingMode,
  stats,
} from "./arch_checks.ts";

await initBackend("cpu");

Deno.test("xception: FF++/Cadene state_dict (names, order, shapes), 20,811,050 trainable", () => {
  const m = xception.build({ seed: 1 });
  try {
    assertTorchStateDict(m, 20_811_050);
  } finally {
    m.store.dispose();
  }
});

Deno.test("xception: spec (299 px, 0.5/0.5, 2048-d, 10x10 grid) and PyTorch default init", async () => {
  const s = xception.spec;
  assert.deepEqual([s.inputSize, s.featureDim], [299, 2048]);
  assert.deepEqual([s.mean, s.std], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]);
  assert.deepEqual([299, 224, 71, 7].map(s.camGrid), [10, 7, 3, 1]);
  assert.match(s.camTaps.paper, /conv4 output, before bn4/);
  const m = xception.build({ seed: 3 });
  try {
    // kaiming_uniform_(a=sqrt(5)): U(±1/sqrt(fan_in)); a depthwise 3x3 kernel has fan_in 9.
    for (
      const [name, fanIn] of [["block5.rep.4.conv1.weight", 9], ["conv2.weight", 32 * 9], [
        "block5.rep.4.pointwise.weight",
        728,
      ]] as const
    ) {
      const w = await stats(m.store.get(name));
      const bound = 1 / Math.sqrt(fanIn);
      assert.ok(w.maxAbs <= bound && w.maxAbs > 0.9 * bound, `${name}: ${w.maxAbs} vs ${bound}`);
      assert.ok(Math.abs(w.std / (bound / Math.sqrt(3)) - 1) < 0.1, `${name}: std ${w.std}`);
    }
  } finally {
    m.store.dispose();
  }
});

Deno.test("xception: training mode (batch stats, running-stat updates, gradients back to the first conv)", async () => {
  const m = xception.build({ seed: 2, inputSize: 23 });
  try {
    await assertTrainingMode(m, 23, "bn4");
  } finally {
    m.store.dispose();
  }
});

Deno.test("xception: input-size limits", () => assertInputSizeLimits(xception));
