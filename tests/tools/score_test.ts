import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { tinycnn } from "../../lib/backbones/small_cnn.ts";
import { initBackend } from "../../lib/backend.ts";
import { openDataset } from "../../lib/data/dataset.ts";
import { rocAuc } from "../../lib/metrics.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { Progress } from "../../lib/progress.ts";
import { saveWeights } from "../../lib/weights.ts";
import { main, score } from "../../tools/score.ts";
import { pattern, tempDir, writePng } from "../data/tmp_images.ts";

await initBackend("cpu");

async function fixture(dir: string): Promise<{ csv: string; weights: string }> {
  const rows = [
    "train,Real,/real/t0.png",
    "test,Synthetic,/fake/b.png",
    "test,Real,/real/a.png",
    "test,Real,/real/c.png",
    "test,Synthetic,/fake/d.png",
    "test,Synthetic,/fake/e.png",
  ];
  for (const [i, r] of rows.entries()) {
    await writePng(`${dir}/images${r.split(",")[2]}`, pattern(24, 20, 3, i * 17), 24, 20, 3);
  }
  await Deno.writeTextFile(`${dir}/split.csv`, rows.join("\n") + "\n");
  const model = tinycnn.build({ seed: 4 });
  await saveWeights(model, `${dir}/w.safetensors`);
  model.store.dispose();
  return { csv: `${dir}/split.csv`, weights: `${dir}/w.safetensors` };
}

Deno.test("score: test rows in CSV order, sigmoid(logit 1), AUC and accuracy", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  try {
    const { csv, weights } = await fixture(dir);
    const summary = await score({
      network: "tinycnn",
      weights,
      csv,
      images: `${dir}/images`,
      out: `${dir}/scores.csv`,
      batchSize: 2,
      cacheDir: false,
      progress: new Progress("score", "img", "silent"),
    });
    const lines = (await Deno.readTextFile(`${dir}/scores.csv`)).trim().split("\n");
    assert.equal(lines[0], "path,score");
    const rows = lines.slice(1).map((l) => l.split(","));
    assert.deepEqual(rows.map((r) => r[0]), [
      "/fake/b.png",
      "/real/a.png",
      "/real/c.png",
      "/fake/d.png",
      "/fake/e.png",
    ]);
    // Independent reference: the same weights and images, one batch, sigmoid of logit 1.
    const model = tinycnn.build({ seed: 4 });
    const ds = await openDataset({
      csv,
      imageRoot: `${dir}/images`,
      split: "test",
      inputSize: 16,
      mean: tinycnn.spec.mean,
      std: tinycnn.spec.std,
      cacheDir: false,
    });
    const b = await ds.getBatch([0, 1, 2, 3, 4]);
    const logits = await model.forward(tf.tensor4d(b.x, [5, 16, 16, 3]), new ForwardContext(false))
      .logits.data();
    const want = [0, 1, 2, 3, 4].map((i) => 1 / (1 + Math.exp(-logits[2 * i + 1])));
    rows.forEach((r, i) => assert.ok(Math.abs(Number(r[1]) - want[i]) < 1e-6, `row ${i}`));
    const labels = [1, 0, 0, 1, 1];
    assert.equal(summary.n, 5);
    assert.ok(Math.abs(summary.auc - rocAuc(labels, want)) < 1e-12);
    const acc = labels.filter((l, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === l).length;
    assert.equal(summary.accuracy, acc / 5);
    ds.close();
    model.store.dispose();
  } finally {
    await cleanup();
  }
});

Deno.test("score: errors name the option or the file", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  try {
    const { csv, weights } = await fixture(dir);
    await assert.rejects(main(["--weights", weights]), /--network is required/);
    await assert.rejects(
      main([
        "--network",
        "nope",
        "--weights",
        weights,
        "--csv",
        csv,
        "--images",
        dir,
        "--out",
        "x",
      ]),
      /--network: unknown network "nope"/,
    );
    await assert.rejects(
      score({
        network: "smallcnn",
        weights,
        csv,
        images: `${dir}/images`,
        out: `${dir}/s.csv`,
        batchSize: 2,
        cacheDir: false,
      }),
      /w\.safetensors: weights of network "tinycnn" cannot load into "smallcnn"/,
    );
    await assert.rejects(
      score({
        network: "tinycnn",
        weights,
        csv,
        images: `${dir}/images`,
        out: `${dir}/s.csv`,
        batchSize: 0,
      }),
      /--batch-size: must be a positive integer/,
    );
    await assert.rejects(
      score({
        network: "tinycnn",
        weights,
        csv,
        images: `${dir}/images`,
        out: `${dir}/s.csv`,
        batchSize: 2,
        transformInput: true,
      }),
      /--transform-input: tinycnn has no transform_input \(InceptionV3 only\)/,
    );
  } finally {
    await cleanup();
  }
});
