import assert from "node:assert/strict";
import { embeddedVariants } from "../../lib/experiment/embedded.ts";
import { trainConfigFor } from "../../lib/experiment/run_config.ts";
import { experimentRuns } from "../../lib/experiment/runner.ts";
import { STRATEGIES } from "../../lib/experiment/strategies.ts";
import { getPreset } from "../../lib/presets.ts";

// Lists the smoke preset's embedded data (`deno task test` generates it before the tests).
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

Deno.test("the decision-CAM strategy runs only when named; it is CYBORG with camClass diff", async () => {
  const preset = getPreset("smoke");
  const [variant] = embeddedVariants(preset);
  const spec = { preset, variants: [variant], out: "/tmp/unused" };
  const runs = await experimentRuns({ ...spec, strategies: ["decision", "baseline"] }, {
    checkIdentity: false,
  });
  assert.deepEqual(runs.map((r) => r.info.strategy), ["baseline", "decision"]);
  const by = (n: string) => trainConfigFor(spec, variant, STRATEGIES.find((s) => s.name === n)!, 0);
  const { camClass, ...decision } = by("decision");
  const { camClass: own, ...cyborg } = by("cyborg");
  assert.deepEqual([camClass, own], ["diff", "pred"]);
  assert.deepEqual(decision, cyborg);
});
