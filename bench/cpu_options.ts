/**
 * CPU-only training options, measured in one run: for each small backbone, one CYBORG training step
 * (as in bench/train_throughput.ts) on
 *
 * - `cpu-stock`     tfjs's pure-JS cpu backend, stock ops
 * - `cpu-kit`       the same with the kit's fused batch-norm / SGD kernels
 * - `webgpu-stock`  WebGPU on the machine's adapter (llvmpipe without a GPU), stock tfjs kernels
 * - `webgpu-kit`    WebGPU with the kit's kernels (the kit's default on a real GPU)
 * - `wasm-stock`    tfjs's wasm backend (XNNPACK, SIMD, one thread) with only the kernels it lacks
 *                   added by the kit (`Conv2DBackpropFilter` and the kit's op-level kernels' wasm
 *                   versions; `CYBORG_STOCK_KERNELS=1` keeps stock batch norm and SGD ops)
 * - `wasm-kit`      wasm with the kit's kernels (lib/kernels/wasm/): the `auto` choice on a
 *                   machine whose only WebGPU adapter is a fallback adapter
 *
 * Each option runs in its own child process. Reports img/s and achieved GFLOP/s (3 × the forward
 * pass's convolution and matmul FLOPs per image: forward, input gradient and weight gradient) and
 * appends rows to bench/results/cpu_options.csv. Each option measures up to `--steps` steps after
 * one warm-up step, fewer when a step is slow (about `--budget` seconds per option; at least one).
 *
 *   deno task bench:cpu [--backbones tinycnn,smallcnn,minicnn] [--batch 20] [--steps 10]
 *                       [--budget 20] [--options wasm-kit,webgpu-kit]
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../lib/backbones/registry.ts";
import { initBackend, parseBackendName } from "../lib/backend.ts";
import { ForwardContext } from "../lib/nn.ts";
import { type BenchResult, measureTraining } from "./train_throughput.ts";
import { appendCsv, csvField } from "../lib/csv_out.ts";

/** One CPU option: a backend and whether the kit's kernels are on. */
export interface CpuOption {
  /** Label in the report and CSV. */
  name: string;
  /** tfjs backend. */
  backend: "cpu" | "webgpu" | "wasm";
  /** True for tfjs's stock kernels (`CYBORG_STOCK_KERNELS=1`). */
  stock: boolean;
}

/** The options measured, in report order. */
export const CPU_OPTIONS: readonly CpuOption[] = [
  { name: "cpu-stock", backend: "cpu", stock: true },
  { name: "cpu-kit", backend: "cpu", stock: false },
  { name: "webgpu-stock", backend: "webgpu", stock: true },
  { name: "webgpu-kit", backend: "webgpu", stock: false },
  { name: "wasm-stock", backend: "wasm", stock: true },
  { name: "wasm-kit", backend: "wasm", stock: false },
];

/**
 * Multiply-adds ×2 of one forward pass per image, from the convolutions and matmuls tfjs runs
 * (read off `tf.profile`'s kernel shapes).
 */
export async function forwardFlopsPerImage(backbone: string, size: number): Promise<number> {
  const model = getBackbone(backbone).build({ seed: 1, inputSize: size, numClasses: 2 });
  const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
  const prof = await tf.profile(() => {
    const out = model.forward(x, new ForwardContext(false));
    tf.dispose([out.logits, out.taps.paper, out.taps.standard]);
  });
  let flops = 0;
  for (const k of prof.kernels) {
    const out = k.outputShapes[0] ?? [];
    const outSize = out.reduce((a, b) => a * b, 1);
    const w = k.inputShapes[1] ?? [];
    if (k.name === "Conv2D" || k.name === "FusedConv2D") {
      flops += 2 * outSize * w[0] * w[1] * w[2];
    } else if (k.name === "DepthwiseConv2dNative" || k.name === "FusedDepthwiseConv2D") {
      flops += 2 * outSize * w[0] * w[1];
    } else if (k.name === "BatchMatMul" || k.name === "_FusedMatMul") {
      // The kit's matmuls (the classifier) are untransposed: inner = last dim of A.
      const a = k.inputShapes[0] ?? [];
      flops += 2 * outSize * a[a.length - 1];
    }
  }
  x.dispose();
  model.store.dispose();
  return flops;
}

