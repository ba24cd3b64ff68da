import assert from "node:assert/strict";
import { runTool } from "../_support/tool.ts";
import { initBackend } from "../../lib/backend.ts";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { CHECKPOINT_FORMAT, saveCheckpoint } from "../../lib/checkpoint.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { generate } from "../../lib/data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../../lib/data/procfaces/layout.ts";
import { derivePositiveControl } from "../../lib/data/procfaces/positive_control.ts";
import { DATA_IDENTITY_FILE, dataIdentity } from "../../lib/data_identity.ts";
import type { ExperimentCamMetrics } from "../../lib/experiment/cam_metrics.ts";

// A tiny positive-control folder and an experiment folder of untrained minicnn runs.
const tmp = await Deno.makeTempDir({ prefix: "cyborg-cam-metrics-tool-" });
await generate({
  out: tmp,
  size: 32,
  counts: { ...scaleCounts(PAPER_COUNTS, 0.02), testPerSource: 6 },
  variant: "control",
  workers: 0,
});
const data = (await derivePositiveControl({ control: `${tmp}/procfaces-control`, mode: "mark" }))
  .dir;
const exp = `${tmp}/exp/positive`;
await initBackend("cpu");
const runs = [["baseline", 0, 1], ["baseline", 1, 1], ["cyborg", 0, 0.5]] as const;
for (const [strategy, seed, alpha] of runs) {
  const dir = `${exp}/${strategy}/s${seed}`;
  await Deno.mkdir(`${dir}/checkpoints`, { recursive: true });
  const model = getBackbone("minicnn").build({ seed, inputSize: 32 });
  await saveCheckpoint(`${dir}/checkpoints/best.safetensors`, model, null, {
    format: CHECKPOINT_FORMAT,
    network: "minicnn",
    epochsDone: 1,
    steps: 1,
    bestValAcc: 0.5,
    bestEpoch: 1,
    valAcc: 0.5,
    finished: true,
  });
  const config = { ...DEFAULT_CONFIG, network: "minicnn", inputSize: 32, alpha, seed };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ config }));
  model.store.dispose();
}
await Deno.writeTextFile(
  `${exp}/${DATA_IDENTITY_FILE}`,
  JSON.stringify({ identity: await dataIdentity(data), root: data, recorded: "" }),
);

function tool(...args: string[]) {
  return runTool("tools/cam_metrics.ts", ["--backend", "cpu", ...args]);
}

Deno.test("cam_metrics: both metrics for every run of an experiment folder, as JSON", async () => {
  const r = await tool("--exp", exp, "--data", data, "--batch-size", "5");
  assert.equal(r.code, 0, r.err.slice(-3000));
  const m: ExperimentCamMetrics = JSON.parse(
    await Deno.readTextFile(`${exp}/cam_metrics.json`),
  );
  assert.equal(m.format, "cyborg-kit-cam-metrics/1");
  assert.equal(m.grid, 8);
  assert.deepEqual(m.runs.map((x) => [x.strategy, x.seed, x.alpha]), runs);
  assert.deepEqual(Object.keys(m.summary), ["baseline", "cyborg"]);
  assert.equal(m.summary.baseline.runs, 2);
  assert.ok(m.floor.mse > 0 && m.floor.mse <= m.floor.normalisedTemplateMse);
  for (const run of m.runs) {
    assert.equal(run.camMse.floor, m.floor.mse);
    assert.equal(run.camMse.images, m.floor.images);
    assert.ok(run.camMse.mse > 0);
    assert.deepEqual(Object.keys(run.regions), ["paper", "standard"]);
    const t1 = run.regions.paper!;
    assert.deepEqual(Object.keys(t1), ["t1_fake", "t1_real", "t2_fake", "t3_fake", "t3_real"]);
    assert.equal(t1.t1_real.mark!.images, 6);
    assert.equal(t1.t1_fake.mark, null);
    assert.equal(t1.t1_fake.artifact!.images, 6);
    const a = t1.t2_fake.artifact!, px = t1.t2_fake.artifactPixels!;
    assert.equal(a.withPositive, px.withPositive);
    if (a.withPositive > 0) {
      // The feathered artifacts change more pixels than their ellipses cover.
      assert.ok(a.area! > 0 && a.area! < px.area!, `areas ${a.area} ${px.area}`);
      for (const s of [a.share, px.share]) assert.ok(s! >= 0 && s! <= 1);
    }
  }
  assert.ok(m.runs.some((x) => x.regions.paper!.t2_fake.artifact!.withPositive > 0));
  const sd = m.summary.baseline.camMse;
  assert.equal(sd.n, 2);
  assert.ok(r.out.includes("template floor") && r.out.includes("t1_real mark"), r.out);
  // --tap and --out.
  const out = `${tmp}/only_paper.json`;
  const p = await tool("--exp", exp, "--data", data, "--tap", "paper", "--out", out);
  assert.equal(p.code, 0, p.err.slice(-3000));
  const only: ExperimentCamMetrics = JSON.parse(await Deno.readTextFile(out));
  assert.deepEqual(Object.keys(only.runs[0].regions), ["paper"]);
  assert.deepEqual(only.runs[0].regions.paper, m.runs[0].regions.paper);
});

Deno.test("cam_metrics: errors name the option and the file", async () => {
  const missing = await tool("--data", data);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /--exp is required/);
  const noData = await tool("--exp", exp, "--data", `${tmp}/nowhere`);
  assert.equal(noData.code, 1);
  assert.match(noData.err, /--data: .*nowhere\/COMPLETE\.json does not exist/);
  // Runs trained on other data: the control folder is not what they were trained on.
  const other = await tool("--exp", exp, "--data", `${tmp}/procfaces-control`);
  assert.equal(other.code, 1);
  assert.match(other.err, /--data: .*procfaces-control is procfaces:.* trained on procfaces:/);
  const noRuns = await tool("--exp", `${tmp}/procfaces-control/csvs`, "--data", data);
  assert.equal(noRuns.code, 1);
  assert.match(noRuns.err, /--exp: no run folders/);
  const badTap = await tool("--exp", exp, "--data", data, "--tap", "paper,fc");
  assert.equal(badTap.code, 1);
  assert.match(badTap.err, /--tap: expected paper, standard/);
  const badOut = await tool("--exp", exp, "--data", data, "--out", `${tmp}/no/such/dir/x.json`);
  assert.equal(badOut.code, 1);
  assert.match(badOut.err, /--out: cannot write/);
});
