/**
 * The run folder `results/<run>/`: .cyborg-kit (the marker of a folder the kit created), config.json, log.jsonl (one JSON object per line), checkpoints/
 * (last.safetensors, best.safetensors), val_scores.csv, summary.json. Every file is written
 * atomically; log lines are appended.
 *
 * @module
 */
import { dirname, resolve, sep as SEP } from "node:path";
import { LOCK_FILE } from "./folder_lock.ts";

/** The per-epoch line of log.jsonl. */
export interface EpochRecord {
  type: "epoch";
  epoch: number;
  lr: number;
  train_loss: number;
  train_ce: number;
  train_cam: number;
  train_acc: number;
  val_acc: number;
  val_auc: number;
  seconds: number;
  steps: number;
  images_per_s: number;
}

/** One line of log.jsonl. */
export type LogRecord =
  | EpochRecord
  | {
    type: "step";
    epoch: number;
    step: number;
    loss: number;
    ce: number;
    cam: number;
    acc: number;
  }
  | { type: "resume"; epoch: number; steps: number; time: string }
  | { type: "error"; message: string; time: string };

/** Paths inside a run folder. */
export class RunDir {
  /** @param root the run folder. */
  constructor(readonly root: string) {}
  /** config.json */
  get config(): string {
    return `${this.root}/config.json`;
  }
  /** log.jsonl */
  get log(): string {
    return `${this.root}/log.jsonl`;
  }
  /** checkpoints/ */
  get checkpoints(): string {
    return `${this.root}/checkpoints`;
  }
  /** checkpoints/last.safetensors */
  get lastCheckpoint(): string {
    return `${this.checkpoints}/last.safetensors`;
  }
  /** checkpoints/best.safetensors */
  get bestCheckpoint(): string {
    return `${this.checkpoints}/best.safetensors`;
  }
  /** val_scores.csv (of the best checkpoint) */
  get valScores(): string {
    return `${this.root}/val_scores.csv`;
  }
  /** summary.json */
  get summary(): string {
    return `${this.root}/summary.json`;
  }
  /** eval/: the test sets' scores and mean CAMs (written by the experiment runner) */
  get evalDir(): string {
    return `${this.root}/eval`;
  }
  /** eval/<set>.csv: one test set's `path,label,score` */
  evalScores(set: string): string {
    return `${this.evalDir}/${set}.csv`;
  }
  /** eval/mean_cams.json */
  get meanCams(): string {
    return `${this.evalDir}/mean_cams.json`;
  }

  /**
   * Creates the folder (and checkpoints/) with the kit's marker when it is new or empty, failing
   * with a clear message if it cannot be written or holds something other than a run. The message
   * names the folder as `option` (default `output`, the key of `TrainOptions`; the command line
   * passes its flag).
   */
  async create(option = "output"): Promise<void> {
    const kind = await requireRunFolder(this.root, option);
    try {
      // The marker before anything else: a process killed in between leaves a folder that is
      // empty (but for its lock) or marked, never one holding files of an unmarked run.
      await Deno.mkdir(this.root, { recursive: true });
      if (kind === "absent" || kind === "empty") await markKitFolder(this.root, "run");
      await Deno.mkdir(this.checkpoints, { recursive: true });
      const probe = `${this.root}/.write-test-${Deno.pid}`;
      await Deno.writeTextFile(probe, "");
      await Deno.remove(probe);
    } catch (e) {
      throw new Error(`${option}: cannot write to ${this.root}: ${(e as Error).message}`);
    }
  }

  /** Appends records to log.jsonl. */
  async append(...records: LogRecord[]): Promise<void> {
    await Deno.writeTextFile(this.log, records.map((r) => JSON.stringify(r) + "\n").join(""), {
      append: true,
    });
  }

  /** Reads log.jsonl (empty when absent) with {@linkcode parseLog}. */
  async readLog(): Promise<LogRecord[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.log);
    } catch {
      return [];
    }
    return parseLog(text, this.log);
  }

  /** Keeps only log records up to a completed epoch (used when resuming from its checkpoint). */
  async truncateLog(epochsDone: number): Promise<void> {
    const keep = (await this.readLog()).filter((r) => r.type !== "error" && r.epoch <= epochsDone);
    await writeAtomic(this.log, keep.map((r) => JSON.stringify(r) + "\n").join(""));
  }
}

/**
 * The records of a log.jsonl text. A last line cut short (an append interrupted by a kill or a
 * full disk leaves no newline after it) is left out; any other line that is not JSON is an error
 * naming `source` and the line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLog } from "./run_dir.ts";
 * const text = '{"type":"resume","epoch":1,"steps":9,"time":"t"}\n{"type":"st';
 * assert.deepEqual(parseLog(text, "log.jsonl").map((r) => r.type), ["resume"]);
 * assert.throws(() => parseLog('{"type":\n{}\n', "log.jsonl"), /log\.jsonl:1: not a log record/);
 * ```
 */
export function parseLog(text: string, source: string): LogRecord[] {
  const lines = text.split("\n");
  const records: LogRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    try {
      records.push(JSON.parse(lines[i]));
    } catch {
      if (i === lines.length - 1) break;
      throw new Error(`${source}:${i + 1}: not a log record (a line of JSON)`);
    }
  }
  return records;
}

