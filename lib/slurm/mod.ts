/**
 * `reproduce --executor slurm`: the experiment's runs as one Slurm job array (a task per run not
 * yet finished), and a report job after it. The submitting process holds the experiment folder's
 * lock while it checks the inputs and submits, then records the array in `<out>/.slurm/array.json`;
 * each task locks only its own run folder. While the array or its report job is live, another
 * submission or a local run of the same folder is refused, naming the array. By default the
 * submitter then waits for the report, printing runs done, running, pending and failed (from
 * `scontrol` and the run folders); failed tasks are listed with their Slurm state, exit status and
 * log. Submitting again submits only the runs that did not finish.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { type PlannedRun, runComplete } from "../experiment/runner.ts";
import type { BackendName } from "../backend.ts";
import type { RunJob } from "../run_pool.ts";
import { exists, readJsonIfExists, writeAtomic, writeJson } from "../run_dir.ts";
import {
  arrayScript,
  collectLogPath,
  collectScript,
  slurmDir,
  taskExitPath,
  taskLogPath,
} from "./sbatch.ts";
import { classifyTasks, isLive, parseScontrol, progressLine, type TaskStatus } from "./status.ts";

/** The record of the last submission: `<out>/.slurm/array.json`. */
export interface ArrayRecord {
  /** The job array's id. */
  arrayId: string;
  /** The report job's id. */
  collectId: string;
  /** The submission's folder (scripts and job list). */
  submission: string;
  /** Run folder of each array task, by task id. */
  runs: string[];
  /** The `reproduce` arguments of the submission (a later `reproduce --out X` reuses them). */
  argv: string[];
  /** When it was submitted (ISO 8601). */
  submitted: string;
}

/** How to submit. */
export interface SlurmOptions {
  /** Extra sbatch options for both jobs. */
  slurmOpts: string[];
  /** GPUs per array task. */
  gpusPerRun: number;
  /** Tasks at a time (`--array=...%N`), from `--jobs`. */
  parallel?: number;
  /** Wait for the report (default) or return after submitting. */
  wait: boolean;
  /** Print the scripts without submitting. */
  dryRun: boolean;
  /** The experiment's options for the report job (`--preset`, `--data`, ...). */
  collectArgs: string[];
  /** The full `reproduce` arguments, recorded for a later `reproduce --out X`. */
  argv: string[];
  /** Backend each task initialises. */
  backend: BackendName;
  /** Job name prefix. */
  name: string;
  /** Progress and messages. */
  log: (line: string) => void;
}

const ROOT = resolve(dirname(decodeURIComponent(new URL(import.meta.url).pathname)), "../..");

/** The array record file of an experiment folder. */
export function recordPath(out: string): string {
  return `${slurmDir(out)}/array.json`;
}

/** Reads the array record, or undefined when the folder never was submitted. */
export function readRecord(out: string): Promise<ArrayRecord | undefined> {
  return readJsonIfExists<ArrayRecord>(recordPath(out));
}

/** Runs a Slurm client command; a missing command is a clear error. */
async function slurmCmd(
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `--executor slurm: ${cmd} not found; Slurm's client commands (sbatch, squeue, scontrol) ` +
          "must be on PATH",
      );
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** Slurm's records of a job (all tasks of an array), or [] once Slurm no longer knows it. */
async function jobRecords(jobId: string) {
  const r = await slurmCmd("scontrol", ["show", "job", "-o", jobId]);
  return r.ok ? parseScontrol(r.stdout) : [];
}

/** The recorded jobs (array, report job) that are still pending or running. */
export async function liveJobs(rec: ArrayRecord): Promise<string[]> {
  const live: string[] = [];
  for (const id of [rec.arrayId, rec.collectId]) {
    if ((await jobRecords(id)).some((r) => isLive(r.state))) live.push(id);
  }
  return live;
}

/**
 * Throws when the folder's recorded array or report job is still live (its tasks write the run
 * folders), unless `attach`: then returns the live record (the caller waits for it).
 */
export async function refuseLiveArray(
  out: string,
  attach = false,
): Promise<ArrayRecord | undefined> {
  const rec = await readRecord(out);
  if (!rec) return undefined;
  let live: string[];
  try {
    live = await liveJobs(rec);
  } catch (e) {
    throw new Error(
      `--out: ${out} was submitted to Slurm as job array ${rec.arrayId} (${recordPath(out)}), ` +
        `and its state cannot be checked: ${(e as Error).message}. If that array is over, ` +
        `remove ${recordPath(out)}`,
    );
  }
  if (live.length && attach) return rec;
  if (live.length) {
    throw new Error(
      `--out: ${out} is being written by Slurm job array ${rec.arrayId} (report job ` +
        `${rec.collectId}; ${live.join(", ")} still live); wait for it (deno task reproduce ` +
        `--out ${out}), or cancel it with scancel ${live.join(" ")}`,
    );
  }
  return undefined;
}

