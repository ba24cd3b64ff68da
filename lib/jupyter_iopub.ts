/**
 * Waiting, from a notebook cell, until Deno's Jupyter kernel has published the cell's outputs.
 *
 * In `deno jupyter` a cell's code runs on one thread and the kernel's sockets are served by
 * another. `Deno.jupyter.display` / `broadcast`, `console.log` and the cell's execute_result go
 * into a queue that the kernel thread drains one message at a time, stamping each message with the
 * parent header of the request it is handling *when it takes the message off the queue*. The same
 * thread replies to the request and publishes `status: idle` without waiting for that queue, then
 * starts the next queued request. When the queue lags (a multi-megabyte message such as plotly.js,
 * several IOPub subscribers, a slow reader), a cell's outputs go out after its idle, stamped with a
 * later request: under "Run All" a frontend shows them under a later cell, or drops them.
 *
 * {@linkcode flushIopub} closes that gap from the cell's side. It subscribes to the kernel's IOPub
 * socket itself (ZMTP 3.0 SUB, the address from the kernel's connection file), publishes a marker
 * and waits until the marker comes back. The queue is first in, first out, and each message is
 * written to every subscriber in turn (ours joins after the frontends) before the next one is
 * taken, so when the marker arrives everything queued before it has been written to every frontend,
 * stamped with the running cell. The marker is an `update_display_data` for a display id that no
 * output has: frontends (classic notebook, JupyterLab, VS Code, nbclient) ignore it.
 *
 * The subscriber stays connected for the kernel session and reads in the background (an unread
 * subscriber would stall the kernel's publishing). Outside the Deno kernel, or when the connection
 * file cannot be found (it is read from the kernel's command line, `/proc/self/cmdline` or `ps`),
 * {@linkcode flushIopub} returns false at once.
 *
 * @module
 */

const ENC = new TextEncoder();
const DEC = new TextDecoder();
const DELIMITER = "<IDS|MSG>";
/** Display ids of flush markers start with this. */
export const FLUSH_MARKER_PREFIX = "cyborg-iopub-flush-";

interface JupyterBroadcast {
  broadcast(
    type: string,
    content: Record<string, unknown>,
    extra?: { metadata?: Record<string, unknown> },
  ): Promise<void>;
}

function jupyter(): JupyterBroadcast | undefined {
  try {
    const ns = (Deno as unknown as { jupyter?: JupyterBroadcast }).jupyter;
    return ns && typeof ns.broadcast === "function" ? ns : undefined;
  } catch {
    return undefined;
  }
}

/** The kernel's connection file: the value of `--conn` in the process's command line. */
export function connectionFileFromArgs(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--conn" && args[i + 1]) return args[i + 1];
    if (args[i].startsWith("--conn=")) return args[i].slice("--conn=".length);
  }
  return undefined;
}

