/**
 * The batch scripts of `reproduce --executor slurm`: one job array with a task per run (each task
 * trains and scores its run through `lib/slurm/task.ts`, the code a local child process runs) and
 * a report job that runs after the whole array (`--dependency=afterany:<array>`) and writes
 * `aucs.json` and `report.html` with `reproduce --collect`. Pure functions: the paths they take
 * are absolute.
 *
 * @module
 */
import { EXPERIMENT_RUN_THREADS } from "../kernels/native/threads.ts";

/** What the array script needs. */
export interface ArrayScriptOptions {
  /** Experiment folder (absolute). */
  out: string;
  /** The runs' job list, one entry per array task (absolute). */
  jobsFile: string;
  /** Number of array tasks. */
  tasks: number;
  /** Tasks running at a time (`%N`), or undefined for no limit. */
  parallel?: number;
  /** GPUs per task (`--gres=gpu:N`), 0 for none. */
  gpusPerRun: number;
  /** Extra `#SBATCH` options, e.g. `--partition=gpu`. */
  slurmOpts: readonly string[];
  /** Job name. */
  name: string;
  /** The deno binary (absolute). */
  deno: string;
  /** The kit's root folder (absolute). */
  root: string;
  /** Folder the job runs in: the submitter's (the job list's paths are relative to it). */
  cwd: string;
}

/** What the report script needs. */
export interface CollectScriptOptions {
  /** Experiment folder (absolute). */
  out: string;
  /** The array's job id (or a placeholder in `--dry-run`). */
  arrayId: string;
  /** `reproduce` options (the experiment's with `--out`, without the executor's). */
  args: readonly string[];
  /** Extra `#SBATCH` options. */
  slurmOpts: readonly string[];
  /** Job name. */
  name: string;
  /** The deno binary (absolute). */
  deno: string;
  /** The kit's root folder (absolute). */
  root: string;
  /** Folder the job runs in: the submitter's (the job list's paths are relative to it). */
  cwd: string;
}

/** Quotes a word for bash (single quotes). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Folder of an experiment's Slurm files: submissions, logs, exit codes, the array record. */
export function slurmDir(out: string): string {
  return `${out}/.slurm`;
}

/** The log of one array task. */
export function taskLogPath(out: string, arrayId: string, task: number): string {
  return `${slurmDir(out)}/logs/${arrayId}_${task}.out`;
}

/** The file a task writes its exit status to. */
export function taskExitPath(out: string, arrayId: string, task: number): string {
  return `${slurmDir(out)}/exit/${arrayId}_${task}`;
}

/** The report job's log. */
export function collectLogPath(out: string, jobId: string): string {
  return `${slurmDir(out)}/logs/report_${jobId}.out`;
}

/** Checks `--slurm-opt` values: each one sbatch option, `--name=value` or `--flag`, one line. */
export function checkSlurmOpts(opts: readonly string[]): void {
  for (const o of opts) {
    if (!/^--[A-Za-z][A-Za-z0-9-]*(=[^\n\r]*)?$/.test(o)) {
      throw new Error(
        `--slurm-opt: "${o}" is not one sbatch option of the form --name=value or --flag ` +
          "(e.g. --slurm-opt=--partition=gpu)",
      );
    }
    const name = o.slice(2).split("=")[0];
    if (["array", "output", "error", "dependency", "parsable"].includes(name)) {
      throw new Error(`--slurm-opt: --${name} is set by the kit; leave it out`);
    }
  }
}

function header(lines: string[]): string {
  return ["#!/bin/bash", ...lines.map((l) => `#SBATCH ${l}`)].join("\n");
}

/** The job array script: task i trains and scores the i-th run of `jobsFile`. */
export function arrayScript(o: ArrayScriptOptions): string {
  if (!Number.isInteger(o.tasks) || o.tasks < 1) throw new Error("arrayScript: no runs");
  const array = `--array=0-${o.tasks - 1}${o.parallel ? `%${o.parallel}` : ""}`;
  const sbatch = [
    `--job-name=${o.name}`,
    array,
    `--output=${slurmDir(o.out)}/logs/%A_%a.out`,
    "--cpus-per-task=1",
    ...(o.gpusPerRun > 0 ? [`--gres=gpu:${o.gpusPerRun}`] : []),
    ...o.slurmOpts,
  ];
  const q = shellQuote;
  const exitFile = `${slurmDir(o.out)}/exit/\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}`;
  return [
    header(sbatch),
    `# One run of the experiment ${o.out} per array task: task i trains and scores the i-th`,
    `# run of the job list (lib/slurm/task.ts, the code of a local --jobs child process).`,
    "set -u",
    `cd ${q(o.cwd)}`,
    "# The native threads of every experiment run (lib/kernels/native/threads.ts).",
    `export CYBORG_BLAS_THREADS=${EXPERIMENT_RUN_THREADS}`,
    `${q(o.deno)} run -A --quiet --config ${q(`${o.root}/deno.json`)} ` +
    `${q(`${o.root}/lib/slurm/task.ts`)} ${q(o.jobsFile)} "$SLURM_ARRAY_TASK_ID"`,
    "rc=$?",
    `echo "$rc" > "${exitFile}"`,
    "exit $rc",
    "",
  ].join("\n");
}

/** The report script: after the array, scores nothing new and writes aucs.json and report.html. */
export function collectScript(o: CollectScriptOptions): string {
  const sbatch = [
    `--job-name=${o.name}`,
    `--dependency=afterany:${o.arrayId}`,
    `--output=${slurmDir(o.out)}/logs/report_%j.out`,
    "--cpus-per-task=1",
    ...o.slurmOpts,
  ];
  const q = shellQuote;
  const args = [...o.args, "--collect"].map(q).join(" ");
  return [
    header(sbatch),
    `# After every task of array ${o.arrayId}: checks that each run finished and was scored, then`,
    "# writes aucs.json and report.html (reproduce --collect).",
    "set -u",
    `cd ${q(o.cwd)}`,
    `exec ${q(o.deno)} run -A --config ${q(`${o.root}/deno.json`)} ` +
    `${q(`${o.root}/tools/reproduce.ts`)} ${args}`,
    "",
  ].join("\n");
}
