import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { tinycnn } from "../../lib/backbones/small_cnn.ts";
import { initBackend } from "../../lib/backend.ts";
import { openDataset } from "../../lib/data/dataset.ts";
import { averagePrecision, rocAuc } from "../../lib/metrics.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { readSafetensors, writeSafetensors } from "../../lib/safetensors.ts";
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

Deno.test("score: test rows in CSV order as path,label,score, sigmoid(logit 1), metrics", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  try {
    const { csv, weights } = await fixture(dir);
    const summary = await score({
      weights,
      csvs: [csv],
      images: `${dir}/images`,
      out: `${dir}/scores.csv`,
      batchSize: 2,
      cacheDir: false,
      progress: "silent",
    });
    // The weights record their network and input size: no --network needed.
    assert.equal(summary.network, "tinycnn");
    assert.equal(summary.inputSize, 16);
    const lines = (await Deno.readTextFile(`${dir}/scores.csv`)).trim().split("\n");
    assert.equal(lines[0], "path,label,score");
    const rows = lines.slice(1).map((l) => l.split(","));
    assert.deepEqual(rows.map((r) => r[0]), [
      "/fake/b.png",
      "/real/a.png",
      "/real/c.png",
      "/fake/d.png",
      "/fake/e.png",
    ]);
    assert.deepEqual(rows.map((r) => r[1]), ["1", "0", "0", "1", "1"]);
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
    rows.forEach((r, i) => assert.ok(Math.abs(Number(r[2]) - want[i]) < 1e-6, `row ${i}`));
    const labels = [1, 0, 0, 1, 1];
    const [set] = summary.sets;
    assert.equal(set.n, 5);
    assert.equal(set.basis, "own rows");
    assert.ok(Math.abs(set.evaluation!.auc - rocAuc(labels, want)) < 1e-12);
    assert.ok(Math.abs(set.evaluation!.ap - averagePrecision(labels, want)) < 1e-12);
    assert.deepEqual(set.evaluation!.tdr.map((t) => t.fdr), [0.001, 0.002, 0.01, 0.05]);
    const acc = labels.filter((l, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === l).length;
    assert.equal(set.accuracy, acc / 5);
    ds.close();
    model.store.dispose();
  } finally {
    await cleanup();
  }
});

Deno.test("score: several --csv into a folder; fakes-only sets pooled with --real faces", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  try {
    const { weights } = await fixture(dir);
    // The paper's layout: <root>/csvs/... so --images defaults to <root>.
    await Deno.rename(`${dir}/images`, `${dir}/root`);
    await Deno.mkdir(`${dir}/root/csvs/test_sets`, { recursive: true });
    const fakes = `${dir}/root/csvs/test_sets/gen.csv`;
    const reals = `${dir}/root/csvs/test_sets/real.csv`;
    await Deno.writeTextFile(fakes, "test,Synthetic,/fake/b.png\ntest,Synthetic,/fake/d.png\n");
    await Deno.writeTextFile(reals, "test,Real,/real/a.png\ntest,Real,/real/c.png\n");
    const summary = await score({
      weights,
      csvs: [fakes, reals],
      real: [reals],
      out: `${dir}/out`,
      metrics: `${dir}/out/metrics.csv`,
      batchSize: 4,
      cacheDir: false,
      progress: "silent",
    });
    const [gen, real] = summary.sets;
    assert.equal(gen.basis, "pooled with 2 real faces");
    assert.equal(real.evaluation, undefined);
    assert.match(real.basis, /one class only/);
    const own = (await Deno.readTextFile(`${dir}/out/gen.csv`)).trim().split("\n").slice(1);
    const ref = (await Deno.readTextFile(`${dir}/out/real.csv`)).trim().split("\n").slice(1);
    const s = (rows: string[]) => rows.map((r) => Number(r.split(",")[2]));
    const pooled = [...s(ref), ...s(own)];
    assert.ok(Math.abs(gen.evaluation!.auc - rocAuc([0, 0, 1, 1], pooled)) < 1e-12);
    assert.ok(Math.abs(gen.evaluation!.ap - averagePrecision([0, 0, 1, 1], pooled)) < 1e-12);
    assert.deepEqual([gen.evaluation!.roc.negatives, gen.evaluation!.roc.positives], [2, 2]);
    const metrics = (await Deno.readTextFile(`${dir}/out/metrics.csv`)).trim().split("\n");
    assert.equal(metrics[0], "set,n,auc,ap,eer,accuracy,tdr@0.1%,tdr@0.2%,tdr@1%,tdr@5%,basis");
    assert.equal(metrics.length, 3);
    // Without --real a fakes-only set has no AUC, and says how to get one.
    const alone = await score({
      weights,
      csvs: [fakes],
      batchSize: 4,
      cacheDir: false,
      progress: "silent",
    });
    assert.match(alone.sets[0].basis, /pass --real/);
  } finally {
    await cleanup();
  }
});

