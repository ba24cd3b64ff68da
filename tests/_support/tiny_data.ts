/**
 * Test support: a tiny procedural-faces dataset in the paper's layout (16 px, ~40 training
 * images), generated once per process into a temporary folder.
 *
 * @module
 */
import { generate } from "../../lib/data/procfaces/generate.ts";
import { type Counts, PAPER_COUNTS, scaleCounts } from "../../lib/data/procfaces/layout.ts";

let root: Promise<string> | undefined;

/** Image counts of the tiny dataset. */
export const TINY_COUNTS: Counts = {
  ...scaleCounts(PAPER_COUNTS, 0.02),
  largeReal: 30,
  largeFake: 30,
  testPerSource: 6,
};

/** Path of the shortcut variant's root (`<tmp>/procfaces`); generated on first call. */
export function tinyDataRoot(): Promise<string> {
  root ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "cyborg-tiny-" });
    await generate({ out, size: 16, counts: TINY_COUNTS, variant: "shortcut", workers: 0 });
    return `${out}/procfaces`;
  })();
  return root;
}
