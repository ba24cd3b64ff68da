import assert from "node:assert/strict";
import { testPrereg, tinyControl } from "./_support/tiny_control.ts";
import { initBackend } from "../lib/backend.ts";
import {
  backboneDemoModel,
  controlCamMetrics,
  ensureControls,
  ensureRuns,
  type NotebookContext,
  projectRoot,
  readMeanHumanMaps,
  resolveSettings,
  rootPath,
  settingsFromEnv,
  setupNotebook,
  trainBackboneDemo,
  withCwd,
} from "../lib/notebook.ts";
import { PRESETS } from "../lib/presets.ts";
import { collectRuns } from "../lib/results.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";

Deno.test("resolveSettings: defaults, and errors naming the setting", () => {
  const r = resolveSettings({ preset: "smoke" });
  assert.equal(r.network, PRESETS.smoke.train.network);
  assert.equal(r.inputSize, 32);
  assert.equal(r.out, "results/smoke");
  assert.equal(resolveSettings({ preset: "quick", network: "resnet18" }).network, "resnet18");
  assert.throws(
    () => resolveSettings({ preset: "huge" }),
    /^Error: preset \(CYBORG_PRESET\): unknown preset "huge" \(known: smoke, quick, full, paper\)/,
  );
  assert.throws(
    () => resolveSettings({ preset: "smoke", network: "vgg" }),
    /^Error: network: unknown network "vgg"/,
  );
  assert.throws(
    () => resolveSettings({ preset: "smoke", network: "inception_v3" }),
    /network: inception_v3 needs inputs of at least 75 px; preset "smoke" trains at 32 px/,
  );
  assert.throws(
    () => resolveSettings({ preset: "smoke", out: "../x" }),
    /out: "\.\.\/x" must be a folder inside/,
  );
  assert.throws(() => resolveSettings({ preset: "smoke", out: "/tmp/x" }), /out: "\/tmp\/x"/);
});

