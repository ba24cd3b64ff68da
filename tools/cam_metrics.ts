/**
 * CAM metrics of every run of an experiment folder (`lib/experiment/cam_metrics.ts`):
 *
 *   deno task cam-metrics --exp results/positive-shuffled/positive \
 *     --data data/32px-x1/procfaces-positive [--out FILE] [--control DIR] [--batch-size 128]
 *
 * `--exp` is a folder of runs `<strategy>/s<seed>/` (a variant folder of an experiment), `--data`
 * the benchmark folder they were trained on (a `procfaces*` or `procfaces-positive*` folder; a
 * positive-control folder's regions are recomputed from its sibling `procfaces-control/`, or from
 * `--control`). Writes JSON (default `<exp>/cam_metrics.json`, written atomically): per run the
 * CAM-MSE against the training maps with the image-agnostic template floor, and the share of the
 * positive decision CAM in the artifact ellipses and the decoy's box per test set with the regions'
 * area shares; per strategy the mean ± sd over seeds. Prints the per-strategy table.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, initBackend } from "../lib/backend.ts";
import type { CamTap } from "../lib/backbones/types.ts";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import {
  type ExperimentCamMetrics,
  experimentCamMetrics,
  REGION_KINDS,
  type Spread,
} from "../lib/experiment/cam_metrics.ts";
import { checkWritable, writeJson } from "../lib/run_dir.ts";

const OPTIONS: OptionSpec[] = [
  { name: "exp", type: "string", help: "folder of runs <strategy>/s<seed>/ (required)" },
  {
    name: "data",
    type: "string",
    help: "the benchmark folder the runs were trained on (required)",
  },
  { name: "out", type: "string", help: "output JSON (default <exp>/cam_metrics.json)" },
  {
    name: "control",
    type: "string",
    help: "procfaces-control folder a positive-control --data derives from (default its sibling)",
  },
  {
    name: "tap",
    type: "string",
    help: "CAM taps of the region shares, comma-separated (default: the run's and standard)",
  },
  { name: "batch-size", type: "integer", help: "images per forward pass", default: 128 },
  { name: "backend", type: "string", help: "tensor backend", choices: BACKEND_NAMES as string[] },
];
const USAGE = "deno run -A tools/cam_metrics.ts --exp DIR --data DIR [--out FILE]";

const fmt = (s: Spread, d = 3) =>
  s.mean === null ? "–" : `${s.mean.toFixed(d)}${s.sd === null ? "" : ` ± ${s.sd.toFixed(d)}`}`;

/** The per-strategy table printed after the run. */
export function summaryText(r: ExperimentCamMetrics): string {
  const lines = [
    `CAM-MSE (training rows of csvs/original.csv, ${r.floor.images} maps, grid ${r.grid}×${r.grid}): ` +
    `template floor ${r.floor.mse.toFixed(4)} (normalised template ${
      r.floor.normalisedTemplateMse.toFixed(4)
    })`,
  ];
  for (const [strategy, s] of Object.entries(r.summary)) {
    lines.push(
      `  ${strategy.padEnd(10)} ${fmt(s.camMse, 4)}  (− floor ${
        fmt(s.belowFloor, 4)
      }, ${s.runs} runs)`,
    );
  }
  const strategies = Object.keys(r.summary);
  const taps = Object.keys(r.summary[strategies[0]]?.regions ?? {}) as CamTap[];
  const cell = (v: string, n: number) => v.padEnd(n);
  for (const tap of taps) {
    lines.push(
      `Share of the positive decision CAM in each region (tap ${tap}; area: a uniform CAM's):`,
      `  ${cell("set / region", 24)}${cell("area", 8)}${
        strategies.map((x) => cell(x, 16)).join("")
      }`,
    );
    for (const set of Object.keys(r.summary[strategies[0]].regions[tap] ?? {})) {
      for (const kind of REGION_KINDS) {
        const first = r.summary[strategies[0]].regions[tap]![set][kind];
        if (!first) continue;
        const shares = strategies.map((x) => {
          const v = r.summary[x].regions[tap]?.[set]?.[kind];
          return cell(v ? fmt(v.share) : "–", 16);
        });
        lines.push(
          `  ${cell(`${set} ${kind}`, 24)}${cell(fmt({ ...first.area, sd: null }, 4), 8)}${
            shares.join("")
          }`,
        );
      }
    }
  }
  lines.push(`${r.runs.length} runs in ${r.seconds.toFixed(1)} s`);
  return lines.map((l) => l.trimEnd()).join("\n");
}

/** Command-line entry. */
export async function main(args: string[]): Promise<ExperimentCamMetrics> {
  const a = parseArgs(args, OPTIONS, USAGE);
  for (const name of ["exp", "data"]) {
    if (typeof a[name] !== "string" || a[name] === "") {
      throw new Error(`--${name} is required (see --help)`);
    }
  }
  const exp = (a.exp as string).replace(/\/+$/, "");
  const out = (a.out as string | undefined) ?? `${exp}/cam_metrics.json`;
  let taps: CamTap[] | undefined;
  if (typeof a.tap === "string") {
    taps = a.tap.split(",").map((t) => t.trim()) as CamTap[];
    const bad = taps.find((t) => t !== "paper" && t !== "standard");
    if (bad !== undefined || taps.length === 0) {
      throw new Error(`--tap: expected paper, standard or both comma-separated, got "${a.tap}"`);
    }
  }
  await checkWritable(out, "--out", "file");
  const info = await initBackend(a.backend as BackendName);
  console.error(`backend ${info.name} (${info.adapter})`);
  const r = await experimentCamMetrics({
    exp,
    data: a.data as string,
    control: a.control as string | undefined,
    batchSize: a["batch-size"] as number,
    taps,
    log: (l) => console.error(l),
  });
  await writeJson(out, r);
  console.log(summaryText(r));
  console.log(`wrote ${out}`);
  return r;
}

if (import.meta.main) await runCli(() => main(Deno.args), "cam_metrics");
