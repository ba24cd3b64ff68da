import assert from "node:assert/strict";
import { runTool } from "../_support/tool.ts";
import { testPrereg, tinyControl } from "../_support/tiny_control.ts";
import { derivePositiveControl } from "../../lib/data/procfaces/positive_control.ts";

// The positive-control experiment end to end on the smoke preset and a tiny 32 px data set:
// calibration baselines on the three folders, then an evaluation fixed by a pre-registration file.
const data = await Deno.makeTempDir({ prefix: "cyborg-positive-tool-" });
await tinyControl(data);
for (const mode of ["mark", "nomark", "masked", "paper"] as const) {
  await derivePositiveControl({ control: `${data}/procfaces-control`, mode });
}

function tool(...args: string[]) {
  return runTool("tools/positive_control.ts", [...args]);
}

Deno.test("positive_control calibrate: baselines on the three folders, T1–T3 AUCs and the acceptance checks", async () => {
  const out = `${data}/cal`;
  const r = await tool(
    "calibrate",
    "--data",
    data,
    "--preset",
    "smoke",
    "--seeds",
    "1",
    "--epochs",
    "2",
    "--out",
    out,
  );
  assert.equal(r.code, 0, r.err.slice(-3000));
  const cal = JSON.parse(await Deno.readTextFile(`${out}/calibration.json`));
  // The recipe override is recorded and reaches every run.
  assert.deepEqual(cal.recipe, { epochs: 2 });
  const cfg = JSON.parse(
    await Deno.readTextFile(`${out}/positive-nomark/baseline/s100/config.json`),
  );
  assert.equal(cfg.config.epochs, 2);
  assert.deepEqual(Object.keys(cal.auc).sort(), ["positive", "positive-masked", "positive-nomark"]);
  for (const v of Object.values(cal.auc) as Record<string, { values: number[] }>[]) {
    for (const t of ["t1", "t2", "t3"]) {
      assert.equal(v[t].values.length, 1);
      assert.ok(v[t].values[0] >= 0 && v[t].values[0] <= 1);
    }
  }
  assert.deepEqual(cal.seeds, { first: 100, n: 1 });
  assert.equal(cal.checks.length, 3);
  assert.ok(await Deno.stat(`${out}/positive-nomark/baseline/s100/summary.json`));
  for (const c of cal.checks) assert.ok(r.out.includes(c.id));
});

Deno.test("positive_control calibrate: a bad recipe override names its flag, before any run", async () => {
  const out = `${data}/cal-bad`;
  for (
    const [args, re] of [
      [["--epochs", "1.5"], /--epochs: epochs must be a positive integer, got 1\.5/],
      [["--lr-step-size", "0"], /--lr-step-size: lrStepSize must be a positive integer, got 0/],
      [["--lr", "-0.1"], /--lr: lr must be a positive number, got -0\.1/],
    ] as const
  ) {
    const r = await tool("calibrate", "--data", data, "--preset", "smoke", "--out", out, ...args);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, re);
    assert.ok(!r.err.includes("    at "), "no stack trace");
    assert.equal(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
  }
});