Deno.test("score: errors name the option or the file; options may not contradict the weights", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  try {
    const { csv, weights } = await fixture(dir);
    await assert.rejects(main(["--weights", weights]), /--csv is required/);
    await assert.rejects(main(["--csv", csv]), /--weights is required/);
    await assert.rejects(
      main(["--weights", weights, "--csv", csv, "--csv", csv, "--out", `${dir}/o`]),
      /two CSVs are named split\.csv/,
    );
    const base = {
      weights,
      csvs: [csv],
      images: `${dir}/images`,
      batchSize: 2,
      cacheDir: false as const,
    };
    await assert.rejects(
      score({ ...base, network: "smallcnn" }),
      /--network smallcnn: .*w\.safetensors holds a tinycnn/,
    );
    await assert.rejects(
      score({ ...base, inputSize: 32 }),
      /--input-size 32: .*w\.safetensors was trained at 16 px/,
    );
    await assert.rejects(
      score({ ...base, batchSize: 0 }),
      /--batch-size: must be a positive integer/,
    );
    await assert.rejects(
      score({ ...base, out: `${dir}/missing/s.csv` }),
      /--out: cannot write .*missing\/s\.csv/,
    );
    // A state_dict that records nothing needs --network.
    const bare = `${dir}/bare.safetensors`;
    const { tensors } = await readSafetensors(weights);
    await writeSafetensors(bare, tensors, {});
    await assert.rejects(
      score({ ...base, weights: bare }),
      /--network is required: .*bare\.safetensors does not record its network/,
    );
    const ok = await score({ ...base, weights: bare, network: "tinycnn", progress: "silent" });
    assert.equal(ok.sets[0].n, 5);
    await assert.rejects(
      score({ ...base, network: "nope", weights: bare }),
      /--network: unknown network "nope"/,
    );
    await assert.rejects(
      score({ ...base, transformInput: true }),
      /--transform-input: tinycnn has no transform_input \(InceptionV3 only\)/,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("score --weights: the paper's checkpoint dict (.pth by torch) scores as the safetensors of its state_dict", async () => {
  const { dir, cleanup } = await tempDir("score_test_");
  const FIX = new URL("../fixtures/pth/", import.meta.url).pathname;
  try {
    const { csv } = await fixture(dir);
    const run = async (weights: string, out: string) => {
      const args = ["--weights", weights, "--network", "tinycnn", "--csv", csv, "--out", out];
      await main([...args, "--images", `${dir}/images`, "--backend", "cpu", "--no-cache"]);
      return await Deno.readTextFile(out);
    };
    const pth = await run(`${FIX}tinycnn_ckpt.pth`, `${dir}/pth.csv`);
    const st = await run(`${FIX}tinycnn_sd.safetensors`, `${dir}/st.csv`);
    assert.equal(pth.trim().split("\n").length, 6);
    assert.equal(pth, st);
    await assert.rejects(
      main(["--weights", `${FIX}tinycnn_ckpt.pth`, "--csv", csv, "--backend", "cpu"]),
      /--network is required: .*tinycnn_ckpt\.pth does not record its network/,
    );
  } finally {
    await cleanup();
  }
});
