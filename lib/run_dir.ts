/**
 * The run folder `results/<run>/`: config.json, log.jsonl (one JSON object per line), checkpoints/
 * (last.safetensors, best.safetensors), val_scores.csv, summary.json. Every file is written
 * atomically; log lines are appended.
 *
 * @module
 */

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

  /** Creates the folder (and checkpoints/), failing with a clear message if it cannot be written. */
  async create(): Promise<void> {
    try {
      await Deno.mkdir(this.checkpoints, { recursive: true });
      const probe = `${this.root}/.write-test-${Deno.pid}`;
      await Deno.writeTextFile(probe, "");
      await Deno.remove(probe);
    } catch (e) {
      throw new Error(`--output: cannot write to ${this.root}: ${(e as Error).message}`);
    }
  }

  /** Appends records to log.jsonl. */
  async append(...records: LogRecord[]): Promise<void> {
    await Deno.writeTextFile(this.log, records.map((r) => JSON.stringify(r) + "\n").join(""), {
      append: true,
    });
  }

  /** Reads log.jsonl (empty when absent). */
  async readLog(): Promise<LogRecord[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.log);
    } catch {
      return [];
    }
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  /** Keeps only log records up to a completed epoch (used when resuming from its checkpoint). */
  async truncateLog(epochsDone: number): Promise<void> {
    const keep = (await this.readLog()).filter((r) =>
      r.type === "error"
        ? false
        : r.type === "resume"
        ? r.epoch <= epochsDone
        : r.epoch <= epochsDone
    );
    await writeAtomic(this.log, keep.map((r) => JSON.stringify(r) + "\n").join(""));
  }
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
