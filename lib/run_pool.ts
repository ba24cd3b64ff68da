/**
 * Runs an experiment's trainings in parallel child processes: each child trains one run and scores
 * it (`lib/run_pool_child.ts`), up to `jobs` at a time. Each child runs the CPU backends (wasm,
 * cpu) on one core (its native libraries get one thread), so on a CPU-only machine `jobs` = cores
 * is up to `jobs`× faster; one GPU
 * is best used by one process. Every run is seeded and resumable on its own, so the results are
 * the same for any `jobs` (tested) and an interrupted experiment continues where it stopped.
 *
 * @module
 */
import type { BackendName } from "./backend.ts";
import type { TrainConfig } from "./config.ts";
import { EXPERIMENT_RUN_THREADS } from "./kernels/native/threads.ts";

/** One run for a child process: what `train` and `evaluateRun` take. */
export interface RunJob {
  /** The run's training config. */
  cfg: TrainConfig;
  /** The run folder. */
  dir: string;
  /** Test sets to score after training. */
  testSets: readonly { name: string; csv: string; kind: "fake" | "real" | "mixed" }[];
  /** Backend the child initialises (the parent's). */
  backend: BackendName;
}

/** The child's entry module. */
export const CHILD_MODULE = new URL("./run_pool_child.ts", import.meta.url);
const CONFIG_PATH = decodeURIComponent(new URL("../deno.json", import.meta.url).pathname);

/** How much of a failed child's stderr the error keeps. */
const STDERR_TAIL = 4000;

/**
 * Runs `jobs` in up to `parallel` child processes, in order (job i starts before job i + 1).
 * `onStart(i)` is called as job i starts, `onDone(i, seconds)` when it finished. On a failure no
 * new job starts; the running ones finish, then the error names every failed run folder with the
 * end of its stderr.
 */
export async function runJobsInChildren(
  jobs: readonly RunJob[],
  parallel: number,
  hooks: { onStart?: (i: number) => void; onDone?: (i: number, seconds: number) => void } = {},
): Promise<void> {
  if (!Number.isInteger(parallel) || parallel < 1) {
    throw new Error(`jobs: expected an integer >= 1, got ${parallel}`);
  }
  let next = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (next < jobs.length && failures.length === 0) {
      const i = next++;
      hooks.onStart?.(i);
      const t0 = performance.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--config", CONFIG_PATH, CHILD_MODULE.href],
        // One native thread per run: `parallel` runs share the cores, and a run's results (which
        // depend on the count in the last bits) are then the same for any `parallel`.
        env: { CYBORG_BLAS_THREADS: String(EXPERIMENT_RUN_THREADS) },
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // One line of JSON; stdin then stays open while the child runs: its end (this process
      // gone, even by kill -9) tells the child to stop.
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(jobs[i]) + "\n"));
      const out = await child.output();
      await w.close().catch(() => {});
      if (!out.success) {
        const err = new TextDecoder().decode(out.stderr).slice(-STDERR_TAIL);
        failures.push(`run ${jobs[i].dir} failed (exit ${out.code}):\n${err}`);
      } else {
        hooks.onDone?.(i, (performance.now() - t0) / 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
  if (failures.length) throw new Error(failures.join("\n"));
}

/**
 * The default number of parallel runs: 1 on a GPU backend (one device), else the machine's cores
 * (at most 4, as each process holds its own copy of the data).
 */
export function defaultJobs(backend: BackendName | string): number {
  if (backend === "webgpu" || backend === "tensorflow") return 1;
  return Math.max(1, Math.min(navigator.hardwareConcurrency ?? 1, 4));
}