/** True when something exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Writes a text file atomically (temporary file in the same folder, then rename). */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Writes pretty JSON atomically. */
export function writeJson(path: string, value: unknown): Promise<void> {
  return writeAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Reads JSON, or undefined when the file does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/**
 * The marker file of a folder the kit created (a run or an experiment folder). `--fresh` deletes
 * only folders that hold it.
 */
export const KIT_MARKER = ".cyborg-kit";

/** What a folder given as an output is: see {@linkcode inspectFolder}. */
export type FolderKind = "absent" | "empty" | "kit" | "legacy" | "foreign";

/**
 * `absent` (nothing there), `empty` (a folder holding nothing but a lock file), `kit` (holds
 * {@linkcode KIT_MARKER}), `legacy` (a run folder of an older kit: config.json, no marker) or
 * `foreign` (anything else). A path that is not a folder is an error naming `option` (default
 * `output`; the command-line tools pass their flag).
 */
export async function inspectFolder(dir: string, option = "output"): Promise<FolderKind> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(dir);
  } catch (e) {
    // Not there (or below a file: creating it then fails with a clear message).
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return "absent";
    }
    throw new Error(`${option}: cannot read ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory) throw new Error(`${option}: ${dir} is not a folder`);
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  if (names.includes(KIT_MARKER)) return "kit";
  if (names.every((n) => n === LOCK_FILE)) return "empty";
  if (names.includes("config.json") && names.includes("checkpoints")) return "legacy";
  return "foreign";
}

/**
 * {@linkcode inspectFolder}, refusing a folder that holds something other than a run (the kit
 * writes its files only into a new or empty folder, or one it created). Errors name `option`
 * (default `output`).
 */
export async function requireRunFolder(dir: string, option = "output"): Promise<FolderKind> {
  const kind = await inspectFolder(dir, option);
  if (kind === "foreign") {
    throw new Error(
      `${option}: ${dir} is not empty and is not a run folder of the kit; choose a new or empty ` +
        "folder",
    );
  }
  return kind;
}

/** Writes the kit's marker into `dir` (a folder the kit just created). */
export async function markKitFolder(dir: string, kind: "run" | "experiment"): Promise<void> {
  await writeJson(`${dir}/${KIT_MARKER}`, { kind, created: new Date().toISOString() });
}

/**
 * Refuses (with an error naming `option`, default `fresh`: the `TrainOptions.resume` mode that
 * empties a run folder) to delete `dir` unless the kit created it (it holds
 * {@linkcode KIT_MARKER}) and none of `keep` (the data the job reads: data root, CSVs, maps,
 * weights) lies inside it. Nothing there, or an empty folder, is fine.
 */
export async function checkDeletable(
  dir: string,
  keep: readonly (string | null | undefined)[],
  option = "fresh",
): Promise<void> {
  const kind = await inspectFolder(dir, option);
  if (kind === "absent" || kind === "empty") return;
  if (kind !== "kit") {
    throw new Error(
      `${option}: refusing to delete ${dir}: it was not created by the kit (no ${KIT_MARKER} ` +
        "marker). Choose another output folder, or delete it yourself.",
    );
  }
  const real = await Deno.realPath(dir);
  for (const p of keep) {
    if (!p) continue;
    const target = await Deno.realPath(p).catch(() => resolve(p));
    if (target === real || target.startsWith(real + SEP)) {
      throw new Error(
        `${option}: refusing to delete ${dir}: it holds the data this job reads (${p})`,
      );
    }
  }
}

/** Deletes everything inside `dir` except its lock file (the caller holds the lock). */
export async function clearFolder(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name !== LOCK_FILE) await Deno.remove(`${dir}/${e.name}`, { recursive: true });
  }
}

/**
 * Checks that `path` (a file or folder to be written, existing or not) can be written: the
 * nearest existing folder on its way takes a probe file. A folder where a file is expected (or the
 * reverse) is an error naming `option`.
 */
export async function checkWritable(
  path: string,
  option: string,
  kind: "file" | "folder" = "folder",
): Promise<void> {
  let dir = kind === "file" ? dirname(resolve(path)) : resolve(path);
  const st = await Deno.stat(path).catch(() => undefined);
  if (st && kind === "file" && st.isDirectory) throw new Error(`${option}: ${path} is a folder`);
  if (st && kind === "folder" && !st.isDirectory) throw new Error(`${option}: ${path} is a file`);
  for (;;) {
    const s = await Deno.stat(dir).catch(() => undefined);
    if (s) {
      if (!s.isDirectory) throw new Error(`${option}: cannot write ${path}: ${dir} is a file`);
      break;
    }
    if (dirname(dir) === dir) break;
    if (kind === "file") throw new Error(`${option}: cannot write ${path}: ${dir} does not exist`);
    dir = dirname(dir);
  }
  const probe = `${dir}/.write-test-${Deno.pid}`;
  try {
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    throw new Error(`${option}: cannot write ${path}: ${(e as Error).message}`);
  }
}
