/**
 * Test support shared by the backbone tests: state_dict names/shapes/dtypes and parameter counts
 * against torchvision (tests/fixtures/backbones/state_dicts.json, made by
 * tools/fixtures/make_backbone_fixtures.py), training-mode behaviour, and input-size limits.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone, BackboneEntry } from "../../lib/backbones/types.ts";
import { ForwardContext, torchShape } from "../../lib/nn.ts";

interface StateDictFixture {
  trainable_params: number;
  state_dict: [string, number[], string][];
}

const fixtures: Record<string, StateDictFixture> = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/backbones/state_dicts.json", import.meta.url)),
);

/** Standard deviation and max |x| of a variable's values. */
export async function stats(t: tf.Tensor): Promise<{ std: number; maxAbs: number; mean: number }> {
  const v = await t.data();
  let s = 0;
  let s2 = 0;
  let m = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
    m = Math.max(m, Math.abs(x));
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), maxAbs: m };
}

/**
 * Asserts the built network's parameters are torchvision's state_dict: same names in the same
 * order, same torch shapes and dtypes, and the trainable count equals both the fixture's and
 * `expectedTrainable` (the brief's number).
 */
export function assertTorchStateDict(model: Backbone, expectedTrainable: number): void {
  const fx = fixtures[model.spec.name];
  assert.ok(fx, `no state_dict fixture for ${model.spec.name}`);
  const got = [...model.store.entries].map(([name, e]) => [
    name,
    torchShape(e.variable.shape, e.layout),
    e.torchDtype,
  ]);
  assert.equal(got.length, fx.state_dict.length, `${model.spec.name}: number of tensors`);
  for (let i = 0; i < got.length; i++) {
    assert.deepEqual(got[i], fx.state_dict[i], `${model.spec.name}: tensor #${i}`);
  }
  assert.equal(fx.trainable_params, expectedTrainable);
  assert.equal(model.store.countTrainable(), expectedTrainable);
}

/**
 * One training-mode forward (and, with `withGrads`, backward) on a random batch: every batch norm
 * queues its three running-statistic updates, applying them moves `bnName`'s running mean off its
 * zeros and bumps `num_batches_tracked`; with `withGrads` every batch-norm, depthwise and
 * classifier parameter and the first and last convolution weights get finite, non-zero gradients.
 */
export async function assertTrainingMode(
  model: Backbone,
  size: number,
  bnName: string,
  withGrads = true,
): Promise<void> {
  const x = tf.randomNormal([2, size, size, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const bnCount = [...model.store.entries.keys()].filter((k) => k.endsWith(".running_mean")).length;
  const ctx = new ForwardContext(true);
  // Gradients for every batch-norm and classifier parameter, plus the first and last convolution
  // weights (the first needs the whole backward pass; tfjs's cpu filter gradient of wide
  // convolutions is too slow to take them all in a test).
  const convs = [...model.store.entries].filter(([, e]) => e.layout === "conv").map(([k]) => k);
  const vars = new Map(
    [...model.store.trainable()].filter(([k]) =>
      model.store.entries.get(k)!.layout !== "conv" || k === convs[0] || k === convs.at(-1)
    ),
  );
  const loss = (): tf.Scalar =>
    tf.sum(tf.mul(model.forward(x, ctx).logits, tf.tensor1d([1, -2]))) as tf.Scalar;
  const { value, grads } = withGrads
    ? tf.variableGrads(loss, [...vars.values()])
    : { value: tf.tidy(loss), grads: {} as tf.NamedTensorMap };
  assert.ok(Number.isFinite((await value.data())[0]));
  assert.equal(ctx.updates.length, 3 * bnCount, "three running-stat updates per batch norm");
  if (withGrads) {
    for (const [name, v] of vars) {
      const g = grads[v.name];
      assert.ok(g, `no gradient for ${name}`);
      const s = await stats(g);
      assert.ok(Number.isFinite(s.maxAbs) && s.maxAbs > 0, `${name}: gradient ${s.maxAbs}`);
    }
  }
  const before = await stats(model.store.get(`${bnName}.running_mean`));
  assert.equal(before.maxAbs, 0);
  ctx.applyUpdates();
  const after = await stats(model.store.get(`${bnName}.running_mean`));
  assert.ok(after.maxAbs > 0, `${bnName}.running_mean did not move`);
  assert.equal((await model.store.get(`${bnName}.num_batches_tracked`).data())[0], 1);
  tf.dispose([x, value, ...Object.values(grads)]);
}

/**
 * The entry's input-size limits: one pixel below the minimum is refused with an error naming the
 * option and the network; the minimum itself runs (eval) with the spec's grid.
 */
export function assertInputSizeLimits(entry: BackboneEntry): void {
  const min = entry.spec.minInputSize;
  assert.throws(
    () => entry.build({ seed: 0, inputSize: min - 1 }),
    new RegExp(`inputSize: ${entry.spec.name} cannot take ${min - 1}x${min - 1}`),
  );
  assert.throws(() => entry.build({ seed: 0, inputSize: 100.5 }), /inputSize/);
  assert.ok(entry.spec.camGrid(min) >= 1);
  assert.ok(entry.spec.camGrid(min - 1) < 1 || entry.spec.name.startsWith("resnet"));
  const model = entry.build({ seed: 0, inputSize: min });
  try {
    const out = tf.tidy(() => {
      const o = model.forward(tf.zeros([1, min, min, 3]), new ForwardContext(false));
      return [o.logits.shape, o.taps.paper.shape, o.taps.standard.shape];
    });
    const g = entry.spec.camGrid(min);
    assert.deepEqual(out, [[1, 2], [1, g, g, entry.spec.featureDim], [
      1,
      g,
      g,
      entry.spec.featureDim,
    ]]);
  } finally {
    model.store.dispose();
  }
}