/**
 * The arguments of a later `reproduce --out X` on a folder that was submitted: when no
 * `--executor` is given, the slurm executor; when nothing but `--out` (and `--no-wait`,
 * `--dry-run`) is given, the recorded submission's options, and `attach` (a live array is then
 * waited for instead of refused). Otherwise `args` unchanged.
 */
export async function resumeArgs(
  args: readonly string[],
): Promise<{ args: string[]; attach: boolean }> {
  const same = { args: [...args], attach: false };
  if (args.some((a) => a === "--executor" || a.startsWith("--executor="))) return same;
  if (args.includes("--collect") || args.includes("--help") || args.includes("-h")) return same;
  const i = args.findIndex((a) => a === "--out" || a.startsWith("--out="));
  if (i < 0) return same;
  const out = args[i] === "--out" ? args[i + 1] : args[i].slice("--out=".length);
  if (out === undefined) return same;
  const rec = await readRecord(out).catch(() => undefined);
  if (!rec) return same;
  const flags = ["--no-wait", "--dry-run"];
  const rest = args.filter((_a, k) => k !== i && !(args[i] === "--out" && k === i + 1));
  if (rest.every((a) => flags.includes(a))) {
    return { args: [...rec.argv.filter((a) => !flags.includes(a)), ...rest], attach: true };
  }
  return { args: [...args, "--executor", "slurm"], attach: false };
}

/**
 * Follows a live array of an earlier submission: waits for its report like the submitter
 * (`wait`), or prints its progress once.
 */
export async function followArray(
  outArg: string,
  rec: ArrayRecord,
  runs: readonly PlannedRun[],
  wait: boolean,
  log: (line: string) => void,
): Promise<void> {
  const out = await Deno.realPath(outArg);
  log(
    `job array ${rec.arrayId} (report job ${rec.collectId}) is live; ${
      wait ? "waiting" : "not waiting"
    }`,
  );
  if (wait) return await waitForArray(out, rec, runs, log);
  log(progressLine(rec.arrayId, (await arrayStatus(out, rec, runs)).tasks));
}

async function nextSubmission(out: string): Promise<string> {
  for (let k = 1;; k++) {
    const d = `${slurmDir(out)}/submission-${k}`;
    if (!(await exists(d))) return d;
  }
}

/** What {@linkcode runOnSlurm} did. */
export type SlurmOutcome = "nothing-to-run" | "dry-run" | "submitted" | "reported";

/**
 * Submits the runs of `runs` that are not finished and scored as one job array plus the report
 * job, and (unless `opts.wait` is false) waits for the report. `release` is called once the array
 * is recorded (the caller's experiment folder lock). Returns `nothing-to-run` when every run is
 * done (the caller writes the report itself).
 */
export async function runOnSlurm(
  outArg: string,
  runs: readonly PlannedRun[],
  opts: SlurmOptions,
  release: () => Promise<void>,
): Promise<SlurmOutcome> {
  const out = await Deno.realPath(outArg).catch(() => resolve(outArg));
  const todo: PlannedRun[] = [];
  for (const r of runs) if (!(await runComplete(r))) todo.push(r);
  if (todo.length === 0) return "nothing-to-run";
  // The same jobs a local child process gets; the tasks start in this process's folder.
  const jobs: RunJob[] = todo.map((r) => ({
    cfg: r.cfg,
    dir: r.info.dir,
    testSets: r.testSets,
    backend: opts.backend,
  }));
  const submission = await nextSubmission(out);
  const common = { out, deno: Deno.execPath(), root: ROOT, cwd: Deno.cwd() };
  const runsScript = arrayScript({
    ...common,
    jobsFile: `${submission}/jobs.json`,
    tasks: jobs.length,
    parallel: opts.parallel,
    gpusPerRun: opts.gpusPerRun,
    slurmOpts: opts.slurmOpts,
    name: `${opts.name}-runs`,
  });
  const reportScript = (arrayId: string) =>
    collectScript({
      ...common,
      arrayId,
      args: opts.collectArgs,
      slurmOpts: opts.slurmOpts,
      name: `${opts.name}-report`,
    });
  if (opts.dryRun) {
    console.log(`# ${submission}/runs.sbatch (${jobs.length} run(s), one per array task)`);
    console.log(runsScript);
    console.log(`# ${submission}/report.sbatch`);
    console.log(reportScript("<array job id>"));
    return "dry-run";
  }
  const version = await slurmCmd("sbatch", ["--version"]); // before anything is written
  if (!version.ok) throw new Error(`--executor slurm: sbatch --version failed: ${version.stderr}`);
  for (const sub of ["logs", "exit"]) {
    await Deno.mkdir(`${slurmDir(out)}/${sub}`, { recursive: true });
  }
  await Deno.mkdir(submission, { recursive: true });
  await writeJson(`${submission}/jobs.json`, jobs);
  await writeAtomic(`${submission}/runs.sbatch`, runsScript);
  const sub = await slurmCmd("sbatch", ["--parsable", `${submission}/runs.sbatch`]);
  if (!sub.ok) {
    throw new Error(`sbatch refused the job array (${submission}/runs.sbatch): ${sub.stderr}`);
  }
  const arrayId = sub.stdout.trim().split(";")[0];
  await writeAtomic(`${submission}/report.sbatch`, reportScript(arrayId));
  const col = await slurmCmd("sbatch", ["--parsable", `${submission}/report.sbatch`]);
  if (!col.ok) {
    await slurmCmd("scancel", [arrayId]).catch(() => undefined);
    throw new Error(
      `sbatch refused the report job (${submission}/report.sbatch): ${col.stderr}; job array ` +
        `${arrayId} was cancelled`,
    );
  }
  const rec: ArrayRecord = {
    arrayId,
    collectId: col.stdout.trim().split(";")[0],
    submission,
    runs: jobs.map((j) => j.dir),
    argv: opts.argv,
    submitted: new Date().toISOString(),
  };
  await writeJson(recordPath(out), rec);
  await release();
  opts.log(
    `submitted job array ${rec.arrayId} (${jobs.length} of ${runs.length} run(s); ` +
      `${runs.length - jobs.length} already done) and report job ${rec.collectId}; logs in ` +
      `${slurmDir(out)}/logs`,
  );
  if (!opts.wait) {
    opts.log(`not waiting; deno task reproduce --out ${outArg} waits for it and collects`);
    return "submitted";
  }
  await waitForArray(out, rec, todo, opts.log);
  return "reported";
}

