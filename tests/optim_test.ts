import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Sgd, stepLr } from "../lib/optim.ts";
import { forEachBackend } from "./_support/backends.ts";

Deno.test("StepLR(12, 0.1) as PyTorch: 0.005 for epochs 0-11, 0.0005 for 12-23, ...", () => {
  assert.equal(stepLr(0.005, 0, 12, 0.1), 0.005);
  assert.equal(stepLr(0.005, 11, 12, 0.1), 0.005);
  assert.ok(Math.abs(stepLr(0.005, 12, 12, 0.1) - 0.0005) < 1e-15);
  assert.ok(Math.abs(stepLr(0.005, 49, 12, 0.1) - 0.005 * 1e-4) < 1e-15);
});

Deno.test("SGD: momentum buffer, weight decay and lr changes follow torch.optim.SGD", async () => {
  await forEachBackend(async () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new Sgd(new Map([["p", p]]), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const g = tf.tensor1d([0.5, 0.5]);
    // by hand: d = g + 0.01 p; buf1 = d; p1 = p - 0.1 buf1; buf2 = 0.9 buf1 + d2; p2 = p1 - lr2 buf2
    const want: number[] = [];
    let pv = [1, -2], buf = [0, 0];
    for (const lr of [0.1, 0.05]) {
      const d = pv.map((v) => 0.5 + 0.01 * v);
      buf = buf.map((b, i) => 0.9 * b + d[i]);
      pv = pv.map((v, i) => v - lr * buf[i]);
      want.push(...pv);
    }
    opt.step({ p: g });
    const got1 = Array.from(await p.data());
    opt.setLearningRate(0.05);
    opt.step({ p: g });
    const got2 = Array.from(await p.data());
    [...got1, ...got2].forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) < 1e-6, `${i}: ${v} vs ${want[i]}`)
    );
    opt.dispose();
  });
});
