/**
 * The state of a submitted array from Slurm's own view (`scontrol show job -o`, which works with
 * accounting off) and from the run folders: runs done, running, pending, failed.
 *
 * @module
 */

/**
 * One `scontrol show job -o` record: one task of an array or a still-pending range of its tasks,
 * or a job that is not an array (no tasks).
 */
export interface JobRecord {
  /** Array task ids this record covers. */
  tasks: number[];
  /** JobState, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED. */
  state: string;
  /** ExitCode `status:signal`. */
  exitCode: string;
}

/** Parses an `ArrayTaskId` value: `3`, `2-7`, `1,4-5`, with an optional `%N` throttle. */
export function parseTaskIds(value: string): number[] {
  const ids: number[] = [];
  for (const part of value.split("%")[0].split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b; i++) ids.push(i);
  }
  return ids;
}

/** Parses `scontrol show job -o` output (one record per line, `Key=Value` fields). */
export function parseScontrol(text: string): JobRecord[] {
  const out: JobRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(line)?.[1];
    const ids = field("ArrayTaskId");
    const state = field("JobState");
    if (state === undefined) continue;
    // A job that is not an array (the report job) has no ArrayTaskId.
    out.push({ tasks: ids ? parseTaskIds(ids) : [], state, exitCode: field("ExitCode") ?? "" });
  }
  return out;
}

/** A task's state as the progress display counts it. */
export type TaskState = "done" | "running" | "pending" | "failed";

/** One task's state, with the exit status of a failed one. */
export interface TaskStatus {
  /** Array task id. */
  task: number;
  /** Counted state. */
  state: TaskState;
  /** For failed tasks: Slurm's state and exit status, e.g. `CANCELLED, exit 0:15`. */
  detail?: string;
}

const LIVE = new Set([
  "PENDING",
  "CONFIGURING",
  "RUNNING",
  "COMPLETING",
  "REQUEUED",
  "RESIZING",
  "SUSPENDED",
  "STAGE_OUT",
]);

/** True for a JobState that is not over yet. */
export function isLive(state: string): boolean {
  return LIVE.has(state);
}

/**
 * Classifies each task: `done` when its run finished and was scored (`complete[i]`), else from
 * Slurm's record; a task Slurm no longer knows is `pending` while the array is live (`arrayLive`)
 * and `failed` otherwise, with the status from its exit file (`exitFiles[i]`) when there is one.
 */
export function classifyTasks(
  complete: readonly boolean[],
  records: readonly JobRecord[],
  exitFiles: readonly (string | undefined)[],
  arrayLive: boolean,
): TaskStatus[] {
  const byTask = new Map<number, JobRecord>();
  for (const r of records) for (const t of r.tasks) byTask.set(t, r);
  return complete.map((ok, task) => {
    const r = byTask.get(task);
    if (r && isLive(r.state)) {
      return {
        task,
        state: r.state === "RUNNING" || r.state === "COMPLETING" ? "running" : "pending",
      };
    }
    if (ok) return { task, state: "done" };
    if (r) return { task, state: "failed", detail: `${r.state}, exit ${r.exitCode}` };
    const exit = exitFiles[task];
    if (exit !== undefined) return { task, state: "failed", detail: `exit ${exit}` };
    if (arrayLive) return { task, state: "pending" };
    return { task, state: "failed", detail: "exit status unknown (no longer known to Slurm)" };
  });
}

/** Counts per state, e.g. for `3/8 done, 2 running, 3 pending, 0 failed`. */
export function progressLine(arrayId: string, tasks: readonly TaskStatus[]): string {
  const n = (s: TaskState) => tasks.filter((t) => t.state === s).length;
  return `slurm array ${arrayId}: ${n("done")}/${tasks.length} done, ${n("running")} running, ` +
    `${n("pending")} pending, ${n("failed")} failed`;
}
