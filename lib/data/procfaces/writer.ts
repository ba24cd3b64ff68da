/**
 * Idempotent, interruption-safe dataset writer.
 *
 * - Content-compared writes: a file whose bytes are already on disk is not touched (its mtime
 *   stays), so a second run with the same seed changes nothing.
 * - Atomic writes: bytes go to a temporary file in a hidden sibling folder (`.<name>.tmp/`, same
 *   filesystem) and are renamed into place, so the dataset folder never holds a half-written file.
 * - Completion marker: before the first change to a dataset the writer deletes its marker
 *   (`COMPLETE.json`) and its entry points (`csvs/`, `manifest.csv`, `README.md`); the generator
 *   writes them again only after every image is in place. A reader that finds `COMPLETE.json` (or any CSV) sees a finished
 *   dataset; an interrupted run leaves neither, and the next run completes it.
 * - Stale files (from a run with other counts, leftovers) are removed after the images are written
 *   and before the entry points are.
 *
 * PNG encoding goes through sharp with fixed settings, so identical pixels give identical bytes.
 *
 * @module
 */
import sharp from "sharp";

/** File name of the completion marker at the dataset root. */
export const COMPLETE_MARKER = "COMPLETE.json";

/**
 * What a run deletes before its first change and writes again only at the end: the marker, the
 * CSVs, and the files that describe the whole dataset.
 */
export const ENTRY_POINTS: readonly string[] = [
  COMPLETE_MARKER,
  "csvs",
  "manifest.csv",
  "README.md",
];

/** Everything the generator writes at a dataset's top level. */
const GENERATED_TOP_LEVEL: readonly string[] = [...ENTRY_POINTS, "images", "masks", "heatmaps"];

/** Encodes 8-bit pixels (`channels` 1 = grayscale, 3 = RGB) as a PNG with deterministic settings. */
export async function encodePng(
  pixels: Uint8Array,
  size: number,
  channels: 1 | 3,
): Promise<Uint8Array> {
  if (pixels.length !== size * size * channels) {
    throw new Error(
      `encodePng: expected ${
        size * size * channels
      } bytes for ${size}x${size}x${channels}, got ${pixels.length}`,
    );
  }
  let img = sharp(pixels, { raw: { width: size, height: size, channels } });
  // Without an explicit colourspace sharp writes one-channel input as an RGB PNG.
  if (channels === 1) img = img.toColourspace("b-w");
  const buf = await img
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Decodes a PNG into 8-bit pixels with the requested channel count. */
export async function decodePng(
  bytes: Uint8Array,
  channels: 1 | 3,
): Promise<{ size: number; pixels: Uint8Array }> {
  let img = sharp(bytes).removeAlpha();
  img = channels === 1 ? img.toColourspace("b-w") : img.toColourspace("srgb");
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== info.height) {
    throw new Error(`decodePng: image is ${info.width}x${info.height}, expected square`);
  }
  if (info.channels !== channels) {
    throw new Error(`decodePng: got ${info.channels} channels, expected ${channels}`);
  }
  return {
    size: info.width,
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** A fast 64-bit content hash (two FNV-1a lanes) as 16 hex digits; not cryptographic. */
export function contentHash(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i], 0x01000193);
    h2 = Math.imul(h2 ^ bytes[i], 0x5bd1e995) ^ (h2 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, "0") + (h2 >>> 0).toString(16).padStart(8, "0");
}

/** Digest of a set of files from their content hashes (order-independent). */
export function digestOf(hashes: ReadonlyMap<string, string>): string {
  const lines = [...hashes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, h]) => `${p}\t${h}`).join("\n");
  return contentHash(new TextEncoder().encode(lines));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : p.slice(0, i);
}

function basename(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return p.replace(/\/+$/, "").slice(i + 1);
}

/** Counters of a writer. */
export interface WriteStats {
  /** Files created or replaced. */
  written: number;
  /** Files already identical on disk. */
  unchanged: number;
  /** Stale files removed. */
  removed: number;
}

/** Writes one dataset folder; see the module doc for the guarantees. */
export class DatasetWriter {
  /** The dataset folder. */
  readonly root: string;
  /** The hidden temporary sibling folder. */
  readonly tmpDir: string;
  /** Counters. */
  readonly stats: WriteStats = { written: 0, unchanged: 0, removed: 0 };
  readonly #expected = new Set<string>();
  readonly #hashes = new Map<string, string>();
  readonly #dirs = new Set<string>();
  #invalidated = false;
  #tmpCounter = 0;
  /** Test hook: called before each real write with the running count of writes. */
  beforeWrite?: (count: number) => void;

