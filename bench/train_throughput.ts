/**
 * Training throughput of one backbone: img/s, WebGPU dispatches, readbacks and staging buffers per
 * step, and per-kernel GPU time, for the kit's kernels and (with `--compare-stock`) for tfjs's
 * stock kernels in a child process (`CYBORG_STOCK_KERNELS=1`) of the same run.
 *
 *   deno task bench:train --backbone resnet50 --size 64 --batch 4 --steps 3 --compare-stock
 *
 * The step is the kit's `trainStep` (forward in training mode, CYBORG loss with α = 0.5, CAM of the
 * predicted class, backward, SGD with momentum) with no GPU→CPU read. Appends one CSV row per
 * variant to bench/results/train_throughput.csv. With `--compare-stock` the last line is
 * `dispatches_ratio=<kit/stock> speedup=<kit img/s / stock img/s>`.
 *
 * Works bundled: `deno bundle --platform deno bench/train_throughput.ts -o bench/out/train.js`,
 * then `deno run -A train.js ...` anywhere.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  API_GROUPS,
  type ApiGroup,
  countsDelta,
  gpuCounts,
  installGpuCounters,
  totalHostMs,
} from "../lib/kernels/gpu_counters.ts";
import { type BackendName, initBackend, parseBackendName } from "../lib/backend.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { activeKitKernels } from "../lib/kernels/register.ts";
import { stockKernelsRequested } from "../lib/kernels/stock_switch.ts";
import { activeWasmKernels } from "../lib/kernels/wasm/register.ts";
import { kitTuning } from "../lib/kernels/tuning.ts";
import { installDawnFromEnv } from "../lib/webgpu_dawn.ts";
import { appendCsv, csvField } from "../lib/csv_out.ts";
import { type PrecompileResult, precompileWebGpu } from "../lib/kernels/precompile.ts";
import { Sgd } from "../lib/optim.ts";
import { Rng } from "../lib/rng.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";
import { type KernelCpuSplit, measureKernelCpu } from "./kernel_cpu.ts";

/** Options of one measurement. */
export interface BenchOptions {
  /** Registry name of the network. */
  backbone: string;
  /** Input size in pixels. */
  size: number;
  /** Batch size. */
  batch: number;
  /** Timed steps. */
  steps: number;
  /** Untimed steps first (shader compilation). */
  warmup: number;
  /** Backend to run on. */
  backend: BackendName;
  /** Also run one profiled step for per-kernel times. */
  profile: boolean;
  /** Compile every pipeline first, in parallel, from a throwaway copy (`lib/kernels/precompile.ts`). */
  precompile?: boolean;
  /** Also split `steps` more steps' CPU time by kernel (`bench/kernel_cpu.ts`; wasm and cpu). */
  kernelCpu?: boolean;
  /** tfjs environment flags set after the backend starts (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE). */
  flags?: Record<string, number | boolean>;
}

/** Time and count of one kernel name within a profiled step. */
export interface KernelTime {
  /** tfjs kernel name. */
  name: string;
  /** Launches in the step. */
  count: number;
  /** Summed kernel time in ms (GPU timestamp queries on webgpu; wall time on cpu). */
  ms: number;
}

