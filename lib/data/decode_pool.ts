/**
 * A small pool of workers that decode and resize images (lib/data/decode_worker.ts), so the main
 * thread, which runs the training step, only normalises pixels. Without it, sharp's decode runs on
 * libuv threads but the Pillow resize (a few ms per image) and the async glue between decode steps
 * run on the main thread, and so stall while a synchronous (cpu backend) training step runs.
 *
 * Workers start on first use and are terminated after `idleMs` without work (an idle worker would
 * otherwise keep the process alive), so forgetting {@linkcode DecodePool.close} costs at most
 * `idleMs` at exit; `close()` ends them at once. A worker that crashes fails its pending jobs and
 * is replaced on the next job.
 *
 * @module
 */
import type { DecodeReply, DecodeRequest } from "./decode_worker.ts";

interface Pending {
  resolve(data: Uint8Array): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Decode/resize workers; see the module doc. */
export class DecodePool {
  /** Number of workers. */
  readonly size: number;
  /** Idle time after which workers are terminated. */
  readonly idleMs: number;
  #slots: (Slot | undefined)[];
  #nextId = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** A pool of `size` workers (started lazily). */
  constructor(size: number, idleMs = 2000) {
    if (!Number.isInteger(size) || size < 1) {
      throw new Error(`workers: must be a positive integer (got ${size})`);
    }
    this.size = size;
    this.idleMs = idleMs;
    this.#slots = new Array(size).fill(undefined);
  }

  /** `loadImageRgb(path, size)` in a worker. */
  loadRgb(path: string, size: number): Promise<Uint8Array> {
    return this.#run({ kind: "rgb", path, size });
  }

  /** `loadMapGray(path, grid)` in a worker. */
  loadMap(path: string, grid: number): Promise<Uint8Array> {
    return this.#run({ kind: "map", path, size: grid });
  }

  /** Jobs in flight. */
  get busy(): number {
    return this.#slots.reduce((n, s) => n + (s?.pending.size ?? 0), 0);
  }

  /** Workers currently started. */
  get running(): number {
    return this.#slots.filter((s) => s !== undefined).length;
  }

  /** Terminates the workers now; pending jobs fail. The pool cannot be used afterwards. */
  close(): void {
    this.#closed = true;
    this.#stopAll(new Error("decode pool closed"));
  }

  #run(job: Omit<DecodeRequest, "id">): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error("decode pool closed"));
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    // The least busy slot (starting a worker there if none runs).
    let best = 0;
    for (let i = 1; i < this.size; i++) {
      if ((this.#slots[i]?.pending.size ?? 0) < (this.#slots[best]?.pending.size ?? 0)) best = i;
    }
    const slot = this.#slots[best] ?? this.#start(best);
    const id = this.#nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...job, id } satisfies DecodeRequest);
    });
  }

  #start(i: number): Slot {
    const worker = new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" });
    const slot: Slot = { worker, pending: new Map() };
    worker.onmessage = (e: MessageEvent<DecodeReply>) => {
      const reply = e.data;
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ("error" in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.data);
      this.#maybeIdle();
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#stop(i, new Error(`decode worker crashed: ${e.message}`));
      this.#maybeIdle();
    };
    this.#slots[i] = slot;
    return slot;
  }

  #stop(i: number, reason: Error): void {
    const slot = this.#slots[i];
    if (!slot) return;
    this.#slots[i] = undefined;
    slot.worker.terminate();
    for (const p of slot.pending.values()) p.reject(reason);
    slot.pending.clear();
  }

  #stopAll(reason: Error): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    for (let i = 0; i < this.size; i++) this.#stop(i, reason);
  }

  #maybeIdle(): void {
    if (this.busy > 0 || this.#idleTimer !== undefined) return;
    if (this.#slots.every((s) => s === undefined)) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.busy === 0) this.#stopAll(new Error("idle"));
    }, this.idleMs);
  }
}
