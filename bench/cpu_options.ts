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
 * - `wasm-kit`      wasm with the kit's kernels (lib/kernels/wasm/), native kernels off
 *                   (`CYBORG_NATIVE_BLAS=0`)
 * - `wasm-native`   wasm with the kit's kernels and the native OpenBLAS / oneDNN kernels
 *                   (lib/kernels/native/, `CYBORG_BLAS_THREADS` threads): the `auto` choice on a
 *                   machine whose only WebGPU adapter is a fallback adapter, when
 *                   `libopenblas0-pthread` and `libdnnl2` are installed
 *
 * Each option runs in its own child process. Reports img/s and achieved GFLOP/s (3 × the forward
 * pass's convolution and matmul FLOPs per image: forward, input gradient and weight gradient) and
 * appends rows to bench/results/cpu_options.csv. Each option measures up to `--steps` steps after
 * one warm-up step, fewer when a step is slow (about `--budget` seconds per option; at least one).
 *
 *   deno task bench:cpu [--backbones tinycnn,smallcnn,minicnn] [--batch 20] [--steps 10]
 *                       [--budget 20] [--options wasm-kit,webgpu-kit] [--size N]
 *
 * `--compare-torch` measures instead the kit (`wasm-native`) against PyTorch on the same CYBORG
 * step (bench/torch_cyborg_step.py, `/usr/bin/python3`, the same thread count), interleaved
 * (kit, torch, kit, torch, … `--rounds` times), and prints the medians; its last line is
 * `torch_ratio=<kit img/s / PyTorch img/s>`. Defaults: ResNet50, 64 px, batch 4, 3 steps, 3
 * rounds, `--threads` = the CPU cores; rows go to bench/results/torch_compare.csv.
 *
 *   deno task bench:cpu --compare-torch [--backbones resnet50] [--size 64] [--batch 4]
 *                       [--steps 3] [--rounds 3] [--threads 2]
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
  /** True for the native OpenBLAS / oneDNN kernels on wasm (else `CYBORG_NATIVE_BLAS=0`). */
  native?: boolean;
}

/** The options measured, in report order. */
export const CPU_OPTIONS: readonly CpuOption[] = [
  { name: "cpu-stock", backend: "cpu", stock: true },
  { name: "cpu-kit", backend: "cpu", stock: false },
  { name: "webgpu-stock", backend: "webgpu", stock: true },
  { name: "webgpu-kit", backend: "webgpu", stock: false },
  { name: "wasm-stock", backend: "wasm", stock: true },
  { name: "wasm-kit", backend: "wasm", stock: false },
  { name: "wasm-native", backend: "wasm", stock: false, native: true },
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
  /** Input size for every backbone (default: each backbone's own). */
  size?: number;
  compareTorch: boolean;
  rounds: number;
  threads: number;
}

function parseArgs(args: string[]): Cli {
  const o: Cli = {
    backbones: ["tinycnn", "smallcnn", "minicnn"],
    batch: 20,
    steps: 10,
    budget: 20,
    options: [...CPU_OPTIONS],
    csv: "bench/results/cpu_options.csv",
    compareTorch: args.includes("--compare-torch"),
    rounds: 3,
    threads: navigator.hardwareConcurrency,
  };
  if (o.compareTorch) {
    Object.assign(o, { backbones: ["resnet50"], batch: 4, steps: 3, size: 64 });
    o.csv = "bench/results/torch_compare.csv";
    o.options = CPU_OPTIONS.filter((c) => c.name === "wasm-native");
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a}: missing value`);
      return x;
    };
    if (a === "--backbones") {
      o.backbones = v().split(",").filter(Boolean);
      o.backbones.forEach((b) => getBackbone(b, "--backbones"));
    } else if (
      a === "--batch" || a === "--steps" || a === "--size" || a === "--rounds" ||
      a === "--threads"
    ) {
      const n = Number(v());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected an integer >= 1`);
      if (a === "--batch") o.batch = n;
      else if (a === "--size") o.size = n;
      else if (a === "--rounds") o.rounds = n;
      else if (a === "--threads") o.threads = n;
      else o.steps = n;
    } else if (a === "--compare-torch") {
      // read above: it sets the defaults the other options override
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
          "[--budget 20] [--options name,...] [--size N] [--csv path]\n" +
          "bench:cpu --compare-torch [--backbones resnet50] [--size 64] [--batch 4] [--steps 3] " +
          "[--rounds 3] [--threads N] [--csv path]",
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
  const size = cli.size ?? getBackbone(backbone).spec.inputSize;
  await initBackend(parseBackendName(opt.backend, "--backend"));
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
      ...(cli.size ? ["--size", String(cli.size)] : []),
    ],
    env: {
      CYBORG_STOCK_KERNELS: opt.stock ? "1" : "0",
      CYBORG_NATIVE_BLAS: opt.native ? "1" : "0",
      CYBORG_BLAS_THREADS: String(cli.threads),
    },
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
    size: cli.size ?? getBackbone(backbone).spec.inputSize,
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