Deno.test("projectRoot holds deno.json; rootPath; withCwd restores the directory even on error", async () => {
  const root = projectRoot();
  await Deno.stat(`${root}/deno.json`);
  assert.equal(rootPath({ root }, "results/x"), `${root}/results/x`);
  assert.equal(rootPath({ root }, "./a"), `${root}/a`);
  assert.equal(rootPath({ root }, "/abs"), "/abs");
  const before = Deno.cwd();
  const tmp = await Deno.realPath(await Deno.makeTempDir());
  try {
    assert.equal(await withCwd(tmp, () => Promise.resolve(Deno.cwd())), tmp);
    await assert.rejects(() => withCwd(tmp, () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(Deno.cwd(), before);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("setupNotebook: a data root without the paper's layout is an error naming CYBORG_DATA", async () => {
  // The backend is a setting, not CYBORG_BACKEND: tests share one process, and tools spawned by
  // other test modules inherit its environment.
  await assert.rejects(
    () => setupNotebook({ preset: "smoke", data: "/nonexistent/root", backend: "cpu" }, () => {}),
    /data \(CYBORG_DATA\): \/nonexistent\/root\/csvs\/original\.csv does not exist/,
  );
  const ctx = await setupNotebook(
    { preset: "smoke", data: await tinyDataRoot(), backend: "cpu" },
    () => {},
  );
  assert.deepEqual(ctx.variants.map((v) => v.name), ["data"]);
  assert.equal(ctx.backend.name, "cpu");
  assert.equal(ctx.procedural, false);
});

async function tinyContext(): Promise<NotebookContext> {
  const data = await tinyDataRoot();
  const root = data.slice(0, data.lastIndexOf("/"));
  return {
    root,
    preset: {
      ...PRESETS.smoke,
      train: { network: "tinycnn", inputSize: 16, epochs: 1, maxSteps: 2, batchSize: 8 },
      seeds: 1,
    },
    network: "tinycnn",
    inputSize: 16,
    variants: [{ name: "shortcut", root: "procfaces" }],
    out: "results/nb",
    procedural: true,
    backend: await initBackend("cpu"),
  };
}

Deno.test("ensureRuns trains what is missing in the reproduce layout, then reuses it", async () => {
  const ctx = await tinyContext();
  const before = Deno.cwd();
  const lines: string[] = [];
  const runs = await ensureRuns(ctx, ["baseline", "cyborg"], {
    progress: "silent",
    log: (l) => lines.push(l),
  });
  assert.equal(Deno.cwd(), before, "the kernel's directory is restored");
  assert.deepEqual(runs.map((r) => `${r.variant}/${r.strategy}/s${r.seed}`), [
    "shortcut/baseline/s0",
    "shortcut/cyborg/s0",
  ]);
  for (const r of runs) {
    assert.equal(r.dir, `${ctx.root}/results/nb/shortcut/${r.strategy}/s0`);
    assert.equal(r.summary?.status, "finished");
    assert.ok(Object.keys(r.scores).includes("unseen_dots"));
    assert.ok(r.meanCams.unseen_dots?.fake);
    // The run config holds paths relative to the root, as the reproduce job writes them.
    const cfg = JSON.parse(await Deno.readTextFile(`${r.dir}/config.json`)).config;
    assert.equal(cfg.csv, "procfaces/csvs/original.csv");
  }
  const human = await readMeanHumanMaps(ctx, "shortcut");
  assert.equal(human?.grid, 4);
  assert.deepEqual(lines.slice(0, 2), ["[1/2] shortcut/baseline/s0", "[2/2] shortcut/cyborg/s0"]);

  // Finished runs are reused: nothing is rewritten.
  const log = `${runs[1].dir}/log.jsonl`;
  const mtime = (await Deno.stat(log)).mtime;
  const again = await ensureRuns(ctx, ["cyborg"], { progress: "silent", log: () => {} });
  assert.equal(again.length, 1);
  assert.deepEqual((await Deno.stat(log)).mtime, mtime);
  assert.deepEqual(again[0].summary, runs[1].summary);

  await assert.rejects(
    () => ensureRuns(ctx, ["fancy" as "baseline"]),
    /strategies: unknown strategy "fancy"/,
  );
  await assert.rejects(
    () => ensureRuns(ctx, ["baseline"], { variants: ["nope"] }),
    /variants: unknown variant "nope" \(this session has shortcut\)/,
  );
});

Deno.test("backbone demo: validation, a 1-step run outside the strategy folders, steps 0 = untrained", async () => {
  const ctx = await tinyContext();
  await assert.rejects(
    () => trainBackboneDemo(ctx, { network: "tinycnn", inputSize: 16, steps: 0 }),
    /steps: must be a positive integer to train, got 0/,
  );
  await assert.rejects(
    () => trainBackboneDemo(ctx, { network: "resnet18", inputSize: 16, steps: 1 }),
    /inputSize: resnet18 needs an integer of at least 32, got 16/,
  );
  const demo = await backboneDemoModel(
    ctx,
    { network: "tinycnn", inputSize: 16, steps: 1 },
    "silent",
  );
  assert.equal(demo.summary?.steps, 1);
  assert.equal(demo.dir, `${ctx.root}/results/nb/backbone_demo/tinycnn_16px_1steps`);
  assert.equal(demo.model.inputSize, 16);
  demo.model.store.dispose();
  const runs = await collectRuns(rootPath(ctx, ctx.out));
  assert.ok(runs.every((r) => r.variant !== "backbone_demo"), "collectRuns ignores the demo");
  const fresh = await backboneDemoModel(ctx, { network: "tinycnn", inputSize: 16, steps: 0 });
  assert.equal(fresh.summary, undefined);
  fresh.model.store.dispose();
});

Deno.test("settingsFromEnv: the settings cell's environment variables, CYBORG_BACKEND checked", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.deepEqual(settingsFromEnv(env({})), {
    preset: "quick",
    network: undefined,
    data: undefined,
    out: undefined,
  });
  assert.deepEqual(
    settingsFromEnv(env({
      CYBORG_PRESET: "smoke",
      CYBORG_NETWORK: "tinycnn",
      CYBORG_DATA: "/d",
      CYBORG_OUT: "results/x",
      CYBORG_BACKEND: "cpu",
    })),
    { preset: "smoke", network: "tinycnn", data: "/d", out: "results/x", backend: "cpu" },
  );
  assert.throws(() => settingsFromEnv(env({ CYBORG_BACKEND: "gpu9" })), /CYBORG_BACKEND/);
});

/**
 * A session whose preset's embedded data is a tiny 32 px control variant under a temporary root
 * (`data/32px-x0.02/procfaces-control`), with one notebook control: `prereg/t.json` (setting
 * `positive`, the smoke recipe, one seed).
 */
async function controlsContext(): Promise<NotebookContext> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "cyborg-nb-controls-" }));
  await tinyControl(`${root}/data/32px-x0.02`);
  await Deno.mkdir(`${root}/prereg`);
  await Deno.writeTextFile(
    `${root}/prereg/t.json`,
    JSON.stringify(testPrereg({
      title: "a test control",
      seeds: 1,
      hypotheses: [{ id: "t.t1", contrast: "cyborg - baseline", metric: "T1 AUC", expected: ">" }],
    })),
  );
  return {
    root,
    preset: {
      ...PRESETS.smoke,
      dataScale: 0.02,
      notebookControls: [{ prereg: "prereg/t.json" }],
    },
    network: "minicnn",
    inputSize: 32,
    variants: [{ name: "control", root: "data/32px-x0.02/procfaces-control" }],
    out: "results/nb",
    procedural: true,
    backend: await initBackend("wasm"),
  };
}

