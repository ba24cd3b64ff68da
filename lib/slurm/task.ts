/**
 * One task of the Slurm job array: `task.ts <jobs.json> <task id>` trains and scores the run at
 * that position of the job list with {@linkcode runJob}, the code a local `--jobs` child process
 * runs, so the run folder ends up the same. The task takes only its run folder's lock; errors go
 * to stderr (the task's Slurm log) with exit code 1.
 *
 * @module
 */
import { runJob } from "../run_pool_child.ts";
import type { RunJob } from "../run_pool.ts";

if (import.meta.main) {
  try {
    const [file, id] = Deno.args;
    const task = Number(id);
    const jobs = JSON.parse(await Deno.readTextFile(file)) as RunJob[];
    if (!Number.isInteger(task) || task < 0 || task >= jobs.length) {
      throw new Error(`task id "${id}" is not in 0..${jobs.length - 1} (${file})`);
    }
    console.error(`run ${jobs[task].dir} (task ${task} of ${file})`);
    await runJob(jobs[task]);
    console.error(`done ${jobs[task].dir}`);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