  /** A writer for dataset folder `root` (created on demand). */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "");
    this.tmpDir = `${dirname(this.root)}/.${basename(this.root)}.tmp`;
  }

  /**
   * Refuses a root holding anything the generator does not write at its top level (the writer
   * replaces and removes files there: a user's folder is not its to change), then removes
   * leftovers of an interrupted run from the temporary folder. Call once before writing.
   */
  async begin(): Promise<void> {
    const foreign: string[] = [];
    try {
      for await (const e of Deno.readDir(this.root)) {
        if (!GENERATED_TOP_LEVEL.includes(e.name)) foreign.push(e.name);
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotADirectory) {
        throw new Error(`--out: ${this.root} is a file, not a dataset folder`);
      }
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (foreign.length) {
      throw new Error(
        `--out: refusing to write the dataset into ${this.root}: it holds ${
          foreign.slice(0, 3).join(", ")
        }${foreign.length > 3 ? ", ..." : ""}, which the generator did not make (it replaces ` +
          "and removes files there). Choose another --out.",
      );
    }
    await Deno.remove(this.tmpDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** True once this run changed something in the dataset. */
  get changed(): boolean {
    return this.#invalidated;
  }

  async #mkdir(dir: string): Promise<void> {
    if (this.#dirs.has(dir)) return;
    await Deno.mkdir(dir, { recursive: true });
    this.#dirs.add(dir);
  }

  /** Deletes the {@linkcode ENTRY_POINTS} (once), before the first change. */
  async #invalidate(): Promise<void> {
    if (this.#invalidated) return;
    this.#invalidated = true;
    for (const p of ENTRY_POINTS) {
      await Deno.remove(`${this.root}/${p}`, { recursive: true }).catch(() => {});
    }
  }

  /** Declares `rel` part of the dataset without writing it yet (so `removeStale` keeps it). */
  expect(rel: string): void {
    this.#expected.add(rel);
  }

  /** Writes `bytes` to `rel` (relative to the root) unless identical bytes are already there. */
  async put(rel: string, bytes: Uint8Array): Promise<void> {
    if (rel.startsWith("/") || rel.split("/").includes("..")) {
      throw new Error(`DatasetWriter.put: bad path "${rel}"`);
    }
    this.#expected.add(rel);
    if (rel !== COMPLETE_MARKER) this.#hashes.set(rel, contentHash(bytes));
    const path = `${this.root}/${rel}`;
    try {
      const old = await Deno.readFile(path);
      if (equalBytes(old, bytes)) {
        this.stats.unchanged++;
        return;
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    // A changed image invalidates the dataset; a changed entry point is just replaced (they are
    // written last, after every image is in place).
    if (!ENTRY_POINTS.some((p) => rel === p || rel.startsWith(`${p}/`))) await this.#invalidate();
    this.beforeWrite?.(this.stats.written);
    await this.#mkdir(this.tmpDir);
    await this.#mkdir(dirname(path));
    const tmp = `${this.tmpDir}/${this.#tmpCounter++}.tmp`;
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
    this.stats.written++;
  }

  /** Removes files under the root that this run did not put (and then-empty folders). */
  async removeStale(): Promise<void> {
    const walk = async (dir: string, rel: string): Promise<boolean> => {
      let empty = true;
      for await (const ent of Deno.readDir(dir)) {
        const r = rel ? `${rel}/${ent.name}` : ent.name;
        const p = `${dir}/${ent.name}`;
        if (ent.isDirectory) {
          if (await walk(p, r)) {
            await Deno.remove(p);
          } else empty = false;
        } else if (this.#expected.has(r)) {
          empty = false;
        } else {
          await this.#invalidate();
          await Deno.remove(p);
          this.stats.removed++;
        }
      }
      return empty;
    };
    try {
      await walk(this.root, "");
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** Digest of every file put so far except the marker (see {@linkcode digestOf}). */
  digest(): string {
    return digestOf(this.#hashes);
  }

  /**
   * True when the folder holds exactly `paths` plus the marker and their contents match `digest`
   * (every file is read and hashed). Used to skip re-rendering a dataset that is up to date.
   */
  async verify(paths: readonly string[], digest: string): Promise<boolean> {
    const want = new Set(paths);
    const found = new Map<string, string>();
    const walk = async (dir: string, rel: string): Promise<boolean> => {
      for await (const ent of Deno.readDir(dir)) {
        const r = rel ? `${rel}/${ent.name}` : ent.name;
        if (ent.isDirectory) {
          if (!(await walk(`${dir}/${ent.name}`, r))) return false;
        } else if (r === COMPLETE_MARKER) continue;
        else if (!want.has(r)) return false;
        else found.set(r, contentHash(await Deno.readFile(`${dir}/${ent.name}`)));
      }
      return true;
    };
    try {
      if (!(await walk(this.root, ""))) return false;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
    return found.size === want.size && digestOf(found) === digest;
  }

  /** Removes the temporary folder. */
  async end(): Promise<void> {
    await this.begin();
  }
}
