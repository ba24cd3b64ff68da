/**
 * Child-process entry of `run_pool.ts`: reads one {@linkcode RunJob} as JSON on stdin, initialises
 * the backend it names, trains the run (resuming it if it has a checkpoint) and scores its test
 * sets. Errors go to stderr with exit code 1.
 *
 * @module
 */
import { initBackend } from "./backend.ts";
import { evaluateRun, type TestSet } from "./experiment.ts";
import type { RunJob } from "./run_pool.ts";
import { train } from "./train.ts";

/** Trains and scores one job in this process. */
export async function runJob(job: RunJob): Promise<void> {
  await initBackend(job.backend);
  await train(job.cfg, { output: job.dir, progress: "silent" });
  await evaluateRun(job.dir, job.cfg, job.testSets as TestSet[]);
}

if (import.meta.main) {
  try {
    const job = JSON.parse(await new Response(Deno.stdin.readable).text()) as RunJob;
    await runJob(job);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
