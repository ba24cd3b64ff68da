import assert from "node:assert/strict";
import { controlFolder, readPrereg } from "../lib/experiment/controls.ts";
import { getPreset, PRESETS, withRecipe } from "../lib/presets.ts";

Deno.test("presets: every control a preset runs or shows is a valid pre-registration, one per setting", async () => {
  for (const preset of Object.values(PRESETS)) {
    for (const list of [preset.controls, preset.notebookControls]) {
      const folders = new Set<string>();
      for (const c of list ?? []) {
        const where = `${preset.name}: ${c.prereg}`;
        const { prereg } = await readPrereg(c.prereg);
        const recipe = withRecipe(getPreset(prereg.preset), prereg.train, where);
        assert.ok(recipe.train.epochs! >= 1, where);
        assert.ok(
          c.seeds === undefined || c.seeds <= prereg.seeds,
          `${where}: more seeds than fixed`,
        );
        const folder = controlFolder(prereg.setting);
        assert.ok(!folders.has(folder), `${where}: a second control writes ${folder}/`);
        folders.add(folder);
      }
    }
  }
});

Deno.test("presets: full is quick powered (same recipe and data, 10 seeds, every control in full)", () => {
  const { quick, full } = PRESETS;
  assert.deepEqual(full.train, quick.train);
  assert.equal(full.dataSize, quick.dataSize);
  assert.equal(full.dataScale, quick.dataScale);
  assert.equal(full.seeds, 10);
  assert.ok(full.controls!.every((c) => c.seeds === undefined));
  assert.deepEqual(
    full.controls!.map((c) => c.prereg),
    [
      "prereg/positive_control.json",
      "prereg/negative_control_v2.json",
      "prereg/paper_like.json",
      "prereg/paper_like_twin.json",
    ],
  );
});
