import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { inceptionV3 } from "../../lib/backbones/inception_v3.ts";
import { initBackend } from "../../lib/backend.ts";
import { ForwardContext } from "../../lib/nn.ts";
import {
  assertInputSizeLimits,
  assertTorchStateDict,
  assertTrainingMode,
  stats,
} from "./arch_checks.ts";

await initBackend("cpu");

Deno.test("inception_v3: torchvision state_dict without AuxLogits, 21,789,666 trainable", () => {
  const m = inceptionV3.build({ seed: 1 });
  try {
    assertTorchStateDict(m, 21_789_666);
    assert.ok(![...m.store.entries.keys()].some((k) => k.startsWith("AuxLogits")));
    // The paper's inception_v3(pretrained=True, aux_logits=False) has transform_input on.
    assert.equal(m.spec.transformInputDefault, true);
    assert.equal(m.transformInput, true);
  } finally {
    m.store.dispose();
  }
});

Deno.test("inception_v3: spec (299 px, ImageNet, 2048-d, 8x8 grid) and init scheme", async () => {
  const s = inceptionV3.spec;
  assert.deepEqual([s.inputSize, s.minInputSize, s.featureDim], [299, 75, 2048]);
  assert.deepEqual([299, 224, 107, 75, 74].map(s.camGrid), [8, 5, 2, 1, 0]);
  assert.match(s.camTaps.paper, /Mixed_7c/);
  const m = inceptionV3.build({ seed: 3 });
  try {
    // trunc_normal_(std=0.1, a=-2, b=2) for conv and fc weights.
    for (const name of ["Mixed_6b.branch7x7_2.conv.weight", "fc.weight"]) {
      const w = await stats(m.store.get(name));
      assert.ok(Math.abs(w.std / 0.1 - 1) < 0.05, `${name}: std ${w.std}`);
    }
    const b = await stats(m.store.get("fc.bias"));
    assert.ok(b.maxAbs <= 1 / Math.sqrt(2048));
  } finally {
    m.store.dispose();
  }
});

Deno.test("inception_v3: BasicConv2d batch norm uses eps = 0.001", async () => {
  const m = inceptionV3.build({ seed: 1, inputSize: 75 });
  try {
    // Mixed_7c's last 192 channels are relu(bn(conv)) of branch_pool; with running mean 0 and
    // identity affine, running_var 1 vs 0 scales them by sqrt((1 + eps) / eps).
    const x = tf.randomNormal([1, 75, 75, 3], 0, 1, "float32", 9) as tf.Tensor4D;
    const tail = async () => {
      const t = m.forward(x, new ForwardContext(false)).taps.paper;
      return await tf.slice(t, [0, 0, 0, 2048 - 192], [1, 1, 1, 192]).data();
    };
    const one = await tail();
    const rv = m.store.get("Mixed_7c.branch_pool.bn.running_var");
    rv.assign(tf.zerosLike(rv));
    const zero = await tail();
    const want = Math.sqrt(1.001 / 0.001);
    let checked = 0;
    for (let i = 0; i < 192; i++) {
      if (one[i] > 1e-3) {
        assert.ok(Math.abs(zero[i] / one[i] / want - 1) < 1e-3, `ratio ${zero[i] / one[i]}`);
        checked++;
      }
    }
    assert.ok(checked > 20, `only ${checked} positive channels`);
  } finally {
    m.store.dispose();
  }
});

Deno.test("inception_v3: transformInput reproduces torchvision's _transform_input", async () => {
  const m = inceptionV3.build({ seed: 5, inputSize: 75 });
  try {
    const x = tf.randomNormal([2, 75, 75, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const eval_ = () => new ForwardContext(false);
    m.transformInput = false;
    const plain = await m.forward(x, eval_()).logits.data();
    m.transformInput = true;
    const transformed = await m.forward(x, eval_()).logits.data();
    // torchvision: x_ch = x_ch * (std / 0.5) + (mean - 0.5) / 0.5, per channel.
    const scale = tf.tensor1d([0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5]);
    const shift = tf.tensor1d([(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5]);
    m.transformInput = false;
    const manual = await m.forward(tf.add(tf.mul(x, scale), shift), eval_()).logits.data();
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(transformed[i] - manual[i]) < 1e-5);
    assert.ok(Math.abs(transformed[0] - plain[0]) > 1e-4, "transform had no effect");
    const built = inceptionV3.build({ seed: 5, inputSize: 75, transformInput: false });
    assert.equal(built.transformInput, false);
    built.store.dispose();
  } finally {
    m.store.dispose();
  }
});

Deno.test("inception_v3: training mode (dropout before fc, running-stat updates, gradients)", async () => {
  const m = inceptionV3.build({ seed: 2, inputSize: 75 });
  try {
    const x = tf.randomNormal([2, 75, 75, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    // Eval is deterministic; training applies p=0.5 dropout with a fresh mask each call.
    const e1 = await m.forward(x, new ForwardContext(false)).logits.data();
    const e2 = await m.forward(x, new ForwardContext(false)).logits.data();
    assert.deepEqual(e1, e2);
    const t1 = await m.forward(x, new ForwardContext(true)).logits.data();
    const t2 = await m.forward(x, new ForwardContext(true)).logits.data();
    assert.notDeepEqual(t1, t2);
    await assertTrainingMode(m, 75, "Mixed_7c.branch_pool.bn");
  } finally {
    m.store.dispose();
  }
});

Deno.test("inception_v3: input-size limits (75 px minimum)", () =>
  assertInputSizeLimits(inceptionV3));
