/**
 * Test support for the controls: a tiny 32 px control variant to derive the decoy and paper-like
 * folders from, and a pre-registration on the smoke recipe.
 *
 * @module
 */
import { generate } from "../../lib/data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../../lib/data/procfaces/layout.ts";
import { POSITIVE_MARK, POSITIVE_SOFTEN } from "../../lib/data/procfaces/positive_control.ts";

/** Generates a tiny 32 px control variant (`<out>/procfaces-control`, ~2 % of the paper's counts). */
export async function tinyControl(out: string): Promise<void> {
  await generate({
    out,
    size: 32,
    counts: { ...scaleCounts(PAPER_COUNTS, 0.02), testPerSource: 6 },
    variant: "control",
    workers: 0,
  });
}

/**
 * A pre-registration of the positive setting on the smoke recipe (baseline vs CYBORG, 2 seeds, the
 * default decoy and attenuation); `fields` replace or add fields.
 */
export function testPrereg(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    setting: "positive",
    preset: "smoke",
    strategies: ["baseline", "cyborg"],
    first_seed: 0,
    seeds: 2,
    mark: { amplitude: POSITIVE_MARK.amplitude, sizeFrac: POSITIVE_MARK.sizeFrac },
    soften: POSITIVE_SOFTEN,
    ...fields,
  };
}
