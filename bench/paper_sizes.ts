/**
 * The paper's networks at the paper's sizes: a few CYBORG training steps per network, with the
 * memory check the training loop runs first, img/s, peak memory and tensor count per step.
 *
 *   deno task bench:paper-sizes --network resnet50 --backend wasm --steps 2
 *
 * Options: `--network` (repeatable or comma-separated; default the four paper networks),
 * `--size` (default: the network's, 224 or 299), `--batch` (default 20, the paper's), `--steps`
 * (default 2; 0: only the memory check), `--backend` (default `wasm`), `--fit` (when the check refuses the batch, run the
 * largest batch it allows instead of stopping), `--csv <path>` (default
 * `bench/results/paper_sizes.csv`; `''` for none).
 *
 * Per step it prints the wall time, img/s, `tf.memory().numTensors` and the memory: the wasm heap
 * (which never shrinks, so after a step it is that step's peak) or, elsewhere, tfjs's tensor bytes.
 * Each network runs in its own process, so one heap never carries over to the next network.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, initBackend, parseBackendName } from "../lib/backend.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { appendCsv, csvField } from "../lib/csv_out.ts";
import {
  checkBatchFits,
  estimatePeakBytes,
  HEAP_FACTOR,
  largestBatch,
  measureStepMemory,
  PARAM_OVERHEAD,
  WASM_HEAP_LIMIT,
  wasmHeapBytes,
  wasmTensorBytes,
} from "../lib/memory_budget.ts";
import { Sgd } from "../lib/optim.ts";
import { Rng } from "../lib/rng.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";

const PAPER = ["resnet50", "densenet121", "inception_v3", "xception"];
const CSV_HEADER = [
  "date",
  "network",
  "size",
  "batch_requested",
  "batch_run",
  "backend",
  "step",
  "ms",
  "img_per_s",
  "tensors",
  "memory_mib",
  "tensor_peak_mib",
  "estimate_mib",
  "tensor_estimate_mib",
  "note",
];

interface Args {
  networks: string[];
  size?: number;
  batch: number;
  steps: number;
  backend: BackendName;
  fit: boolean;
  csv: string;
}

function parse(argv: string[]): Args {
  const a: Args = { networks: [], batch: 20, steps: 2, backend: "wasm", fit: false, csv: "" };
  a.csv = "bench/results/paper_sizes.csv";
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k}: missing value`);
      return x;
    };
    const num = (name: string, min = 1) => {
      const x = Number(v());
      if (!Number.isInteger(x) || x < min) {
        throw new Error(`${name}: expected an integer >= ${min}`);
      }
      return x;
    };
    if (k === "--network") a.networks.push(...v().split(","));
    else if (k === "--size") a.size = num(k);
    else if (k === "--batch") a.batch = num(k);
    else if (k === "--steps") a.steps = num(k, 0);
    else if (k === "--backend") a.backend = parseBackendName(v(), "--backend");
    else if (k === "--fit") a.fit = true;
    else if (k === "--csv") a.csv = v();
    else throw new Error(`unknown option ${k}`);
  }
  if (a.networks.length === 0) a.networks = [...PAPER];
  for (const n of a.networks) getBackbone(n, "--network");
  return a;
}

function mib(b: number): number {
  return Math.round(b / 2 ** 20);
}

/** Runs one network in this process. */
async function runOne(a: Args, network: string): Promise<void> {
  const info = await initBackend(a.backend);
  const entry = getBackbone(network);
  const size = a.size ?? entry.spec.inputSize;
  const model = entry.build({ seed: 1, inputSize: size, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  console.log(`${network} ${size}px batch ${a.batch} on ${info.name} (${info.adapter})`);
  let batch = a.batch;
  let note = "";
  let estimate = NaN;
  let tensorEstimate = NaN;
  if (info.name === "wasm") {
    const m = measureStepMemory(model, size);
    estimate = estimatePeakBytes(m, batch);
    tensorEstimate = estimatePeakBytes(m, batch, 1, 0);
    console.log(
      `  estimate: ${mib(estimate)} MiB (tensors ${mib(estimatePeakBytes(m, batch, 1, 0))} MiB ` +
        `× ${HEAP_FACTOR} + ${PARAM_OVERHEAD} × ${mib(m.params)} MiB of parameters; per image ` +
        `${mib(m.perImage)} MiB, state ${mib(m.state)}, fixed ${mib(m.fixed)}) ` +
        `of ${mib(WASM_HEAP_LIMIT)} MiB; largest batch that fits: ${
          largestBatch(m, WASM_HEAP_LIMIT)
        }`,
    );
    try {
      checkBatchFits(model, size, batch, "--batch");
    } catch (e) {
      console.log(`  refused: ${(e as Error).message}`);
      if (!a.fit) return;
      batch = largestBatch(m, WASM_HEAP_LIMIT);
      if (batch < 1) return;
      note = `batch ${a.batch} refused by the memory check; ran ${batch}`;
      estimate = estimatePeakBytes(m, batch);
      tensorEstimate = estimatePeakBytes(m, batch, 1, 0);
      console.log(`  --fit: running batch ${batch} (estimate ${mib(estimate)} MiB)`);
    }
  }
  const rng = new Rng("bench/paper_sizes");
  const g = entry.spec.camGrid(size);
  const data = {
    x: tf.tensor4d(rng.fillNormal(new Float32Array(batch * size * size * 3), 1), [
      batch,
      size,
      size,
      3,
    ]),
    y: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2), "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(batch * g * g), 0, 1), [batch, g, g]),
  };
  for (let s = 1; s <= a.steps; s++) {
    wasmTensorBytes(true);
    const t0 = performance.now();
    trainStep(model, opt, data, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
    const sums = await acc.read(); // the sync: the step is done
    const ms = performance.now() - t0;
    const mem = wasmHeapBytes() ?? tf.memory().numBytes;
    const tensorPeak = info.name === "wasm" ? wasmTensorBytes().peak : NaN;
    const row = {
      date: new Date().toISOString(),
      network,
      size,
      batch_requested: a.batch,
      batch_run: batch,
      backend: info.name,
      step: s,
      ms: Math.round(ms),
      img_per_s: +(batch / (ms / 1000)).toFixed(3),
      tensors: tf.memory().numTensors,
      memory_mib: mib(mem),
      tensor_peak_mib: Number.isNaN(tensorPeak) ? "" : mib(tensorPeak),
      estimate_mib: Number.isNaN(estimate) ? "" : mib(estimate),
      tensor_estimate_mib: Number.isNaN(tensorEstimate) ? "" : mib(tensorEstimate),
      note,
    };
    console.log(
      `  step ${s}: ${row.ms} ms, ${row.img_per_s} img/s, ${row.tensors} tensors, ` +
        `${info.name === "wasm" ? "wasm heap" : "tensor bytes"} ${row.memory_mib} MiB, ` +
        (row.tensor_peak_mib === "" ? "" : `tensor peak ${row.tensor_peak_mib} MiB, `) +
        `loss ${(sums.loss / batch).toFixed(4)}`,
    );
    if (a.csv) {
      const line = CSV_HEADER.map((k) => csvField(row[k as keyof typeof row])).join(",");
      await appendCsv(a.csv, CSV_HEADER.join(","), [line]);
    }
  }
  tf.dispose(Object.values(data));
  acc.dispose();
  opt.dispose();
  model.store.dispose();
}

if (import.meta.main) {
  const a = parse(Deno.args);
  if (a.networks.length === 1) {
    await runOne(a, a.networks[0]);
  } else {
    // One process per network: a wasm heap never shrinks, so each network starts from a fresh one.
    for (const n of a.networks) {
      const args = Deno.args.filter((x, i, all) => x !== "--network" && all[i - 1] !== "--network");
      const p = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "--network", n, ...args],
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      const { code } = await p.status;
      if (code !== 0) console.log(`${n}: exited with code ${code}`);
    }
  }
}