function processArgs(): string[] | undefined {
  try {
    return Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch { /* no procfs */ }
  try {
    const out = new Deno.Command("ps", {
      args: ["-ww", "-o", "args=", "-p", String(Deno.pid)],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (out.success) return DEC.decode(out.stdout).trim().split(/\s+/);
  } catch { /* no ps */ }
  return undefined;
}

/** Reads exact byte counts from a connection, buffering small reads. */
class Reader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(65536);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async exact(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      if (this.#start === this.#end) {
        if (n - off >= this.#buf.length) {
          const got = await this.#conn.read(out.subarray(off));
          if (got === null) throw new Error("IOPub connection closed");
          off += got;
          continue;
        }
        const got = await this.#conn.read(this.#buf);
        if (got === null) throw new Error("IOPub connection closed");
        this.#start = 0;
        this.#end = got;
      }
      const take = Math.min(n - off, this.#end - this.#start);
      out.set(this.#buf.subarray(this.#start, this.#start + take), off);
      this.#start += take;
      off += take;
    }
    return out;
  }

  /** One ZMTP frame. */
  async frame(): Promise<{ data: Uint8Array; more: boolean; command: boolean }> {
    const flag = (await this.exact(1))[0];
    let size: number;
    if (flag & 0x02) {
      const b = await this.exact(8);
      const view = new DataView(b.buffer);
      size = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    } else {
      size = (await this.exact(1))[0];
    }
    return {
      data: await this.exact(size),
      more: (flag & 0x01) !== 0,
      command: (flag & 0x04) !== 0,
    };
  }

  /** One multipart message (commands are skipped). */
  async message(): Promise<Uint8Array[]> {
    const frames: Uint8Array[] = [];
    while (true) {
      const f = await this.frame();
      if (f.command) continue;
      frames.push(f.data);
      if (!f.more) return frames;
    }
  }
}

function frame(data: Uint8Array, more: boolean, command = false): Uint8Array {
  const long = data.length > 255;
  const head = long ? 9 : 2;
  const out = new Uint8Array(head + data.length);
  out[0] = (more ? 0x01 : 0) | (long ? 0x02 : 0) | (command ? 0x04 : 0);
  if (long) new DataView(out.buffer).setUint32(5, data.length);
  else out[1] = data.length;
  out.set(data, head);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** The 64-byte ZMTP 3.0 greeting, NULL mechanism, not as server. */
function greeting(): Uint8Array {
  const g = new Uint8Array(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g.set(ENC.encode("NULL"), 12);
  return g;
}

function readyCommand(socketType: string): Uint8Array {
  const name = ENC.encode("READY");
  const prop = ENC.encode("Socket-Type");
  const value = ENC.encode(socketType);
  const body = new Uint8Array(1 + name.length + 1 + prop.length + 4 + value.length);
  let o = 0;
  body[o++] = name.length;
  body.set(name, o);
  o += name.length;
  body[o++] = prop.length;
  body.set(prop, o);
  o += prop.length;
  new DataView(body.buffer).setUint32(o, value.length);
  o += 4;
  body.set(value, o);
  return frame(body, false, true);
}

/** The flush marker's display id in a raw IOPub message, if it is one. */
export function markerOf(frames: readonly Uint8Array[]): string | undefined {
  const delim = frames.findIndex((f) =>
    f.length === DELIMITER.length && DEC.decode(f) === DELIMITER
  );
  if (delim < 0) return undefined;
  const content = frames[delim + 5];
  if (!content || content.length > 1024) return undefined;
  const text = DEC.decode(content);
  if (!text.includes(FLUSH_MARKER_PREFIX)) return undefined;
  try {
    const id = JSON.parse(text)?.transient?.display_id;
    return typeof id === "string" && id.startsWith(FLUSH_MARKER_PREFIX) ? id : undefined;
  } catch {
    return undefined;
  }
}

class Subscriber {
  #waiters = new Map<string, () => void>();
  #closed = false;

  constructor(reader: Reader) {
    (async () => {
      try {
        while (true) {
          const id = markerOf(await reader.message());
          if (id) {
            this.#waiters.get(id)?.();
            this.#waiters.delete(id);
          }
        }
      } catch { /* connection closed: flushes stop waiting */ }
      this.#closed = true;
      for (const resolve of this.#waiters.values()) resolve();
      this.#waiters.clear();
    })();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Publishes a marker and resolves when it comes back (or the connection closes). */
  publish(api: JupyterBroadcast): { id: string; echoed: Promise<void> } {
    const id = FLUSH_MARKER_PREFIX + crypto.randomUUID();
    const echoed = new Promise<void>((resolve) => {
      if (this.#closed) resolve();
      else this.#waiters.set(id, resolve);
    });
    try {
      // Synchronous in Deno 2.9 (declared as returning a promise): the message is queued.
      void Promise.resolve(
        api.broadcast("update_display_data", {
          data: {},
          metadata: {},
          transient: { display_id: id },
        }),
      ).catch(() => {});
    } catch {
      this.#waiters.delete(id);
      return { id, echoed: Promise.resolve() };
    }
    return { id, echoed };
  }

  forget(id: string): void {
    this.#waiters.delete(id);
  }
}

/** Resolves true when `p` settles within `ms`, false after `ms` (the timer is cleared). */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let subscriber: Promise<Subscriber | undefined> | undefined;

/** Registration: markers every 200 ms until one comes back (the kernel adds a subscriber async). */
async function subscribe(
  api: JupyterBroadcast,
  timeoutMs: number,
): Promise<Subscriber | undefined> {
  const args = processArgs();
  const file = args && connectionFileFromArgs(args);
  if (!file) return undefined;
  let info: { ip?: string; iopub_port?: number; transport?: string };
  try {
    info = JSON.parse(await Deno.readTextFile(file));
  } catch {
    return undefined;
  }
  if (!info.iopub_port || (info.transport && info.transport !== "tcp")) return undefined;
  let conn: Deno.Conn | undefined;
  let sub: Subscriber;
  try {
    conn = await Deno.connect({ hostname: info.ip || "127.0.0.1", port: info.iopub_port });
    await writeAll(conn, greeting());
    const reader = new Reader(conn);
    await reader.exact(64);
    await writeAll(conn, readyCommand("SUB"));
    const ready = await reader.frame();
    if (!ready.command) throw new Error("no READY from the kernel's IOPub socket");
    await writeAll(conn, frame(new Uint8Array([1]), false)); // subscribe to everything
    sub = new Subscriber(reader);
  } catch {
    try {
      conn?.close();
    } catch { /* already closed */ }
    return undefined;
  }
  const deadline = performance.now() + timeoutMs;
  const pending: string[] = [];
  try {
    while (performance.now() < deadline && !sub.closed) {
      const probe = sub.publish(api);
      pending.push(probe.id);
      if (await within(probe.echoed, 200)) {
        return sub.closed ? undefined : sub;
      }
    }
  } finally {
    for (const id of pending) sub.forget(id);
  }
  try {
    conn.close();
  } catch { /* already closed */ }
  return undefined;
}

/** Options of {@linkcode flushIopub}. */
export interface FlushOptions {
  /** Give up waiting after this many milliseconds (default 120 000). */
  timeoutMs?: number;
}

/**
 * Waits until the kernel has published every output this cell produced so far: afterwards they
 * are on the wire to every frontend, before the cell's `status: idle` and stamped with the cell's
 * request. Returns false (without waiting) outside the Deno kernel or when the kernel's IOPub
 * socket cannot be reached, and false after `timeoutMs` without an answer.
 */
export async function flushIopub(options: FlushOptions = {}): Promise<boolean> {
  const api = jupyter();
  if (!api) return false;
  const timeoutMs = options.timeoutMs ?? 120_000;
  subscriber ??= subscribe(api, timeoutMs);
  let sub = await subscriber;
  if (sub?.closed) {
    subscriber = subscribe(api, timeoutMs);
    sub = await subscriber;
  }
  if (!sub) return false;
  const marker = sub.publish(api);
  if (!(await within(marker.echoed, timeoutMs))) {
    sub.forget(marker.id);
    return false;
  }
  return !sub.closed;
}
