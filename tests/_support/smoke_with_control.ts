/**
 * `tools/reproduce.ts` with the smoke preset given one control, its pipeline-check
 * pre-registration (`prereg/smoke_positive.json`), for tests of how the main job runs a preset's
 * controls: `deno run -A tests/_support/smoke_with_control.ts --preset smoke …`.
 *
 * @module
 */
import { runCli } from "../../lib/cli_args.ts";
import { PRESETS } from "../../lib/presets.ts";
import { reproduce } from "../../tools/reproduce.ts";

if (import.meta.main) {
  PRESETS.smoke.controls = [{ prereg: "prereg/smoke_positive.json" }];
  await runCli(() => reproduce(Deno.args));
}