/** What one measurement found. */
export interface BenchResult {
  /** `kit` or `stock` kernels. */
  variant: "kit" | "stock";
  /** Backend used. */
  backend: string;
  /** Adapter description. */
  adapter: string;
  /** The options measured. */
  options: BenchOptions;
  /** Images per second over the timed steps (including one final device sync). */
  imgPerSec: number;
  /** Mean wall time per step in ms. */
  stepMs: number;
  /** Compute dispatches per step. */
  dispatches: number;
  /** `mapAsync` readbacks per step (during the steps; the final sync is not counted). */
  readbacks: number;
  /** Buffers created mapped-at-creation (upload staging) per step. */
  stagingBuffers: number;
  /** All buffers created per step. */
  buffersCreated: number;
  /** `writeBuffer` calls per step. */
  writeBuffers: number;
  /** Tensors left allocated per step (should be 0). */
  leakedTensors: number;
  /** Bind groups created per step. */
  bindGroups: number;
  /** Pipelines created per timed step (0 once every shader is compiled). */
  pipelines: number;
  /** With `--precompile`: pipelines compiled and ms, before the warm-up. */
  precompile?: PrecompileResult;
  /** Wall time of the untimed warm-up steps, device sync included (shader compilation). */
  warmupMs: number;
  /** Pipelines created (shaders compiled) during the warm-up. */
  warmupPipelines: number;
  /** Host ms inside pipeline/shader-module creation during the warm-up. */
  warmupPipelineMs: number;
  /**
   * Host ms per timed step spent enqueueing it (running the JS that records the GPU work). When
   * it is close to {@linkcode BenchResult.stepMs} the step is bound by the host, not the GPU.
   */
  enqueueMs: number;
  /** Host ms per step inside WebGPU calls, per group of calls (see `gpu_counters.ts`). */
  apiMs: Record<ApiGroup, number>;
  /** Wait for the GPU after the last timed step was enqueued, in ms (whole run, not per step). */
  syncMs: number;
  /** Kernels served by the kit. */
  kitKernels: string[];
  /** The kit's tuning (`lib/kernels/tuning.ts`) and any tfjs flags set, e.g. `gpu,tk=4`. */
  config: string;
  /** CPU time per step by kernel (with `kernelCpu`). */
  kernelCpu?: KernelCpuSplit;
  /** Per-kernel times of one profiled step, slowest first (empty without `profile`). */
  kernels: KernelTime[];
  /** Sum of {@linkcode BenchResult.kernels} times in ms. */
  kernelMs: number;
}

/**
 * Runs one step and prints (to stderr, at once) how long enqueueing it took and where the host
 * spent that time inside WebGPU calls, so a run killed by a timeout still shows where a slow step
 * went. No GPU sync: on backends whose `submit` returns before the GPU is done, GPU time shows up
 * later, in the final wait.
 */
function tracedStep(step: () => void, label: string): void {
  const c0 = gpuCounts();
  const t0 = performance.now();
  step();
  const ms = performance.now() - t0;
  const d = countsDelta(c0, gpuCounts());
  const groups = API_GROUPS.filter((g) => d.hostMs[g] >= 0.5)
    .map((g) => `${g} ${d.hostMs[g].toFixed(0)}`).join(", ");
  console.error(
    `  ${label}: enqueued in ${ms.toFixed(0)} ms; WebGPU host ms: ${groups || "none"}; ` +
      `${d.dispatches} dispatches, ${d.submits} submits, ${d.pipelines} pipelines compiled, ` +
      `${d.buffersCreated} buffers created`,
  );
}