/** The state of each task of a recorded array. */
export async function arrayStatus(
  out: string,
  rec: ArrayRecord,
  runs: readonly PlannedRun[],
): Promise<{ tasks: TaskStatus[]; arrayLive: boolean; collect: string | undefined }> {
  const records = await jobRecords(rec.arrayId);
  const complete: boolean[] = [];
  const exitFiles: (string | undefined)[] = [];
  for (let t = 0; t < rec.runs.length; t++) {
    const run = runs.find((r) => r.info.dir === rec.runs[t]);
    complete.push(run ? await runComplete(run) : false);
    exitFiles.push(
      (await Deno.readTextFile(taskExitPath(out, rec.arrayId, t)).catch(() => undefined))?.trim(),
    );
  }
  const arrayLive = records.some((r) => isLive(r.state));
  const collect = (await jobRecords(rec.collectId))[0]?.state;
  return { tasks: classifyTasks(complete, records, exitFiles, arrayLive), arrayLive, collect };
}

/**
 * Waits until the report job of `rec` is over, printing the progress line whenever it changes;
 * throws listing every failed task (Slurm state, exit status, log) when runs are missing or the
 * report job failed.
 */
export async function waitForArray(
  out: string,
  rec: ArrayRecord,
  runs: readonly PlannedRun[],
  log: (line: string) => void,
): Promise<void> {
  const poll = Number(Deno.env.get("CYBORG_SLURM_POLL_S") ?? "10") * 1000;
  let last = "";
  for (;;) {
    const s = await arrayStatus(out, rec, runs);
    const line = progressLine(rec.arrayId, s.tasks);
    if (line !== last) log(line);
    last = line;
    if (!s.arrayLive && !(s.collect && isLive(s.collect))) {
      const failed = s.tasks.filter((t) => t.state === "failed");
      const reportOk = s.collect === "COMPLETED" ||
        (s.collect === undefined && (await exists(`${out}/report.html`)) &&
          (await Deno.stat(`${out}/report.html`)).mtime! >= new Date(rec.submitted));
      if (failed.length === 0 && reportOk) {
        log(`report: ${out}/report.html`);
        return;
      }
      const lines = failed.map((t) =>
        `  task ${t.task} (${rec.runs[t.task]}): ${t.detail}; log ${
          taskLogPath(out, rec.arrayId, t.task)
        }`
      );
      if (!reportOk) {
        lines.push(
          `  report job ${rec.collectId}: ${s.collect ?? "over"}; log ${
            collectLogPath(out, rec.collectId)
          }`,
        );
      }
      throw new Error(
        `job array ${rec.arrayId}: ${failed.length} of ${rec.runs.length} run(s) failed` +
          `${reportOk ? "" : ", no report"}:\n${lines.join("\n")}\n` +
          `deno task reproduce --out ${out} submits the missing runs again`,
      );
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

/** Throws listing the runs that are not finished and scored (the report job's check). */
export async function requireAllComplete(runs: readonly PlannedRun[]): Promise<void> {
  const missing: string[] = [];
  for (const r of runs) if (!(await runComplete(r))) missing.push(r.info.dir);
  if (missing.length) {
    throw new Error(
      `--collect: ${missing.length} of ${runs.length} run(s) not finished and scored:\n` +
        missing.map((d) => `  ${d}`).join("\n"),
    );
  }
}
