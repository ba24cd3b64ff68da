import assert from "node:assert/strict";
import { testPrereg, tinyControl } from "../_support/tiny_control.ts";
import { derivePositiveControl } from "../../lib/data/procfaces/positive_control.ts";
import { initBackend } from "../../lib/backend.ts";
import {
  controlFlagName,
  controlFolder,
  evaluateControl,
  preregDataRoot,
  presetControl,
  readControl,
  readPrereg,
} from "../../lib/experiment/controls.ts";
import { PRESETS } from "../../lib/presets.ts";

// A tiny 32 px control variant and its decoy folder (as tests/tools/positive_control_test.ts).
const data = await Deno.makeTempDir({ prefix: "cyborg-controls-" });
await tinyControl(data);
await derivePositiveControl({ control: `${data}/procfaces-control`, mode: "mark" });
globalThis.addEventListener("unload", () => Deno.removeSync(data, { recursive: true }));

const PREREG = testPrereg({
  title: "a test control",
  hypotheses: [
    { id: "c.t1", contrast: "cyborg - baseline", metric: "T1 AUC", expected: ">" },
  ],
}) as { mark: { amplitude: number; sizeFrac: number } } & Record<string, unknown>;

async function writePrereg(name: string, obj: Record<string, unknown>): Promise<string> {
  const path = `${data}/${name}.json`;
  await Deno.writeTextFile(path, JSON.stringify(obj));
  return path;
}

Deno.test("controlFolder, preregDataRoot: the main job's layout", () => {
  assert.equal(controlFolder("paper_like_twin"), "paper-like-twin");
  const prereg = { ...PREREG, data: { folder: "data/32px-x1-negative/procfaces-positive-nomark" } };
  assert.equal(preregDataRoot(prereg as never, PRESETS.quick), "data/32px-x1-negative");
  assert.equal(preregDataRoot(PREREG as never, PRESETS.quick), "data/32px-x1");
  assert.equal(preregDataRoot(PREREG as never, PRESETS.smoke), "data/32px-x0.1");
});

Deno.test("evaluateControl: errors name the option keys (the CLI's flags with controlFlagName), all before any training", async () => {
  await initBackend("wasm");
  const out = `${data}/never`;
  await assert.rejects(
    () => evaluateControl({ prereg: `${data}/nope.json`, data, out }),
    /^Error: prereg: .*nope\.json does not exist/,
  );
  await assert.rejects(
    () => evaluateControl({ prereg: `${data}/nope.json`, data, out, name: controlFlagName }),
    /^Error: --prereg: .*nope\.json does not exist/,
  );
  const noSeeds = await writePrereg("no_seeds", { ...PREREG, seeds: undefined });
  await assert.rejects(
    () => readPrereg(noSeeds),
    /^Error: prereg: .*no_seeds\.json has no "seeds"/,
  );
  const badMark = await writePrereg("bad_mark", {
    ...PREREG,
    mark: { ...PREREG.mark, amplitude: 60 },
  });
  await assert.rejects(
    () => evaluateControl({ prereg: badMark, data, out }),
    /^Error: data: .*procfaces-positive has the mark .*"amplitude":80.* fixes \{"amplitude":60/,
  );
  const badH = await writePrereg("bad_h", {
    ...PREREG,
    hypotheses: [{ id: "x", contrast: "cyborg vs baseline", metric: "T1", expected: ">" }],
  });
  await assert.rejects(
    () => evaluateControl({ prereg: badH, data, out }),
    /^Error: prereg: .*bad_h\.json: hypotheses\[0\]: "contrast" must read/,
  );
  const badPreset = await writePrereg("bad_preset", { ...PREREG, preset: "huge" });
  await assert.rejects(
    () => evaluateControl({ prereg: badPreset, data, out }),
    /^Error: prereg preset: unknown preset "huge"/,
  );
  const badRecipe = await writePrereg("bad_recipe", { ...PREREG, train: { momentum: 0.5 } });
  await assert.rejects(
    () => evaluateControl({ prereg: badRecipe, data, out }),
    /^Error: prereg: .*bad_recipe\.json train: unknown key "momentum"/,
  );
  const ok = await writePrereg("ok", PREREG);
  await assert.rejects(
    () => evaluateControl({ prereg: ok, data, out, seeds: 3 }),
    /^Error: seeds: 3 is more than the 2 seeds .*ok\.json fixes/,
  );
  await assert.rejects(
    () => evaluateControl({ prereg: ok, data, out, seeds: 3, name: controlFlagName }),
    /^Error: --seeds: 3 is more than/,
  );
  assert.equal(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
});

Deno.test("evaluateControl writes the control folder; readControl reads it back for the same file and seeds only", async () => {
  await initBackend("wasm");
  // The recipe override (`train`) reaches every run's config.
  const prereg = await writePrereg("eval", { ...PREREG, train: { lr: 0.02 } });
  const out = `${data}/eval`;
  const started: string[] = [];
  const r = await evaluateControl({
    prereg,
    data,
    out,
    seeds: 1,
    progress: "silent",
    onRun: (i) => started.push(`${i.strategy}/s${i.seed}`),
  });
  assert.deepEqual(started, ["baseline/s0", "cyborg/s0"]);
  assert.deepEqual(r.seeds, { prereg: 2, run: 1 });
  for (const x of r.runs) {
    assert.equal(JSON.parse(await Deno.readTextFile(`${x.dir}/config.json`)).config.lr, 0.02);
  }
  assert.equal(r.title, "a test control");
  assert.deepEqual(r.claims.hypotheses.map((h) => h.id), ["c.t1"]);
  assert.deepEqual(r.reliance.strategies.map((s) => [s.strategy, s.n]), [
    ["baseline", 1],
    ["cyborg", 1],
  ]);
  assert.deepEqual(r.runs.map((x) => `${x.variant}/${x.strategy}/s${x.seed}`), [
    "positive/baseline/s0",
    "positive/cyborg/s0",
  ]);
  const done = JSON.parse(await Deno.readTextFile(`${out}/COMPLETE.json`));
  assert.equal(done.prereg_sha256, r.sha256);
  assert.deepEqual(done.seeds, { prereg: 2, run: 1 });
  assert.match(await Deno.readTextFile(`${out}/report.html`), /Deviation: 1 of its 2 seeds/);

  const p = await presetControl({ prereg, seeds: 1 }, PRESETS.smoke, data);
  assert.equal(p.dir, `${data}/positive`);
  const back = await readControl({ ...p, data, dir: out });
  assert.ok(back);
  assert.deepEqual(back.claims, r.claims);
  assert.deepEqual(back.reliance, r.reliance);
  assert.deepEqual(back.runs.map((x) => x.dir), r.runs.map((x) => x.dir));
  assert.equal(back.variant.root, `${data}/procfaces-positive`);
  // Another number of seeds, or another file: not this folder's result.
  assert.equal(await readControl({ ...p, seeds: 2, data, dir: out }), undefined);
  const edited = new TextEncoder().encode(
    JSON.stringify({ ...PREREG, train: { lr: 0.02 }, title: "edited" }),
  );
  assert.equal(await readControl({ ...p, bytes: edited, data, dir: out }), undefined);
  assert.equal(await readControl({ ...p, data, dir: `${data}/empty` }), undefined);
});
