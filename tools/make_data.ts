/**
 * `deno task data [--seed N] [--size PX] [--out DIR] [--variant both|shortcut|control]
 * [--no-shortcut] [--scale F] [--workers N] [--force]`: generates the procedural-faces benchmark into
 * `DIR/procfaces/` (with the training-only shortcut) and `DIR/procfaces-control/` (without), and
 * from the control the positive-control folders `DIR/procfaces-positive{,-nomark,-masked}/`
 * (lib/data/procfaces/positive_control.ts). Deterministic and idempotent; see
 * lib/data/procfaces/generate.ts.
 *
 * @module
 */
import { type MakeDataArgs, parseMakeDataArgs, USAGE } from "../lib/data/procfaces/cli_args.ts";
import { generate } from "../lib/data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../lib/data/procfaces/layout.ts";
import {
  derivePositiveControl,
  type PositiveMode,
} from "../lib/data/procfaces/positive_control.ts";
import { runCli } from "../lib/cli_args.ts";

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  let args: MakeDataArgs;
  try {
    args = parseMakeDataArgs(Deno.args);
  } catch (e) {
    console.error(`make_data: ${(e as Error).message}`);
    Deno.exit(2);
  }
  await runCli(async () => {
    const report = await generate({
      seed: args.seed,
      size: args.size,
      out: args.out,
      variant: args.variant,
      counts: scaleCounts(PAPER_COUNTS, args.scale),
      workers: args.workers,
      force: args.force,
      log: (l) => console.log(l),
    });
    console.log(`make_data: ${report.images} images per variant in ${report.seconds.toFixed(1)} s`);
    if (args.variant !== "shortcut") {
      for (const mode of ["mark", "nomark", "masked"] as PositiveMode[]) {
        const t0 = performance.now();
        const r = await derivePositiveControl({ control: `${args.out}/procfaces-control`, mode });
        console.log(
          `make_data: ${r.dir}: ${r.images} images, ${
            r.upToDate
              ? "up to date"
              : `written in ${((performance.now() - t0) / 1000).toFixed(1)} s`
          }`,
        );
      }
    }
  }, "make_data");
}