Deno.test("positive_control evaluate: runs what the pre-registration fixes; its SHA-256 in COMPLETE.json", async () => {
  const prereg = `${data}/prereg.json`;
  const text = JSON.stringify(testPrereg());
  await Deno.writeTextFile(prereg, text);
  const out = `${data}/eval`;
  const r = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", out);
  assert.equal(r.code, 0, r.err.slice(-3000));
  const claims = JSON.parse(await Deno.readTextFile(`${out}/claims.json`));
  assert.deepEqual(claims.hypotheses.map((h: { id: string }) => h.id), [
    "positive.cyborg_vs_baseline.t1",
    "positive.cyborg_vs_baseline.t2",
  ]);
  for (const h of claims.hypotheses) assert.deepEqual(h.n, [2, 2]);
  const done = JSON.parse(await Deno.readTextFile(`${out}/COMPLETE.json`));
  const want = [
    ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
  ]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(done.prereg_sha256, want);
  assert.equal(done.runs, 4);
  const html = await Deno.readTextFile(`${out}/report.html`);
  assert.ok(html.includes(want));
  assert.ok(html.includes("MDE, 80 % power"));

  // A decoy other than the pre-registered one, a missing file, a strategy without data: refused.
  await Deno.writeTextFile(prereg, text.replace('"amplitude":80', '"amplitude":60'));
  const bad = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/bad`);
  assert.equal(bad.code, 1);
  assert.match(
    bad.err,
    /has the mark .*"amplitude":80.*the pre-registration .* fixes \{"amplitude":60/,
  );
  const none = await tool("evaluate", "--data", data, "--prereg", `${data}/nope.json`);
  assert.match(none.err, /--prereg: .*nope.json does not exist/);
  await Deno.writeTextFile(prereg, text.replace('"cyborg"', '"data7x"'));
  const x7 = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/bad`);
  assert.match(x7.err, /strategy "data7x" cannot run on this setting/);
  // A data folder without the pre-registered erased share, an unknown folder mode, a hypothesis
  // that does not parse: refused, naming the file.
  const obj = JSON.parse(text);
  const heavy = JSON.stringify({ ...obj, heavy: { fraction: 0.5, passes: 3 } });
  await Deno.writeTextFile(prereg, heavy);
  const hv = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/bad`);
  assert.match(hv.err, /heavy null, the pre-registration .* fixes .* heavy \{"fraction":0\.5/);
  await Deno.writeTextFile(prereg, JSON.stringify({ ...obj, mode: "sideways" }));
  const md = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/bad`);
  assert.match(
    md.err,
    /--prereg: .*prereg\.json: "mode" must be one of mark, nomark, masked, paper, paper-twin/,
  );
  const badH = { id: "x", contrast: "cyborg vs baseline", metric: "T1", expected: ">" };
  await Deno.writeTextFile(prereg, JSON.stringify({ ...obj, hypotheses: [badH] }));
  const hy = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/h`);
  assert.match(hy.err, /--prereg: .*prereg\.json: hypotheses\[0\]: "contrast" must read/);
  const arm = { id: "y", contrast: "shuffled - baseline", metric: "T1", expected: ">" };
  await Deno.writeTextFile(prereg, JSON.stringify({ ...obj, hypotheses: [arm] }));
  const ar = await tool("evaluate", "--data", data, "--prereg", prereg, "--out", `${data}/h`);
  assert.match(ar.err, /hypothesis "y" compares "shuffled", which is not one of its strategies/);
  assert.equal(await Deno.stat(`${data}/h`).then(() => true, () => false), false, "no training");
  const phase = await tool("train");
  assert.match(
    phase.err,
    /expected derive, calibrate or evaluate as the first argument, got "train"/,
  );
});

Deno.test("positive_control evaluate (paper-like): VAL and T2 hypotheses, fingerprint reliance, the Figure 3 analog, --seeds as a recorded deviation", async () => {
  const prereg = `${data}/paper.json`;
  const text = JSON.stringify(testPrereg({
    setting: "paper_like",
    mode: "paper",
    seeds: 3,
    hypotheses: [
      { id: "p.t2", contrast: "cyborg - baseline", metric: "T2 AUC", expected: ">" },
      { id: "p.val", contrast: "cyborg - baseline", metric: "VAL accuracy", expected: ">" },
    ],
  }));
  await Deno.writeTextFile(prereg, text);
  const out = `${data}/paper`;
  const more = await tool("evaluate", "--data", data, "--prereg", prereg, "--seeds", "4");
  assert.match(more.err, /--seeds: 4 is more than the 3 seeds .*paper\.json fixes/);
  const r = await tool(
    "evaluate",
    "--data",
    data,
    "--prereg",
    prereg,
    "--out",
    out,
    "--seeds",
    "2",
  );
  assert.equal(r.code, 0, r.err.slice(-3000));
  const claims = JSON.parse(await Deno.readTextFile(`${out}/claims.json`));
  const [t2, val] = claims.hypotheses;
  assert.deepEqual([t2.id, t2.setting, val.id], ["p.t2", "paper_like", "p.val"]);
  assert.deepEqual([t2.n, val.n], [[2, 2], [2, 2]]);
  assert.deepEqual(claims.calibration.map((c: { id: string }) => c.id), [
    "paper_like.eval_baseline_t3_minus_t2_min",
  ]);
  // VAL: each run's mean validation accuracy over its epochs, as in log.jsonl.
  const done = JSON.parse(await Deno.readTextFile(`${out}/COMPLETE.json`));
  assert.deepEqual(done.seeds, { prereg: 3, run: 2 });
  const accs: number[] = [];
  for (const seed of [0, 1]) {
    const log = (await Deno.readTextFile(`${out}/paper_like/baseline/s${seed}/log.jsonl`))
      .trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.type === "epoch");
    accs.push(log.reduce((a, e) => a + e.val_acc, 0) / log.length);
  }
  assert.ok(Math.abs(done.val_acc.baseline - (accs[0] + accs[1]) / 2) < 1e-12);
  const rel = JSON.parse(await Deno.readTextFile(`${out}/reliance.json`));
  assert.match(rel.metric, /seen generators' fingerprint is added \(t3_fake vs its t2_fake twin\)/);
  const html = await Deno.readTextFile(`${out}/report.html`);
  assert.ok(html.includes("Figure 3 analog"));
  assert.ok(html.includes("Deviation: 2 of its 3 seeds per strategy were run"));
});