/** The middle value (mean of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One PyTorch measurement (bench/torch_cyborg_step.py), or why it failed. */
async function measureTorch(cli: Cli, backbone: string, size: number) {
  const script = new URL("./torch_cyborg_step.py", import.meta.url).pathname;
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [
      script,
      ...["--network", backbone, "--size", String(size), "--batch", String(cli.batch)],
      ...["--threads", String(cli.threads), "--steps", String(cli.steps), "--warmup", "1"],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").findLast((l) =>
    l.startsWith("{")
  );
  if (out.success && line) {
    const r = JSON.parse(line) as { img_per_s: number; step_ms: number; torch: string };
    return { imgPerSec: r.img_per_s, stepMs: r.step_ms, detail: `torch ${r.torch}`, ok: true };
  }
  const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
  return { imgPerSec: 0, stepMs: 0, detail: `torch failed (exit ${out.code}): ${err}`, ok: false };
}

const TORCH_CSV_HEADER =
  "date,cpu,cores,threads,network,size,batch,steps,round,side,img_per_s,step_ms,detail";

/** Kit vs PyTorch, interleaved; prints the medians and `torch_ratio=` last. */
async function compareTorch(cli: Cli, cpu: string): Promise<void> {
  const backbone = cli.backbones[0];
  const size = cli.size ?? getBackbone(backbone).spec.inputSize;
  const date = new Date().toISOString();
  const opt = cli.options[0];
  console.log(
    `kit (${opt.name}) vs PyTorch: ${backbone}, ${size} px, batch ${cli.batch}, ` +
      `${cli.threads} thread(s), ${cli.rounds} interleaved rounds on ${cpu}`,
  );
  const kit: number[] = [];
  const torch: number[] = [];
  const rows: string[] = [];
  const row = (round: number, side: string, ips: number, ms: number, detail: string) =>
    [date, csvField(cpu), navigator.hardwareConcurrency, cli.threads, backbone, size, cli.batch]
      .concat([cli.steps, round, side, ips.toFixed(3), ms.toFixed(1), csvField(detail)]).join(",");
  for (let round = 1; round <= cli.rounds; round++) {
    const k = await measureOption(cli, opt, backbone);
    const kOk = k.status === "ok";
    if (kOk) kit.push(k.imgPerSec);
    console.log(
      `  round ${round} kit   ${k.imgPerSec.toFixed(2).padStart(7)} img/s  ` +
        `${k.stepMs.toFixed(0).padStart(6)} ms/step  ${kOk ? k.adapter : k.status}`,
    );
    rows.push(row(round, "kit", k.imgPerSec, k.stepMs, kOk ? k.adapter : k.status));
    const t = await measureTorch(cli, backbone, size);
    if (t.ok) torch.push(t.imgPerSec);
    console.log(
      `  round ${round} torch ${t.imgPerSec.toFixed(2).padStart(7)} img/s  ` +
        `${t.stepMs.toFixed(0).padStart(6)} ms/step  ${t.detail}`,
    );
    rows.push(row(round, "torch", t.imgPerSec, t.stepMs, t.detail));
  }
  if (cli.csv) {
    await appendCsv(cli.csv, TORCH_CSV_HEADER, rows);
    console.log(`appended ${rows.length} row(s) to ${cli.csv}`);
  }
  if (!kit.length || !torch.length) {
    console.error("bench:cpu --compare-torch: a side failed every round (see above)");
    Deno.exit(1);
  }
  const mk = median(kit);
  const mt = median(torch);
  console.log(`median img/s: kit ${mk.toFixed(2)}, torch ${mt.toFixed(2)}`);
  console.log(`torch_ratio=${(mk / mt).toFixed(3)}`);
}

async function main() {
  const cli = parseArgs(Deno.args);
  if (cli.child) return await runChild(cli);
  if (cli.compareTorch) return await compareTorch(cli, await cpuModel());
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
