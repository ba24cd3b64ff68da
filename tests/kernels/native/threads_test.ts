import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "../../../lib/config.ts";
import { nativeKernelsActive } from "../../../lib/kernels/native/register.ts";
import {
  defaultNativeThreads,
  nativeThreads,
  setNativeThreads,
} from "../../../lib/kernels/native/threads.ts";
import { train } from "../../../lib/train.ts";
import { tinyDataRoot } from "../../_support/tiny_data.ts";

const root = await tinyDataRoot();

function config(): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    network: "tinycnn",
    inputSize: 16,
    alpha: 0.5,
    csv: `${root}/csvs/original.csv`,
    dataset: root,
    heatmaps: `${root}/heatmaps`,
    epochs: 1,
    batchSize: 8,
  };
}

Deno.test("the default thread count is CYBORG_BLAS_THREADS, else every core", () => {
  const prev = Deno.env.get("CYBORG_BLAS_THREADS");
  try {
    Deno.env.set("CYBORG_BLAS_THREADS", "3");
    assert.equal(defaultNativeThreads(), 3);
    Deno.env.delete("CYBORG_BLAS_THREADS");
    assert.equal(defaultNativeThreads(), navigator.hardwareConcurrency);
    Deno.env.set("CYBORG_BLAS_THREADS", "zero");
    assert.equal(defaultNativeThreads(), navigator.hardwareConcurrency);
  } finally {
    if (prev === undefined) Deno.env.delete("CYBORG_BLAS_THREADS");
    else Deno.env.set("CYBORG_BLAS_THREADS", prev);
  }
});

Deno.test("a run records its native thread count and a resume trains with it", async () => {
  await initBackend("wasm");
  assert.ok(nativeKernelsActive(), "no native library: apt-get install libopenblas0-pthread");
  const before = nativeThreads();
  const out = await Deno.makeTempDir({ prefix: "cyborg-threads-" });
  try {
    setNativeThreads(2);
    await train(config(), { output: out, progress: "silent" });
    const file = `${out}/config.json`;
    const recorded = JSON.parse(await Deno.readTextFile(file));
    assert.equal(recorded.nativeThreads, 2);

    // The same run again (finished: nothing trains) under another count: the recorded one wins.
    setNativeThreads(1);
    await train(config(), { output: out, progress: "silent" });
    assert.equal(nativeThreads(), 2);

    // A run folder that recorded no count ran with one thread.
    delete recorded.nativeThreads;
    await Deno.writeTextFile(file, JSON.stringify(recorded));
    await train(config(), { output: out, progress: "silent" });
    assert.equal(nativeThreads(), 1);
  } finally {
    setNativeThreads(before);
    await Deno.remove(out, { recursive: true });
  }
});
