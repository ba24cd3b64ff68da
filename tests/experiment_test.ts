import assert from "node:assert/strict";
import {
  embeddedVariants,
  experimentRuns,
  STRATEGIES,
  trainConfigFor,
  writeMeanHumanMaps,
} from "../lib/experiment.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { getPreset } from "../lib/presets.ts";
import { initBackend } from "../lib/backend.ts";

// Uses the smoke preset's embedded data (`deno task test` generates it before the tests).
Deno.test("writeMeanHumanMaps keeps the map while the CAM grid is the same, rewrites it otherwise", async () => {
  await initBackend("cpu");
  const [variant] = embeddedVariants(getPreset("smoke"));
  const out = await Deno.makeTempDir({ prefix: "cyborg-meanmap-" });
  const path = `${out}/${variant.name}/mean_human_map.json`;
  await writeMeanHumanMaps(variant, out, "minicnn", 32);
  const first = JSON.parse(await Deno.readTextFile(path));
  assert.equal(first.grid, getBackbone("minicnn").spec.camGrid(32));
  assert.equal(first.fake.length, first.grid ** 2);
  const mtime = (await Deno.stat(path)).mtime!.getTime();
  await writeMeanHumanMaps(variant, out, "minicnn", 32);
  assert.equal((await Deno.stat(path)).mtime!.getTime(), mtime, "same grid: not rewritten");
  const other = getBackbone("minicnn").spec.camGrid(64);
  assert.notEqual(other, first.grid);
  await writeMeanHumanMaps(variant, out, "minicnn", 64);
  const second = JSON.parse(await Deno.readTextFile(path));
  assert.equal(second.grid, other, "another grid: rewritten at that grid");
  assert.equal(second.real.length, other ** 2);
  await Deno.remove(out, { recursive: true });
});

Deno.test("the shuffled-maps control runs only when named; it is CYBORG with shuffleMaps", async () => {
  const preset = getPreset("smoke");
  const [variant] = embeddedVariants(preset);
  const spec = { preset, variants: [variant], out: "/tmp/unused" };
  const names = (runs: { info: { strategy: string } }[]) => runs.map((r) => r.info.strategy);
  const opts = { checkIdentity: false };
  assert.deepEqual(
    names(await experimentRuns(spec, opts)),
    ["baseline", "cyborg", "segmentation", "data7x"],
  );
  assert.deepEqual(
    names(await experimentRuns({ ...spec, strategies: ["shuffled", "cyborg"] }, opts)),
    ["cyborg", "shuffled"],
  );
  const by = (n: string) => trainConfigFor(spec, variant, STRATEGIES.find((s) => s.name === n)!, 0);
  const { shuffleMaps, ...shuffled } = by("shuffled");
  const { shuffleMaps: own, ...cyborg } = by("cyborg");
  assert.equal(shuffleMaps, true);
  assert.equal(own, false);
  assert.deepEqual(shuffled, cyborg);
});
