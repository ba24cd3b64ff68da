import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { csvRow, measureTraining } from "../../bench/train_throughput.ts";

const BENCH = new URL("../../bench/train_throughput.ts", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("measureTraining on llvmpipe: counts, no readbacks or leaks, host split, kit config", async () => {
  const r = await measureTraining({
    backbone: "tinycnn",
    size: 16,
    batch: 2,
    steps: 2,
    warmup: 1,
    backend: "webgpu",
    profile: true,
  });
  assert.equal(r.variant, "kit");
  assert.equal(r.config, "cpu", "llvmpipe gets the cpu tuning");
  assert.ok(r.dispatches > 0);
  assert.equal(r.readbacks, 0, "a training step never reads back");
  assert.equal(r.stagingBuffers, 0, "uploads go through writeBuffer");
  assert.equal(r.leakedTensors, 0);
  assert.equal(r.pipelines, 0, "all shaders compiled in the warm-up");
  assert.ok(r.warmupPipelines > 0 && r.warmupMs > 0);
  assert.ok(r.enqueueMs > 0 && r.apiMs.submit > 0 && r.apiMs.submit <= r.enqueueMs + 1);
  assert.ok(r.kernels.length > 0 && r.kernelMs > 0, "profiled step has kernel times");
  const row = csvRow(r, "2026-01-01T00:00:00Z");
  assert.equal(row.split(",")[0], "2026-01-01T00:00:00Z");
  assert.match(row, /,cpu$/);
});

Deno.test("bench CLI: bad options name the option", async () => {
  for (
    const [args, re] of [
      [["--flag", "nonsense"], /--flag: expected NAME=VALUE/],
      [["--flag", "WEBGPU_X=abc"], /--flag WEBGPU_X: expected a number/],
      [["--steps", "0"], /--steps: expected an integer >= 1/],
      [["--backbone", "nope"], /nope/],
      [["--bogus"], /--bogus: unknown option/],
    ] as const
  ) {
    const r = await run([BENCH, ...args]);
    assert.notEqual(r.code, 0, args.join(" "));
    assert.match(r.stderr, re);
  }
});

Deno.test("the bench runs as one bundled file, --compare-stock and --flag included", async () => {
  const dir = await Deno.makeTempDir();
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "deno", BENCH, "-o", `${dir}/train.js`],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
  const r = await run([
    `${dir}/train.js`,
    ...["--backbone", "tinycnn", "--size", "16", "--batch", "2", "--steps", "1"],
    ...["--no-profile", "--compare-stock", "--csv", `${dir}/out.csv`],
    ...["--flag", "WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=50"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = r.stdout.trim().split("\n").at(-1)!;
  assert.match(last, /^dispatches_ratio=\d+\.\d{3} speedup=\d+\.\d{3}$/);
  assert.match(r.stderr, /step 1\/1: enqueued in \d+ ms/);
  const rows = (await Deno.readTextFile(`${dir}/out.csv`)).trim().split("\n");
  assert.equal(rows.length, 3, "header + kit + stock");
  assert.match(rows[1], /,kit,tinycnn,16,2,1,.*cpu,WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=50"?$/);
  assert.match(rows[2], /,stock,tinycnn,.*stock,WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=50"?$/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("measureTraining labels wasm runs by the kernel switch, not by the WebGPU kit kernels", async () => {
  const r = await measureTraining({
    backbone: "tinycnn",
    size: 16,
    batch: 2,
    steps: 1,
    warmup: 1,
    backend: "wasm",
    profile: false,
  });
  assert.equal(r.backend, "wasm");
  assert.equal(r.variant, "kit");
  assert.equal(r.config, "wasm");
  assert.ok(r.kitKernels.includes("Conv2DBackpropFilter"), r.kitKernels.join(","));
  assert.equal(r.dispatches, 0, "no WebGPU work on wasm");
});

Deno.test("measureTraining --precompile: every pipeline compiled before the warm-up", async () => {
  const r = await measureTraining({
    backbone: "minicnn",
    size: 24,
    batch: 2,
    steps: 1,
    warmup: 1,
    backend: "webgpu",
    profile: false,
    precompile: true,
  });
  assert.ok(r.precompile && r.precompile.pipelines > 0, JSON.stringify(r.precompile));
  assert.equal(r.warmupPipelines, 0, "the warm-up compiled nothing");
  assert.equal(r.leakedTensors, 0);
  assert.match(r.config, /,precompile$/);
});

Deno.test("measureTraining --kernel-cpu: CPU time per kernel, within the step's, kernels put back", async () => {
  const opts = {
    backbone: "smallcnn",
    size: 32,
    batch: 2,
    steps: 2,
    warmup: 1,
    backend: "wasm",
    profile: false,
  } as const;
  await measureTraining(opts);
  const before = tf.getKernelsForBackend("wasm").map((k) => k.kernelFunc);
  const split = (await measureTraining({ ...opts, kernelCpu: true })).kernelCpu!;
  const conv = split.kernels.find((k) => k.name === "Conv2D");
  assert.ok(conv && conv.count > 0 && conv.ms > 0, JSON.stringify(split.kernels.slice(0, 5)));
  const inKernels = split.kernels.reduce((a, k) => a + k.ms, 0);
  assert.ok(inKernels > 0 && inKernels <= split.stepMs * 1.01, `${inKernels} > ${split.stepMs}`);
  // Every kernel is the one registered before, not a wrapper.
  const after = tf.getKernelsForBackend("wasm").map((k) => k.kernelFunc);
  assert.equal(after.length, before.length);
  assert.ok(after.every((f) => before.includes(f)), "a kernel was left wrapped");
});