/** One row of the report. */
export interface CpuOptionResult {
  /** The option. */
  option: string;
  /** Backbone measured. */
  backbone: string;
  /** Input size. */
  size: number;
  /** Batch size. */
  batch: number;
  /** Timed steps. */
  steps: number;
  /** Images per second (0 when it failed). */
  imgPerSec: number;
  /** Mean step time in ms. */
  stepMs: number;
  /** Achieved GFLOP/s (3 × forward FLOPs per image × img/s). */
  gflops: number;
  /** Dispatches per step (webgpu). */
  dispatches: number;
  /** Adapter / backend description. */
  adapter: string;
  /** `ok`, or why it failed. */
  status: string;
}

interface Cli {
  backbones: string[];
  batch: number;
  steps: number;
  budget: number;
  options: CpuOption[];
  csv: string;
  child?: { option: string; backbone: string };
}

function parseArgs(args: string[]): Cli {
  const o: Cli = {
    backbones: ["tinycnn", "smallcnn", "minicnn"],
    batch: 20,
    steps: 10,
    budget: 20,
    options: [...CPU_OPTIONS],
    csv: "bench/results/cpu_options.csv",
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a}: missing value`);
      return x;
    };
    if (a === "--backbones") {
      o.backbones = v().split(",").filter(Boolean);
      o.backbones.forEach((b) => getBackbone(b));
    } else if (a === "--batch" || a === "--steps") {
      const n = Number(v());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected an integer >= 1`);
      if (a === "--batch") o.batch = n;
      else o.steps = n;
    } else if (a === "--budget") {
      const n = Number(v());
      if (!(n > 0)) throw new Error(`--budget: expected seconds > 0`);
      o.budget = n;
    } else if (a === "--options") {
      o.options = v().split(",").filter(Boolean).map((name) => {
        const opt = CPU_OPTIONS.find((c) => c.name === name);
        if (!opt) {
          throw new Error(
            `--options: unknown option "${name}" (choose from ${
              CPU_OPTIONS.map((c) => c.name).join(", ")
            })`,
          );
        }
        return opt;
      });
    } else if (a === "--csv") o.csv = v();
    else if (a === "--child") {
      const [option, backbone] = v().split(":");
      o.child = { option, backbone };
    } else if (a === "--help" || a === "-h") {
      console.log(
        "bench:cpu [--backbones tinycnn,smallcnn,minicnn] [--batch 20] [--steps 10] " +
          "[--budget 20] [--options name,...] [--csv path]",
      );
      Deno.exit(0);
    } else throw new Error(`${a}: unknown option (see --help)`);
  }
  return o;
}

async function runChild(cli: Cli): Promise<void> {
  const { option, backbone } = cli.child!;
  const opt = CPU_OPTIONS.find((o) => o.name === option);
  if (!opt) throw new Error(`--child: unknown option ${option}`);
  const size = getBackbone(backbone).spec.inputSize;
  await initBackend(parseBackendName(opt.backend));
  const measure = (steps: number) =>
    measureTraining({
      backbone,
      size,
      batch: cli.batch,
      steps,
      warmup: 1,
      backend: opt.backend,
      profile: false,
    });
  // One timed step first; more (up to --steps) when they fit in the budget.
  let r: BenchResult = await measure(1);
  const steps = Math.min(cli.steps, Math.floor((cli.budget * 1000) / r.stepMs));
  if (steps > 1) r = await measure(steps);
  const flops = 3 * (await forwardFlopsPerImage(backbone, size));
  const out: CpuOptionResult = {
    option,
    backbone,
    size,
    batch: cli.batch,
    steps: r.options.steps,
    imgPerSec: r.imgPerSec,
    stepMs: r.stepMs,
    gflops: (flops * r.imgPerSec) / 1e9,
    dispatches: r.dispatches,
    adapter: r.adapter,
    status: "ok",
  };
  console.log(JSON.stringify(out));
}

