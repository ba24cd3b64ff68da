/**
 * Forward and training throughput and peak memory of the backbones on the current backend.
 *
 *   deno task bench:backbones [--backbones resnet50,densenet121,inception_v3,xception]
 *     [--size N] [--batch N] [--steps N] [--warmup N] [--backend auto|webgpu|cpu]
 *     [--modes forward,train]
 *
 * Per backbone: eval-mode forward img/s (logits and taps, one device read at the end), training
 * img/s with the kit's `trainStep` (CYBORG loss α = 0.5, paper CAM tap, SGD with momentum; no read
 * inside a step), peak tensor bytes of one training step (`tf.profile` peakBytes, which counts
 * every live tensor on the backend, GPU included) and the process RSS after the run. `--size 0`
 * (default 64) uses each network's own input size (224 / 299); a size below a network's minimum
 * is raised to it (InceptionV3: 75). Appends one CSV row per backbone
 * and mode to bench/results/backbones.csv:
 * `date,backbone,backend,adapter,mode,batch,size,img_per_s,peak_tensor_mb,rss_mb`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, initBackend, parseBackendName } from "../lib/backend.ts";
import { getBackbone } from "../lib/backbones/registry.ts";
import { appendCsv, csvField } from "../lib/csv_out.ts";
import { ForwardContext } from "../lib/nn.ts";
import { Sgd } from "../lib/optim.ts";
import { Rng } from "../lib/rng.ts";
import { StepAccumulators, trainStep } from "../lib/train_step.ts";

/** Options of a run. */
export interface BackboneBenchOptions {
  /** Registry names. */
  backbones: string[];
  /** Input size; 0 = each network's default. */
  size: number;
  /** Batch size. */
  batch: number;
  /** Timed iterations per mode. */
  steps: number;
  /** Untimed iterations first (shader compilation, allocation). */
  warmup: number;
  /** Backend. */
  backend: BackendName;
  /** Which modes to measure. */
  modes: ("forward" | "train")[];
}

/** One measured row. */
export interface BackboneBenchRow {
  /** Registry name. */
  backbone: string;
  /** Active backend. */
  backend: string;
  /** Adapter description. */
  adapter: string;
  /** `forward` (eval) or `train` (trainStep). */
  mode: "forward" | "train";
  /** Batch size. */
  batch: number;
  /** Input size. */
  size: number;
  /** Images per second. */
  imgPerSec: number;
  /** Peak bytes of live tensors during one iteration, in MB. */
  peakTensorMb: number;
  /** Resident set size of the process after the mode ran, in MB. */
  rssMb: number;
}

const MB = 1024 * 1024;