Deno.test("ensureControls evaluates what a control lacks as the main job does, then reads it back; controlCamMetrics caches", async () => {
  const ctx = await controlsContext();
  const before = Deno.cwd();
  const lines: string[] = [];
  const [c, ...more] = await ensureControls(ctx, {
    progress: "silent",
    log: (l) => lines.push(l),
  });
  assert.equal(Deno.cwd(), before, "the kernel's directory is restored");
  assert.equal(more.length, 0);
  assert.equal(c.evaluated, true);
  assert.deepEqual([c.prereg, c.setting, c.title], ["prereg/t.json", "positive", "a test control"]);
  assert.equal(c.dir, `${ctx.root}/results/nb/positive`);
  assert.equal(c.data, `${ctx.root}/data/32px-x0.02`);
  assert.equal(c.variant.root, `${ctx.root}/data/32px-x0.02/procfaces-positive`);
  assert.deepEqual(c.claims.hypotheses.map((h) => h.id), ["t.t1"]);
  assert.deepEqual(c.reliance.strategies.map((s) => s.n), [1, 1]);
  assert.deepEqual(c.runs.map((r) => r.dir), [
    `${ctx.root}/results/nb/positive/positive/baseline/s0`,
    `${ctx.root}/results/nb/positive/positive/cyborg/s0`,
  ]);
  assert.deepEqual(lines.slice(0, 2), ["[1/2] positive/baseline/s0", "[2/2] positive/cyborg/s0"]);
  // The folder the main job writes, with its pre-registration's SHA-256.
  const done = JSON.parse(await Deno.readTextFile(`${c.dir}/COMPLETE.json`));
  assert.equal(done.prereg_sha256, c.sha256);
  // The data derived from the embedded control variant, config paths relative to the root.
  const cfg = JSON.parse(await Deno.readTextFile(`${c.runs[0].dir}/config.json`)).config;
  assert.equal(cfg.csv, "data/32px-x0.02/procfaces-positive/csvs/original.csv");

  // A complete folder is read, not evaluated again: nothing is rewritten.
  const mtime = (await Deno.stat(`${c.dir}/claims.json`)).mtime;
  const [again] = await ensureControls(ctx, { log: () => {} });
  assert.equal(again.evaluated, false);
  assert.deepEqual(again.claims, c.claims);
  assert.deepEqual(again.runs.map((r) => r.dir), c.runs.map((r) => r.dir));
  assert.deepEqual((await Deno.stat(`${c.dir}/claims.json`)).mtime, mtime);

  // CAM metrics: computed once into the run folder's cam_metrics.json, then reused.
  const m = await controlCamMetrics(ctx, c);
  assert.deepEqual(Object.keys(m.summary), ["baseline", "cyborg"]);
  assert.equal(m.exp, "results/nb/positive/positive");
  const file = `${c.dir}/positive/cam_metrics.json`;
  const written = (await Deno.stat(file)).mtime;
  assert.deepEqual(await controlCamMetrics(ctx, c), m);
  assert.deepEqual((await Deno.stat(file)).mtime, written);
  await assert.rejects(
    () => controlCamMetrics(ctx, { ...c, mode: "paper" }),
    /controlCamMetrics: .* trains on the "paper" folder/,
  );

  // A session on other data has no controls.
  const other: string[] = [];
  assert.deepEqual(
    await ensureControls({ ...ctx, procedural: false }, { log: (l) => other.push(l) }),
    [],
  );
  assert.match(other[0], /controls: none/);
  await Deno.remove(ctx.root, { recursive: true });
});