async function measureOption(cli: Cli, opt: CpuOption, backbone: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      Deno.mainModule,
      "--child",
      `${opt.name}:${backbone}`,
      "--batch",
      String(cli.batch),
      "--steps",
      String(cli.steps),
      "--budget",
      String(cli.budget),
    ],
    env: { CYBORG_STOCK_KERNELS: opt.stock ? "1" : "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.trim().split("\n").findLast((l) => l.startsWith("{"));
  if (out.success && line) return JSON.parse(line) as CpuOptionResult;
  const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
  return {
    option: opt.name,
    backbone,
    size: getBackbone(backbone).spec.inputSize,
    batch: cli.batch,
    steps: cli.steps,
    imgPerSec: 0,
    stepMs: 0,
    gflops: 0,
    dispatches: 0,
    adapter: "",
    status: `failed (exit ${out.code}): ${err}`,
  } satisfies CpuOptionResult;
}

/** img/s table: one row per backbone, one column per option (`-` where it failed). */
export function formatTable(results: CpuOptionResult[], options: string[]): string[] {
  const backbones = [...new Set(results.map((r) => r.backbone))];
  const w = Math.max(12, ...options.map((o) => o.length + 1));
  const lines = [
    "img/s".padEnd(16) + options.map((o) => o.padStart(w)).join(""),
  ];
  for (const b of backbones) {
    const size = results.find((r) => r.backbone === b)?.size ?? 0;
    lines.push(
      `${b} ${size}px`.padEnd(16) + options.map((o) => {
        const r = results.find((x) => x.backbone === b && x.option === o);
        return (r && r.status === "ok" ? r.imgPerSec.toFixed(1) : "-").padStart(w);
      }).join(""),
    );
  }
  return lines;
}

const CSV_HEADER =
  "date,cpu,cores,option,backbone,size,batch,steps,img_per_s,step_ms,gflops_per_s,dispatches_per_step,adapter,status";

async function cpuModel(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return info.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main() {
  const cli = parseArgs(Deno.args);
  if (cli.child) return await runChild(cli);
  const date = new Date().toISOString();
  const cpu = await cpuModel();
  const cores = navigator.hardwareConcurrency;
  const gpu = await navigator.gpu?.requestAdapter();
  const gpuLabel = gpu
    ? `${gpu.info.description || gpu.info.vendor}${
      (gpu.info as { isFallbackAdapter?: boolean }).isFallbackAdapter ? " (fallback adapter)" : ""
    }`
    : "none";
  console.log(
    `CPU options on ${cpu} (${cores} cores), WebGPU adapter: ${gpuLabel}; batch ${cli.batch}, ` +
      `up to ${cli.steps} steps or ~${cli.budget} s per option`,
  );
  const rows: string[] = [];
  const results: CpuOptionResult[] = [];
  const best = new Map<string, CpuOptionResult>();
  for (const backbone of cli.backbones) {
    for (const opt of cli.options) {
      const r = await measureOption(cli, opt, backbone);
      results.push(r);
      console.log(
        `  ${backbone.padEnd(10)} ${opt.name.padEnd(13)} ${
          r.imgPerSec.toFixed(2).padStart(8)
        } img/s ` +
          `${r.stepMs.toFixed(0).padStart(6)} ms/step ${r.gflops.toFixed(2).padStart(6)} GFLOP/s ` +
          `${r.dispatches.toFixed(0).padStart(5)} dispatches  ${r.status}`,
      );
      rows.push(
        [
          date,
          csvField(cpu),
          cores,
          opt.name,
          backbone,
          r.size,
          r.batch,
          r.steps,
          r.imgPerSec.toFixed(3),
          r.stepMs.toFixed(1),
          r.gflops.toFixed(3),
          r.dispatches.toFixed(1),
          csvField(r.adapter),
          csvField(r.status),
        ].join(","),
      );
      const b = best.get(backbone);
      if (r.status === "ok" && (!b || r.imgPerSec > b.imgPerSec)) best.set(backbone, r);
    }
  }
  if (cli.csv) {
    await appendCsv(cli.csv, CSV_HEADER, rows);
    console.log(`appended ${rows.length} row(s) to ${cli.csv}`);
  }
  console.log("\n" + formatTable(results, cli.options.map((o) => o.name)).join("\n"));
  for (const [backbone, r] of best) console.log(`fastest for ${backbone}: ${r.option}`);
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
