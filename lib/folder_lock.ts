/**
 * An exclusive lock on a folder the kit writes (a run folder, an experiment folder): the file
 * `<folder>/.lock`, created atomically (`createNew`), holding the owner's pid, host and start
 * time. A second writer fails with a message naming the holder. A lock whose owner is gone (same
 * host, pid no longer running) is stale and taken over. The lock file is removed on release, on
 * error (callers hold it with `await using`), on `Deno.exit` and on SIGINT/SIGTERM (not inside a
 * Jupyter kernel, which handles interrupts itself); after a `kill -9` it stays behind and is
 * detected as stale by the next writer.
 *
 * Within one process the lock is re-entrant (an experiment that trains its runs in-process holds
 * its own folder's lock while each run takes its own).
 *
 * @module
 */

/** The lock file's name inside the locked folder. */
export const LOCK_FILE = ".lock";

/** What a lock file holds. */
export interface LockInfo {
  /** Owner's process id. */
  pid: number;
  /** Owner's host name. */
  host: string;
  /** When it was taken (ISO 8601). */
  since: string;
}

/** A held lock; release it once (or hold it with `await using`). */
export interface FolderLock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock (removes the file when the last in-process holder releases it). */
  release(): Promise<void>;
}

const held = new Map<string, number>();
let signalsOn = false;

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/** True unless `pid` is known not to run on this machine (Linux `/proc`; elsewhere: assumed alive). */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return true;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 3 is the state; Z (zombie) and X (dead) no longer run.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function removeHeldSync(): void {
  for (const path of held.keys()) {
    try {
      const info = JSON.parse(Deno.readTextFileSync(path)) as LockInfo;
      if (info.pid === Deno.pid) Deno.removeSync(path);
    } catch {
      // already gone
    }
  }
  held.clear();
}

function onSignal(signal: "SIGINT" | "SIGTERM"): () => void {
  return () => {
    removeHeldSync();
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  };
}
const sigint = onSignal("SIGINT");
const sigterm = onSignal("SIGTERM");

/** True inside a Jupyter kernel (`deno jupyter`), which handles interrupts itself. */
export function inJupyter(): boolean {
  try {
    return Boolean((Deno as unknown as { jupyter?: unknown }).jupyter);
  } catch {
    return false; // the getter throws outside the kernel
  }
}

function setSignals(on: boolean): void {
  if (on === signalsOn || Deno.build.os === "windows" || inJupyter()) return;
  signalsOn = on;
  for (const [sig, fn] of [["SIGINT", sigint], ["SIGTERM", sigterm]] as const) {
    if (on) Deno.addSignalListener(sig, fn);
    else Deno.removeSignalListener(sig, fn);
  }
}

globalThis.addEventListener("unload", removeHeldSync);

async function readInfo(path: string): Promise<LockInfo | undefined> {
  // The owner writes its info right after creating the file: give it a moment.
  for (let i = 0; i < 20; i++) {
    try {
      const info = JSON.parse(await Deno.readTextFile(path)) as LockInfo;
      if (Number.isInteger(info.pid) && typeof info.host === "string") return info;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { pid: -1, host: "unknown", since: "unknown (unreadable lock file)" };
}

/**
 * Takes the lock of `dir` (which must exist). `what` names the folder in the error, e.g.
 * `run folder`. Throws when another live process holds it.
 */
export async function lockFolder(dir: string, what: string): Promise<FolderLock> {
  const path = `${await Deno.realPath(dir)}/${LOCK_FILE}`;
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return handle(path);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    // Created and written in one synchronous call, then registered in the same turn: no exit
    // (Deno.exit, a signal handler) can fall between the file's creation and its registration.
    const info: LockInfo = { pid: Deno.pid, host: hostName(), since: new Date().toISOString() };
    try {
      Deno.writeTextFileSync(path, JSON.stringify(info) + "\n", { createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        // Created but not written (a full disk): the empty file is this call's.
        try {
          if (Deno.readTextFileSync(path).trim() === "") Deno.removeSync(path);
        } catch {
          // not created
        }
        throw new Error(`${what} ${dir}: cannot create the lock file: ${(e as Error).message}`);
      }
      const owner = await readInfo(path);
      if (!owner) continue; // released meanwhile
      if (owner.host === hostName() && owner.pid > 0 && !processAlive(owner.pid)) {
        // Stale: its owner is gone. Remove it only if it is still the same file.
        const again = await readInfo(path);
        if (again && again.pid === owner.pid && again.since === owner.since) {
          await Deno.remove(path).catch(() => {});
        }
        continue;
      }
      throw new Error(
        `${what} ${dir} is in use by another process (pid ${owner.pid} on ${owner.host}, since ` +
          `${owner.since}); wait for it to finish, or remove ${path} if that process is gone`,
      );
    }
    held.set(path, 1);
    setSignals(true);
    return handle(path);
  }
  throw new Error(`${what} ${dir}: could not take the lock ${path} (it keeps changing hands)`);
}

function handle(path: string): FolderLock {
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    const count = held.get(path) ?? 0;
    if (count > 1) {
      held.set(path, count - 1);
      return;
    }
    held.delete(path);
    if (held.size === 0) setSignals(false);
    await Deno.remove(path).catch(() => {});
  };
  return { path, release, [Symbol.asyncDispose]: release };
}
