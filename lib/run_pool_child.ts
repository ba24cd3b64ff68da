/**
 * Child-process entry of `run_pool.ts`: reads one {@linkcode RunJob} as a line of JSON on stdin,
 * initialises the backend it names, trains the run (resuming it if it has a checkpoint) and scores
 * its test sets. Errors go to stderr with exit code 1. The parent keeps stdin open while the child
 * runs; when it closes early (the parent killed), the child stops (exit 1), releasing its run
 * folder.
 *
 * @module
 */
import { initBackend } from "./backend.ts";
import { evaluateRun } from "./experiment/evaluate.ts";
import type { TestSet } from "./experiment/test_sets.ts";
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
    const reader = Deno.stdin.readable.getReader();
    const { job, rest } = await readJobLine(reader);
    // Then stdin stays open until the parent ends: its end (the parent gone, even by kill -9)
    // stops this run, so a resumed experiment does not find its runs held by orphans.
    watchParent(reader, rest);
    await runJob(job);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}

async function readJobLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ job: RunJob; rest: boolean }> {
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) text += dec.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl >= 0) return { job: JSON.parse(text.slice(0, nl)) as RunJob, rest: !done };
    if (done) return { job: JSON.parse(text) as RunJob, rest: false };
  }
}

function watchParent(reader: ReadableStreamDefaultReader<Uint8Array>, open: boolean): void {
  if (!open) return; // started by hand with a closed stdin: nothing to watch
  (async () => {
    while (!(await reader.read()).done) { /* the parent sends nothing more */ }
    try {
      console.error("error: the experiment process is gone; stopping this run");
    } catch {
      // stderr went with the parent (a broken pipe): stop all the same, through Deno.exit, so
      // that the run folder's lock is released on the way out
    }
    Deno.exit(1);
  })();
}
