import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../lib/config.ts";
import { defaultJobs, runJobsInChildren } from "../lib/run_pool.ts";

Deno.test("defaultJobs: one process per GPU, CPU cores (at most 4) otherwise", () => {
  assert.equal(defaultJobs("webgpu"), 1);
  assert.equal(defaultJobs("tensorflow"), 1);
  const cores = navigator.hardwareConcurrency;
  assert.equal(defaultJobs("wasm"), Math.max(1, Math.min(cores, 4)));
  assert.equal(defaultJobs("cpu"), defaultJobs("wasm"));
});

Deno.test("runJobsInChildren: a failing run names its folder and the child's error; others still start in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-pool-" });
  const bad = (name: string) => ({
    cfg: { ...DEFAULT_CONFIG, network: "minicnn", dataset: `${dir}/missing-${name}` },
    dir: `${dir}/${name}`,
    testSets: [],
    backend: "cpu" as const,
  });
  const started: number[] = [];
  await assert.rejects(
    () => runJobsInChildren([bad("a"), bad("b")], 2, { onStart: (i) => started.push(i) }),
    (e: Error) => {
      assert.match(e.message, new RegExp(`run ${dir}/a failed \\(exit 1\\)`));
      assert.match(e.message, new RegExp(`run ${dir}/b failed`));
      assert.match(e.message, /missing-a/, "the child's own error message is kept");
      return true;
    },
  );
  assert.deepEqual(started, [0, 1]);
  // Nothing was left behind for runs whose config failed validation.
  assert.deepEqual([...Deno.readDirSync(dir)], []);
  await assert.rejects(() => runJobsInChildren([], 0), /jobs: expected an integer >= 1, got 0/);
  await Deno.remove(dir, { recursive: true });
});
