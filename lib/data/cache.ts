/**
 * On-disk cache of decoded, resized uint8 pixels, so every image is decoded once per target size
 * rather than once per epoch.
 *
 * An entry is keyed by (absolute source path, source mtime, source byte size, variant), where the
 * variant names the target (e.g. `rgb:224` for an input image, `L:7` for a map) and the key also
 * carries {@linkcode PIPELINE_VERSION}, so editing a source file, or changing the preprocessing,
 * misses the old entry. Entries live at `<dir>/<h0h1>/<sha256 of the key>.px`:
 *
 * ```
 * "CYBORGPX" (8 bytes) | payload length (u32 LE) | FNV-1a 32 of payload (u32 LE) | payload
 * ```
 *
 * A short, mislabelled or corrupt file counts as a miss (and is rewritten). Writes go to a
 * temporary file in the same folder and are renamed into place, so readers (other processes
 * included) never see half an entry.
 *
 * @module
 */
import { isAbsolute } from "node:path";

/** Bump when decoding or resizing changes, so old entries stop matching. */
export const PIPELINE_VERSION = 1;

/** The default cache folder (relative to the working directory; gitignored). */
export const DEFAULT_CACHE_DIR = "data/.cache";

const MAGIC = new TextEncoder().encode("CYBORGPX");
const HEADER = MAGIC.length + 8;

function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** What identifies a cached entry. */
export interface CacheKey {
  /** Absolute path of the source file. */
  path: string;
  /** Source modification time, ms since the epoch. */
  mtimeMs: number;
  /** Source size in bytes. */
  size: number;
  /** What was made from the source, e.g. `rgb:224` or `L:7`. */
  variant: string;
}

/** Hit and miss counters of one {@linkcode PixelCache}. */
export interface CacheStats {
  /** Entries served from disk. */
  hits: number;
  /** Entries computed (and written). */
  misses: number;
}

let tmpCounter = 0;

/** A folder of cached pixel arrays; see the module doc for the layout. */
export class PixelCache {
  /** The cache folder. */
  readonly dir: string;
  /** Counters since construction. */
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  /** Uses (and creates on first write) the folder `dir`. */
  constructor(dir: string) {
    if (typeof dir !== "string" || dir === "") throw new Error("cacheDir: must be a folder path");
    this.dir = dir;
  }

  /** The entry file of a key. */
  async entryPath(key: CacheKey): Promise<string> {
    if (!isAbsolute(key.path)) throw new Error(`cache: key path must be absolute: ${key.path}`);
    const text = JSON.stringify([PIPELINE_VERSION, key.path, key.mtimeMs, key.size, key.variant]);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
    );
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${this.dir}/${hex.slice(0, 2)}/${hex}.px`;
  }

  /** The cached payload of `key`, or undefined when absent or unreadable. */
  async get(key: CacheKey): Promise<Uint8Array | undefined> {
    const file = await this.entryPath(key);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch {
      return undefined;
    }
    if (bytes.length < HEADER) return undefined;
    for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return undefined;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const len = dv.getUint32(MAGIC.length, true);
    if (bytes.length !== HEADER + len) return undefined;
    const payload = bytes.subarray(HEADER);
    if (fnv1a(payload) !== dv.getUint32(MAGIC.length + 4, true)) return undefined;
    return payload;
  }

  /** Stores `payload` under `key` atomically (temporary file, then rename). */
  async put(key: CacheKey, payload: Uint8Array): Promise<void> {
    const file = await this.entryPath(key);
    const folder = file.slice(0, file.lastIndexOf("/"));
    const bytes = new Uint8Array(HEADER + payload.length);
    bytes.set(MAGIC, 0);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(MAGIC.length, payload.length, true);
    dv.setUint32(MAGIC.length + 4, fnv1a(payload), true);
    bytes.set(payload, HEADER);
    const tmp = `${file}.${Deno.pid}.${tmpCounter++}.tmp`;
    try {
      await Deno.mkdir(folder, { recursive: true });
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, file);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw new Error(`cacheDir: cannot write ${file}: ${(e as Error).message}`);
    }
  }

  /**
   * The pixels of `variant` made from the file at absolute `path`: from the cache when an entry
   * matches the file's current mtime and size, else `compute()`d and stored. `compute` must return
   * `expectedLength` bytes; a cached entry of another length is treated as a miss.
   */
  async getOrCompute(
    path: string,
    variant: string,
    expectedLength: number,
    compute: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as Error).message}`);
    }
    const key: CacheKey = { path, mtimeMs: st.mtime?.getTime() ?? 0, size: st.size, variant };
    const hit = await this.get(key);
    if (hit && hit.length === expectedLength) {
      this.stats.hits++;
      return hit;
    }
    const data = await compute();
    if (data.length !== expectedLength) {
      throw new Error(
        `cache: ${path} (${variant}) produced ${data.length} bytes, expected ${expectedLength}`,
      );
    }
    this.stats.misses++;
    await this.put(key, data);
    return data;
  }
}
