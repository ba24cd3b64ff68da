import assert from "node:assert/strict";
import { embeddedVariants } from "../../lib/experiment/embedded.ts";
import { writeMeanHumanMaps } from "../../lib/experiment/human_maps.ts";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { getPreset } from "../../lib/presets.ts";
import { initBackend } from "../../lib/backend.ts";

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
