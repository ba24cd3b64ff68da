import assert from "node:assert/strict";
import { chromium, count } from "../_support/chromium.ts";

// Spawned tools resolve against the project root, whatever the test process's cwd (another
// test module in this process may change it).
const PROJECT_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

// The main job end to end on the smoke preset: embedded data (generated if absent), 4 strategies ×
// 1 seed × 2 variants, scoring, report. Then the report opens in headless Chromium and Plotly
// must have drawn every figure.
Deno.test("deno task reproduce --preset smoke writes every run, the AUCs and a report that renders", async () => {
  const out = await Deno.makeTempDir({ prefix: "cyborg-reproduce-" });
  const res = await new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["run", "-A", "tools/reproduce.ts", "--preset", "smoke", "--out", out, "--jobs", "2"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(res.stdout);
  const stderr = new TextDecoder().decode(res.stderr);
  assert.equal(res.code, 0, stderr.slice(-3000));
  const lines = stdout.trim().split("\n");
  assert.match(lines[lines.length - 1], /^wall_s=\d+(\.\d+)?$/);

  for (const variant of ["shortcut", "control"]) {
    for (const strategy of ["baseline", "cyborg", "segmentation", "data7x"]) {
      const dir = `${out}/${variant}/${strategy}/s0`;
      const summary = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
      assert.equal(summary.status, "finished", dir);
      const evals = [...Deno.readDirSync(`${dir}/eval`)].map((e) => e.name);
      assert.ok(evals.includes("mean_cams.json"), dir);
      assert.ok(evals.filter((n) => n.endsWith(".csv")).length >= 3, dir);
    }
    const human = JSON.parse(await Deno.readTextFile(`${out}/${variant}/mean_human_map.json`));
    assert.equal(human.fake.length, human.grid * human.grid);
  }
  const aucs = JSON.parse(await Deno.readTextFile(`${out}/aucs.json`));
  assert.ok(aucs.length >= 8);
  for (const a of aucs) assert.ok(a.auc >= 0 && a.auc <= 1);
  // One seed per strategy: every hypothesis is stated, none can be tested.
  const claims = JSON.parse(await Deno.readTextFile(`${out}/claims.json`));
  assert.deepEqual(
    claims.hypotheses.map((h: { id: string }) => h.id).sort(),
    ["control", "shortcut"].flatMap((v) =>
      ["cyborg", "data7x", "segmentation"].map((s) => `${v}.${s}_vs_baseline`)
    ),
  );
  for (const h of claims.hypotheses) assert.equal(h.verdict, "inconclusive", h.id);
  assert.equal(claims.calibration.length, 6);

  const html = await Deno.readTextFile(`${out}/report.html`);
  for (
    const s of [
      "NOT the paper",
      "Results: shortcut",
      "Results: control",
      "Conclusions",
      "Pre-stated hypotheses and calibration",
      "MDE, 80 % power",
    ]
  ) {
    assert.ok(html.includes(s), s);
  }
  assert.ok(html.indexOf("Results: shortcut") < html.indexOf("Results: control"));
  const figures = count(html, /class="cyborg-plot"/g);
  assert.ok(figures >= 10, `figures in report: ${figures}`);
  const dom = await chromium(["--dump-dom", `file://${out}/report.html`]);
  assert.equal(
    count(dom, /class="cyborg-plot js-plotly-plot"/g),
    figures,
    "Plotly drew every figure",
  );
  assert.ok(count(dom, /class="main-svg"/g) >= 2 * figures);
  const shots = Deno.env.get("CYBORG_TEST_ARTIFACTS") ?? out;
  await Deno.mkdir(shots, { recursive: true });
  await chromium([
    `--screenshot=${shots}/smoke_report.png`,
    "--window-size=1280,4000",
    `file://${out}/report.html`,
  ]);
  assert.ok((await Deno.stat(`${shots}/smoke_report.png`)).size > 10_000);

  // The same runs trained one at a time in this process give byte-identical checkpoints and scores.
  const out1 = await Deno.makeTempDir({ prefix: "cyborg-reproduce-jobs1-" });
  const seq = await new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: [
      ...["run", "-A", "tools/reproduce.ts", "--preset", "smoke", "--out", out1],
      ...["--jobs", "1", "--strategies", "baseline,cyborg"],
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(seq.code, 0, new TextDecoder().decode(seq.stderr).slice(-3000));
  for (const variant of ["shortcut", "control"]) {
    for (const strategy of ["baseline", "cyborg"]) {
      const rel = `${variant}/${strategy}/s0`;
      for (const f of ["checkpoints/best.safetensors", "eval/mean_cams.json", "val_scores.csv"]) {
        assert.deepEqual(
          await Deno.readFile(`${out1}/${rel}/${f}`),
          await Deno.readFile(`${out}/${rel}/${f}`),
          `${rel}/${f}: --jobs 1 and --jobs 2 differ`,
        );
      }
    }
  }

  // Started again, the job resumes: nothing is retrained or rescored (every run is finished), in
  // parallel (child processes) or in this process.
  const mtimes = async () => {
    const m: Record<string, number> = {};
    for (const variant of ["shortcut", "control"]) {
      for (const strategy of ["baseline", "cyborg", "segmentation", "data7x"]) {
        for (const f of ["checkpoints/best.safetensors", "summary.json", "eval/mean_cams.json"]) {
          const p = `${out}/${variant}/${strategy}/s0/${f}`;
          m[p] = (await Deno.stat(p)).mtime!.getTime();
        }
      }
    }
    return m;
  };
  const before = await mtimes();
  for (const jobs of ["2", "1"]) {
    const again = await new Deno.Command(Deno.execPath(), {
      cwd: PROJECT_ROOT,
      args: ["run", "-A", "tools/reproduce.ts", "--preset", "smoke", "--out", out, "--jobs", jobs],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(again.code, 0);
    assert.ok(!new TextDecoder().decode(again.stderr).includes("epoch 1/"), "no epoch retrained");
    assert.deepEqual(await mtimes(), before, `--jobs ${jobs}: a finished run was rewritten`);
  }
});

Deno.test("reproduce rejects bad options, naming them", async () => {
  const run = async (...args: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      cwd: PROJECT_ROOT,
      args: ["run", "-A", "tools/reproduce.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: r.code, err: new TextDecoder().decode(r.stderr) };
  };
  const a = await run("--preset", "huge");
  assert.equal(a.code, 1);
  assert.match(a.err, /--preset: "huge" is not one of smoke, quick, full, paper/);
  const b = await run("--strategies", "baseline,magic");
  assert.match(b.err, /--strategies: unknown strategy "magic"/);
  const c = await run("--data", "/nonexistent");
  assert.match(c.err, /--data: \/nonexistent\/csvs\/original\.csv does not exist/);
  const d = await run("--jobs", "0", "--preset", "smoke");
  assert.match(d.err, /--jobs: expected an integer >= 1, got 0/);
});