/** A model, optimizer, accumulators and random batch for one benchmark, with its step. */
function benchSetup(opts: BenchOptions) {
  const entry = getBackbone(opts.backbone);
  const model = entry.build({ seed: 1, inputSize: opts.size, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  const rng = new Rng("bench/train_throughput");
  const b = opts.batch;
  const g = entry.spec.camGrid(opts.size);
  const batch = {
    x: tf.tensor4d(
      rng.fillNormal(new Float32Array(b * opts.size * opts.size * 3), 1),
      [b, opts.size, opts.size, 3],
    ),
    y: tf.tensor1d(Array.from({ length: b }, (_, i) => i % 2), "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(b * g * g), 0, 1), [b, g, g]),
    hasMap: tf.ones([b]) as tf.Tensor1D,
  };
  return {
    acc,
    step: () =>
      trainStep(model, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" }),
    dispose: () => {
      tf.dispose([batch.x, batch.y, batch.maps, batch.hasMap]);
      acc.dispose();
      opt.dispose();
      model.store.dispose();
    },
  };
}

/** Runs the measurement in this process (the backend's kernels as currently registered). */
export async function measureTraining(opts: BenchOptions): Promise<BenchResult> {
  await installDawnFromEnv(); // before the counters wrap the WebGPU classes (CYBORG_DAWN_NODE)
  installGpuCounters();
  const info = await initBackend(opts.backend);
  for (const [k, v] of Object.entries(opts.flags ?? {})) tf.env().set(k, v);
  let precompile: PrecompileResult | undefined;
  if (opts.precompile) {
    // A throwaway copy with the same shapes: compile-only mode leaves its tensors uninitialised.
    const scratch = benchSetup(opts);
    precompile = await precompileWebGpu(scratch.step);
    scratch.dispose();
    console.error(
      `  precompile: ${precompile.pipelines} pipelines in ${precompile.ms.toFixed(0)} ms ` +
        "(compile-only step on a throwaway model)",
    );
  }
  const { acc, step, dispose } = benchSetup(opts);

  const w0 = gpuCounts();
  const tw = performance.now();
  for (let i = 0; i < opts.warmup; i++) tracedStep(step, `warm-up ${i + 1}/${opts.warmup}`);
  await acc.steps.data();
  const warmupMs = performance.now() - tw;
  const warm = countsDelta(w0, gpuCounts());

  const tensors0 = tf.memory().numTensors;
  const c0 = gpuCounts();
  const t0 = performance.now();
  for (let i = 0; i < opts.steps; i++) tracedStep(step, `step ${i + 1}/${opts.steps}`);
  const c1 = gpuCounts();
  const tEnqueued = performance.now();
  await acc.steps.data();
  const tDone = performance.now();
  const seconds = (tDone - t0) / 1000;
  const per = countsDelta(c0, c1, opts.steps);
  const leaked = (tf.memory().numTensors - tensors0) / opts.steps;

  let kernels: KernelTime[] = [];
  if (opts.profile) {
    const prof = await tf.profile(() => {
      step();
    });
    const byName = new Map<string, KernelTime>();
    for (const k of prof.kernels) {
      const e = byName.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
      e.count++;
      e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      byName.set(k.name, e);
    }
    kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
    await acc.steps.data();
  }
  const kernelCpu = opts.kernelCpu
    ? await measureKernelCpu(step, () => acc.steps.data(), opts.steps)
    : undefined;
  const result: BenchResult = {
    variant: stockKernelsRequested() ? "stock" : "kit",
    backend: info.name,
    adapter: info.adapter,
    options: opts,
    ...(kernelCpu ? { kernelCpu } : {}),
    imgPerSec: (opts.steps * opts.batch) / seconds,
    stepMs: (seconds * 1000) / opts.steps,
    dispatches: per.dispatches,
    readbacks: per.mapAsync,
    stagingBuffers: per.mappedAtCreation,
    buffersCreated: per.buffersCreated,
    writeBuffers: per.writeBuffer,
    bindGroups: per.bindGroups,
    pipelines: per.pipelines,
    precompile,
    warmupMs,
    warmupPipelines: warm.pipelines,
    warmupPipelineMs: warm.hostMs.pipeline,
    enqueueMs: (tEnqueued - t0) / opts.steps,
    apiMs: per.hostMs,
    syncMs: tDone - tEnqueued,
    leakedTensors: leaked,
    kitKernels: info.name === "webgpu"
      ? activeKitKernels()
      : info.name === "wasm"
      ? activeWasmKernels()
      : [],
    config: [
      stockKernelsRequested() ? "stock" : info.name === "webgpu" ? kitTuning().name : info.name,
      ...(opts.precompile ? ["precompile"] : []),
      ...Object.entries(opts.flags ?? {}).map(([k, v]) => `${k}=${v}`),
    ].join(","),
    kernels,
    kernelMs: kernels.reduce((s, k) => s + k.ms, 0),
  };
  dispose();
  return result;
}

/** Human-readable summary lines of one result. */
export function formatResult(r: BenchResult, topKernels = 8): string[] {
  const o = r.options;
  const lines = [
    `[${r.variant}] ${o.backbone} ${o.size}px batch ${o.batch} on ${r.backend} (${r.adapter})` +
    (r.kitKernels.length ? ` kit kernels: ${r.kitKernels.join(", ")}` : "") +
    ` [config ${r.config}]`,
    `  ${r.imgPerSec.toFixed(2)} img/s, ${r.stepMs.toFixed(0)} ms/step; per step: ` +
    `${r.dispatches.toFixed(0)} dispatches, ${r.readbacks.toFixed(0)} readbacks, ` +
    `${r.stagingBuffers.toFixed(0)} staging buffers, ${r.buffersCreated.toFixed(0)} buffers ` +
    `created, ${r.writeBuffers.toFixed(0)} writeBuffer, ${r.leakedTensors} tensors leaked`,
    `  host per step: ${r.enqueueMs.toFixed(1)} ms to enqueue, of which ` +
    `${totalHostMs(r.apiMs).toFixed(1)} ms inside WebGPU calls (` +
    API_GROUPS.filter((g) => r.apiMs[g] >= 0.05).map((g) => `${g} ${r.apiMs[g].toFixed(1)}`)
      .join(", ") +
    `); then ${r.syncMs.toFixed(0)} ms waiting for the GPU after the last step`,
    (r.precompile
      ? `  precompile: ${r.precompile.pipelines} pipelines in ${r.precompile.ms.toFixed(0)} ms\n`
      : "") +
    `  warm-up: ${r.warmupMs.toFixed(0)} ms for ${o.warmup} step(s), ${r.warmupPipelines} ` +
    `pipelines compiled (${r.warmupPipelineMs.toFixed(0)} ms host); ${r.pipelines} per timed step`,
  ];
  if (r.kernelCpu) {
    const inKernels = r.kernelCpu.kernels.reduce((a, k) => a + k.ms, 0);
    lines.push(
      `  CPU per step (all threads): ${r.kernelCpu.stepMs.toFixed(1)} ms, ` +
        `${inKernels.toFixed(1)} in kernels; by kernel:`,
    );
    for (const k of r.kernelCpu.kernels.slice(0, topKernels)) {
      lines.push(
        `    ${k.name.padEnd(26)} ${k.count.toFixed(0).padStart(5)}x ${
          k.ms.toFixed(1).padStart(9)
        } ms`,
      );
    }
  }
  if (r.kernels.length) {
    lines.push(`  profiled step: ${r.kernelMs.toFixed(1)} ms kernel time; top kernels:`);
    for (const k of r.kernels.slice(0, topKernels)) {
      const share = r.kernelMs > 0 ? (100 * k.ms) / r.kernelMs : 0;
      lines.push(
        `    ${k.name.padEnd(26)} ${String(k.count).padStart(5)}x ${
          k.ms.toFixed(1).padStart(9)
        } ms` +
          ` ${share.toFixed(1).padStart(5)}%`,
      );
    }
  }
  return lines;
}

const CSV_HEADER = "date,adapter,backend,variant,backbone,size,batch,steps,img_per_s,step_ms," +
  "dispatches_per_step,readbacks_per_step,staging_buffers_per_step,buffers_created_per_step," +
  "kernel_ms,top_kernels,enqueue_ms,api_ms,sync_ms,warmup_ms,warmup_pipelines,warmup_pipeline_ms,config";

/** One CSV row (matching `CSV_HEADER`). */
export function csvRow(r: BenchResult, date = new Date().toISOString()): string {
  const o = r.options;
  const top = r.kernels.slice(0, 5).map((k) => `${k.name}:${k.ms.toFixed(1)}`).join(" ");
  return [
    date,
    r.adapter,
    r.backend,
    r.variant,
    o.backbone,
    o.size,
    o.batch,
    o.steps,
    r.imgPerSec.toFixed(3),
    r.stepMs.toFixed(1),
    r.dispatches.toFixed(1),
    r.readbacks.toFixed(1),
    r.stagingBuffers.toFixed(1),
    r.buffersCreated.toFixed(1),
    r.kernelMs.toFixed(1),
    top,
    r.enqueueMs.toFixed(1),
    API_GROUPS.filter((g) => r.apiMs[g] >= 0.05).map((g) => `${g}:${r.apiMs[g].toFixed(1)}`)
      .join(" "),
    r.syncMs.toFixed(1),
    r.warmupMs.toFixed(0),
    r.warmupPipelines,
    r.warmupPipelineMs.toFixed(0),
    r.config,
  ].map(csvField).join(",");
}

interface CliOptions extends BenchOptions {
  compareStock: boolean;
  csv: string;
  childJson: boolean;
}

function parseArgs(args: string[]): CliOptions {
  const o: CliOptions = {
    backbone: "resnet50",
    size: 64,
    batch: 4,
    steps: 3,
    warmup: 1,
    backend: "webgpu",
    profile: true,
    compareStock: false,
    flags: {},
    csv: "bench/results/train_throughput.csv",
    childJson: false,
  };
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) {
      throw new Error(`${name}: expected an integer >= ${min}, got ${v ?? "nothing"}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.includes("=") ? a.split(/=(.*)/s, 2) : [a, undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--backbone":
        o.backbone = value() ?? "";
        getBackbone(o.backbone, "--backbone");
        break;
      case "--size":
        o.size = int(flag, value(), 1);
        break;
      case "--batch":
        o.batch = int(flag, value(), 1);
        break;
      case "--steps":
        o.steps = int(flag, value(), 1);
        break;
      case "--warmup":
        o.warmup = int(flag, value(), 0);
        break;
      case "--backend":
        o.backend = parseBackendName(value() ?? "", "--backend");
        break;
      case "--no-profile":
        o.profile = false;
        break;
      case "--precompile":
        o.precompile = true;
        break;
      case "--kernel-cpu":
        o.kernelCpu = true;
        break;
      case "--flag": {
        const kv = value() ?? "";
        const m = /^([A-Z0-9_]+)=(.+)$/.exec(kv);
        if (!m) {
          throw new Error(`--flag: expected NAME=VALUE (a tfjs flag), got ${kv || "nothing"}`);
        }
        const v = m[2] === "true" ? true : m[2] === "false" ? false : Number(m[2]);
        if (typeof v === "number" && Number.isNaN(v)) {
          throw new Error(`--flag ${m[1]}: expected a number, true or false, got ${m[2]}`);
        }
        o.flags = { ...o.flags, [m[1]]: v };
        break;
      }
      case "--compare-stock":
        o.compareStock = true;
        break;
      case "--csv":
        o.csv = value() ?? "";
        break;
      case "--child-json":
        o.childJson = true;
        break;
      case "--help":
      case "-h":
        console.log(
          "bench:train [--backbone resnet50] [--size 64] [--batch 4] [--steps 3] [--warmup 1]\n" +
            "  [--backend webgpu|wasm|cpu|auto] [--no-profile] [--compare-stock] [--csv path|'']\n" +
            "  [--flag TFJS_FLAG=value]... (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=200) [--precompile]\n" +
            "  [--kernel-cpu] (CPU time per step by kernel: wasm, cpu)",
        );
        Deno.exit(0);
        break;
      default:
        throw new Error(`${a}: unknown option (see --help)`);
    }
  }
  return o;
}

/** Runs this script again in a child process with stock kernels; returns its result. */
async function runStockChild(o: CliOptions): Promise<BenchResult> {
  const args = [
    "run",
    "-A",
    Deno.mainModule,
    "--child-json",
    "--backbone",
    o.backbone,
    "--size",
    String(o.size),
    "--batch",
    String(o.batch),
    "--steps",
    String(o.steps),
    "--warmup",
    String(o.warmup),
    "--backend",
    o.backend,
    ...(o.profile ? [] : ["--no-profile"]),
    ...(o.precompile ? ["--precompile"] : []),
    ...(o.kernelCpu ? ["--kernel-cpu"] : []),
    ...Object.entries(o.flags ?? {}).flatMap(([k, v]) => ["--flag", `${k}=${v}`]),
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { CYBORG_STOCK_KERNELS: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.trim().split("\n").findLast((l) => l.startsWith("{"));
  if (!out.success || !line) {
    throw new Error(`stock child (CYBORG_STOCK_KERNELS=1) failed (exit ${out.code}):\n${text}`);
  }
  return JSON.parse(line) as BenchResult;
}

async function main() {
  const o = parseArgs(Deno.args);
  const result = await measureTraining(o);
  if (o.childJson) {
    console.log(JSON.stringify(result));
    return;
  }
  for (const l of formatResult(result)) console.log(l);
  const results = [result];
  let stock: BenchResult | undefined;
  if (o.compareStock) {
    if (result.variant !== "kit") {
      throw new Error(
        "--compare-stock: this process runs stock kernels already (unset CYBORG_STOCK_KERNELS " +
          "and use --backend webgpu)",
      );
    }
    stock = await runStockChild(o);
    for (const l of formatResult(stock)) console.log(l);
    results.push(stock);
  }
  if (o.csv) {
    const date = new Date().toISOString();
    await appendCsv(o.csv, CSV_HEADER, results.map((r) => csvRow(r, date)));
    console.log(`appended ${results.length} row(s) to ${o.csv}`);
  }
  if (stock) {
    console.log(
      `dispatches_ratio=${(result.dispatches / stock.dispatches).toFixed(3)} ` +
        `speedup=${(result.imgPerSec / stock.imgPerSec).toFixed(3)}`,
    );
  }
}

if (import.meta.main) {
  await main();
  // tfjs keeps timers alive on some backends; the numbers are printed, so leave now.
  Deno.exit(0);
}
