import assert from "node:assert/strict";
import { aucResults, type RunResult } from "../lib/results.ts";
import { rocAuc } from "../lib/metrics.ts";

const set = (label: 0 | 1, scores: number[]) => ({ labels: scores.map(() => label), scores });

function run(scores: RunResult["scores"]): RunResult {
  return {
    variant: "v",
    strategy: "baseline",
    seed: 0,
    dir: "/nowhere",
    epochs: [],
    scores,
    meanCams: {},
  };
}

Deno.test("aucResults: fakes against the pooled reals; tN_fake against tN_real alone", () => {
  const r = run({
    real_a: set(0, [0.1, 0.2]),
    real_b: set(0, [0.3, 0.9]),
    unseen_x: set(1, [0.4, 0.8]),
    t1_real: set(0, [0.95, 0.99]),
    t1_fake: set(1, [0.05, 0.5]),
    t2_real: set(0, [0.0, 0.1]),
    t2_fake: set(1, [0.6, 0.7]),
    lonely_fake: set(1, [0.25]),
  });
  const got = Object.fromEntries(aucResults([r]).map((a) => [a.generator, a.auc]));
  const pooled = [0.1, 0.2, 0.3, 0.9];
  const auc = (reals: number[], fakes: number[]) =>
    rocAuc([...reals.map(() => 0), ...fakes.map(() => 1)], [...reals, ...fakes]);
  assert.equal(got.unseen_x, auc(pooled, [0.4, 0.8]));
  assert.equal(got.lonely_fake, auc(pooled, [0.25])); // no lonely_real: the pool
  assert.equal(got.t1_fake, 0); // reversed: every real above every fake
  assert.equal(got.t2_fake, 1);
  assert.equal(Object.keys(got).length, 4);
  // Without a paired set the old rule holds: every real set is pooled.
  const plain = aucResults([
    run({ real_a: set(0, [0.1]), t1_real: set(0, [0.9]), f: set(1, [0.5]) }),
  ]);
  assert.equal(plain[0].auc, 0.5);
});