/** Measures one backbone in both modes. */
export async function benchBackbone(
  name: string,
  opts: BackboneBenchOptions,
  adapter: string,
): Promise<BackboneBenchRow[]> {
  const entry = getBackbone(name);
  // A size below a network's minimum (InceptionV3: 75) is raised to it; the row records the size.
  const size = opts.size > 0 ? Math.max(opts.size, entry.spec.minInputSize) : entry.spec.inputSize;
  const model = entry.build({ seed: 1, inputSize: size });
  const rng = new Rng(`bench/backbones/${name}`);
  const b = opts.batch;
  const g = entry.spec.camGrid(size);
  const batch = {
    x: tf.tensor4d(rng.fillNormal(new Float32Array(b * size * size * 3), 1), [b, size, size, 3]),
    y: tf.tensor1d(Array.from({ length: b }, (_, i) => i % 2), "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(b * g * g), 0, 1), [b, g, g]),
    hasMap: tf.ones([b]) as tf.Tensor1D,
  };
  const rows: BackboneBenchRow[] = [];
  const row = (mode: "forward" | "train", seconds: number, peak: number) => {
    rows.push({
      backbone: name,
      backend: tf.getBackend(),
      adapter,
      mode,
      batch: b,
      size,
      imgPerSec: (opts.steps * b) / seconds,
      peakTensorMb: peak / MB,
      rssMb: Deno.memoryUsage().rss / MB,
    });
  };

  if (opts.modes.includes("forward")) await benchForward();
  if (opts.modes.includes("train")) await benchTrain();

  tf.dispose([batch.x, batch.y, batch.maps, batch.hasMap]);
  model.store.dispose();
  return rows;

  // Forward (eval): a sum of the logits and taps keeps every output alive until it is read.
  async function benchForward() {
    const forward = () =>
      tf.tidy(() => {
        const out = model.forward(batch.x, new ForwardContext(false));
        return tf.addN([tf.sum(out.logits), tf.sum(out.taps.paper), tf.sum(out.taps.standard)]);
      });
    for (let i = 0; i < opts.warmup; i++) await forward().data();
    const fwdProfile = await tf.profile(async () => {
      const t = forward();
      await t.data();
      t.dispose();
    });
    const t0 = performance.now();
    const sums: tf.Tensor[] = [];
    for (let i = 0; i < opts.steps; i++) sums.push(forward());
    const total = tf.addN(sums);
    await total.data();
    row("forward", (performance.now() - t0) / 1000, fwdProfile.peakBytes);
    tf.dispose([...sums, total]);
  }

  // Training: the kit's step (no read inside), one read of the step counter at the end.
  async function benchTrain() {
    const opt = new Sgd(model.store.trainable(), { lr: 0.005, momentum: 0.9, weightDecay: 1e-6 });
    const acc = new StepAccumulators();
    const step = () =>
      trainStep(model, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
    for (let i = 0; i < opts.warmup; i++) step();
    await acc.steps.data();
    const trainProfile = await tf.profile(() => {
      step();
    });
    await acc.steps.data();
    const t0 = performance.now();
    for (let i = 0; i < opts.steps; i++) step();
    await acc.steps.data();
    row("train", (performance.now() - t0) / 1000, trainProfile.peakBytes);
    acc.dispose();
    opt.dispose();
  }
}

const HEADER = "date,backbone,backend,adapter,mode,batch,size,img_per_s,peak_tensor_mb,rss_mb";

/** One CSV row for bench/results/backbones.csv. */
export function csvRow(r: BackboneBenchRow, date = new Date().toISOString()): string {
  return [
    date,
    r.backbone,
    r.backend,
    r.adapter,
    r.mode,
    r.batch,
    r.size,
    r.imgPerSec.toFixed(3),
    r.peakTensorMb.toFixed(1),
    r.rssMb.toFixed(0),
  ].map(csvField).join(",");
}

/** Parses the command line (`--key value` pairs), naming the bad option in errors. */
export function parseArgs(args: string[]): BackboneBenchOptions {
  const opts: BackboneBenchOptions = {
    backbones: ["resnet50", "densenet121", "inception_v3", "xception"],
    size: 64,
    batch: 2,
    steps: 2,
    warmup: 1,
    backend: "auto",
    modes: ["forward", "train"],
  };
  for (let i = 0; i < args.length; i += 2) {
    const [key, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${key}: missing value`);
    const int = (min: number) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) {
        throw new Error(`${key}: expected an integer >= ${min}, got "${value}"`);
      }
      return n;
    };
    switch (key) {
      case "--backbones":
        opts.backbones = value.split(",").map((s) => s.trim()).filter(Boolean);
        for (const b of opts.backbones) getBackbone(b, "--backbones");
        break;
      case "--size":
        opts.size = int(0);
        break;
      case "--batch":
        opts.batch = int(1);
        break;
      case "--steps":
        opts.steps = int(1);
        break;
      case "--warmup":
        opts.warmup = int(0);
        break;
      case "--backend":
        opts.backend = parseBackendName(value, "--backend");
        break;
      case "--modes":
        opts.modes = value.split(",").map((m) => {
          if (m !== "forward" && m !== "train") {
            throw new Error(`--modes: "${m}" is not forward or train`);
          }
          return m;
        });
        break;
      default:
        throw new Error(
          `${key}: unknown option (known: --backbones, --size, --batch, --steps, --warmup, ` +
            `--backend, --modes)`,
        );
    }
  }
  return opts;
}

if (import.meta.main) {
  const opts = parseArgs(Deno.args);
  const info = await initBackend(opts.backend);
  console.log(`backend ${info.name} (${info.adapter})`);
  const out = new URL("./results/backbones.csv", import.meta.url).pathname;
  for (const name of opts.backbones) {
    const rows = await benchBackbone(name, opts, info.adapter);
    for (const r of rows) {
      console.log(
        `${r.backbone.padEnd(13)} ${r.mode.padEnd(8)} ${r.size}px x${r.batch}: ` +
          `${r.imgPerSec.toFixed(2)} img/s, peak tensors ${r.peakTensorMb.toFixed(0)} MB, ` +
          `RSS ${r.rssMb.toFixed(0)} MB`,
      );
    }
    await appendCsv(out, HEADER, rows.map((r) => csvRow(r)));
  }
  console.log(`appended to ${out}`);
}
