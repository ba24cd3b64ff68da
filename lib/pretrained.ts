/**
 * ImageNet weights for the paper's backbones (`pretrained=True` in its code), fetched once and
 * cached: torchvision's official files for ResNet18/34/50, DenseNet121 and InceptionV3, and the
 * Cadene Xception file the paper's `xception.py` names. They are `.pth` files, read by `lib/pth/`.
 *
 * - Cache folder: `$CYBORG_CACHE_DIR`, else `$XDG_CACHE_HOME/cyborg-kit/weights`, else
 *   `~/.cache/cyborg-kit/weights`. A file already there is used (and its hash checked).
 * - `CYBORG_WEIGHTS_BASE_URL` replaces the base URL (a mirror); the file name stays official.
 * - Integrity as torch.hub's `check_hash`: the hex after the last `-` of the file name must prefix
 *   the SHA-256 of the file. torchvision checks it; Cadene's loader never did (its prefixes are not
 *   known to be SHA-256 prefixes), so the Xception file is not checked.
 * - Downloads go to a temporary `.<name>.<pid>-<random>.part` file in the cache folder, renamed
 *   once complete and checked: a refused, cut or interrupted download leaves nothing in the cache.
 *   SIGINT/SIGTERM during a download remove the temporary file before the process exits (not
 *   inside a Jupyter kernel, which handles interrupts itself); the temporary files of processes
 *   that no longer run (`kill -9`) are removed by the next download into the folder.
 * - ImageNet heads have 1000 classes: the weights load with `newHead: true` (the 2-class head
 *   stays freshly initialised), and InceptionV3 gets `transform_input` on, as torchvision sets it
 *   for these weights.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Backbone } from "./backbones/types.ts";
import { inJupyter, processAlive } from "./folder_lock.ts";
import { Progress } from "./progress.ts";
import { type LoadReport, loadWeights } from "./weights.ts";

/** One downloadable weights file. */
export interface PretrainedFile {
  /** Official URL. */
  url: string;
  /** Whether the file name's hash prefix is a SHA-256 prefix to check (torchvision: yes). */
  checkHash: boolean;
  /** Turn InceptionV3's `transform_input` on (torchvision's ImageNet weights expect it). */
  transformInput?: boolean;
}

/** ImageNet weights by network (`--pretrained imagenet`). */
export const IMAGENET_WEIGHTS: Readonly<Record<string, PretrainedFile>> = {
  resnet18: { url: "https://download.pytorch.org/models/resnet18-f37072fd.pth", checkHash: true },
  resnet34: { url: "https://download.pytorch.org/models/resnet34-b627a593.pth", checkHash: true },
  resnet50: { url: "https://download.pytorch.org/models/resnet50-0676ba61.pth", checkHash: true },
  densenet121: {
    url: "https://download.pytorch.org/models/densenet121-a639ec97.pth",
    checkHash: true,
  },
  inception_v3: {
    url: "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    checkHash: true,
    transformInput: true,
  },
  xception: {
    url: "http://data.lip6.fr/cadene/pretrainedmodels/xception-b5690688.pth",
    checkHash: false,
  },
};

/** Environment lookup (a parameter so tests can pass their own). */
export type Env = (name: string) => string | undefined;

const denoEnv: Env = (name) => Deno.env.get(name);

/** The weights cache folder (see the module notes). */
export function weightsCacheDir(env: Env = denoEnv): string {
  const own = env("CYBORG_CACHE_DIR");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/cyborg-kit/weights`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new Error("no cache folder: set CYBORG_CACHE_DIR (or HOME)");
  return `${home}/.cache/cyborg-kit/weights`;
}

/** The file name of a URL (its last path segment). */
export function fileNameOf(url: string): string {
  return new URL(url).pathname.split("/").pop()!;
}

/** torch.hub's hash prefix of a file name (`resnet18-f37072fd.pth` → `f37072fd`), or "". */
export function hashPrefixOf(fileName: string): string {
  return /-([a-f0-9]*)\./.exec(fileName)?.[1] ?? "";
}

/** The ImageNet file a path names, by its official file name (any folder), if any. */
export function pretrainedFileOf(path: string): PretrainedFile | undefined {
  const name = path.split(/[\\/]/).pop();
  return Object.values(IMAGENET_WEIGHTS).find((f) => fileNameOf(f.url) === name);
}

/** The URL to download from: the official one, or the file name under CYBORG_WEIGHTS_BASE_URL. */
export function downloadUrl(file: PretrainedFile, env: Env = denoEnv): string {
  const base = env("CYBORG_WEIGHTS_BASE_URL");
  return base ? `${base.replace(/\/+$/, "")}/${fileNameOf(file.url)}` : file.url;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

function checkDigest(digest: string, fileName: string, what: string): void {
  const prefix = hashPrefixOf(fileName);
  if (!digest.startsWith(prefix)) {
    throw new Error(
      `${what}: invalid hash value (expected "${prefix}", got "${digest}"): ` +
        "the file is damaged or not the official one",
    );
  }
}

/** A download's temporary file name: `.<name>.<pid>-<random>.part`, hidden, in the cache folder. */
function partName(name: string): string {
  return `.${name}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.part`;
}

/** The pid in a temporary file name {@linkcode partName} made (older form: `.<name>.<pid>.part`). */
const PART = /^\..+\.(\d+)(?:-[0-9a-f]{8})?\.part$/;

/** Removes the temporary files in `dir` of downloads whose process no longer runs. */
async function removeStaleParts(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const pid = PART.exec(e.name)?.[1];
    if (e.isFile && pid !== undefined && !processAlive(Number(pid))) {
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  }
}

/**
 * Removes `path` if the process ends (SIGINT, SIGTERM, `Deno.exit`) before the returned guard is
 * disposed. Signals are left alone inside a Jupyter kernel and on Windows.
 */
function removeOnExit(path: string): Disposable {
  const remove = () => {
    try {
      Deno.removeSync(path);
    } catch {
      // not there (yet, or any more)
    }
  };
  const signals = Deno.build.os === "windows" || inJupyter()
    ? []
    : ([["SIGINT", 130], ["SIGTERM", 143]] as const).map(([sig, code]) =>
      [sig, () => (remove(), Deno.exit(code))] as const
    );
  globalThis.addEventListener("unload", remove);
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  return {
    [Symbol.dispose]() {
      globalThis.removeEventListener("unload", remove);
      for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    },
  };
}

/** Options of {@linkcode fetchPretrained}. */
export interface FetchOptions {
  /** Cache folder (default {@linkcode weightsCacheDir}). */
  cacheDir?: string;
  /** Environment (default `Deno.env`). */
  env?: Env;
  /** Progress display mode (default: chosen by {@linkcode Progress}). */
  progress?: "tty" | "jupyter" | "plain" | "silent";
  /** The weights table (default {@linkcode IMAGENET_WEIGHTS}). */
  files?: Readonly<Record<string, PretrainedFile>>;
}

/**
 * Downloads `url` to `dest` through a temporary `.part` file beside it, with a progress bar;
 * with `checkHash`, the SHA-256 must start with the hash prefix of `dest`'s file name. Nothing is
 * left at `dest` (nor any temporary file, even when the process is interrupted) unless the whole
 * file arrived and passed the check.
 */
export async function downloadFile(
  url: string,
  dest: string,
  checkHash: boolean,
  progress?: FetchOptions["progress"],
): Promise<void> {
  const slash = dest.lastIndexOf("/");
  const dir = slash >= 0 ? dest.slice(0, slash) : ".";
  const name = dest.slice(slash + 1);
  const byHand = ` Download it elsewhere and put it at ${dest} (keep the name ${name}), ` +
    "or set CYBORG_WEIGHTS_BASE_URL to a mirror.";
  await Deno.mkdir(dir, { recursive: true });
  await removeStaleParts(dir);
  const tmp = `${dir}/${partName(name)}`;
  using _cleanup = removeOnExit(tmp);
  try {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new Error(`cannot download ${url} (offline?): ${(e as Error).message}.${byHand}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`cannot download ${url}: HTTP ${res.status} ${res.statusText}.${byHand}`);
    }
    const total = Number(res.headers.get("content-length") ?? 0);
    const bar = new Progress(`download ${name}`, "MB", progress);
    const hash = createHash("sha256");
    let done = 0;
    const mb = (n: number) => Math.round(n / 1e6);
    {
      using out = await Deno.open(tmp, { write: true, createNew: true });
      try {
        for await (const chunk of res.body) {
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) off += await out.write(chunk.subarray(off));
          done += chunk.length;
          await bar.update({ done: mb(done), total: mb(total) });
        }
      } catch (e) {
        throw new Error(
          `download of ${url} broke off after ${done} bytes: ${(e as Error).message}.${byHand}`,
        );
      }
    }
    if (total > 0 && done !== total) {
      throw new Error(`download of ${url} broke off after ${done} of ${total} bytes.${byHand}`);
    }
    await bar.done({ done: mb(done), total: mb(total || done) });
    if (checkHash) checkDigest(hash.digest("hex"), name, url);
    await Deno.rename(tmp, dest);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Returns the path of a network's ImageNet weights, downloading them into the cache first when
 * absent. Errors name the URL and say where to put the file by hand when the download fails.
 */
export async function fetchPretrained(network: string, opts: FetchOptions = {}): Promise<string> {
  const files = opts.files ?? IMAGENET_WEIGHTS;
  const file = files[network];
  if (!file) {
    throw new Error(
      `pretrained imagenet: no ImageNet weights for "${network}" ` +
        `(available for ${Object.keys(files).join(", ")})`,
    );
  }
  const env = opts.env ?? denoEnv;
  const name = fileNameOf(file.url);
  const dest = `${opts.cacheDir ?? weightsCacheDir(env)}/${name}`;
  if (await Deno.stat(dest).then((s) => s.isFile, () => false)) {
    if (file.checkHash) {
      checkDigest(await sha256File(dest), name, `${dest} (in the weights cache; replace it)`);
    }
    return dest;
  }
  await downloadFile(downloadUrl(file, env), dest, file.checkHash, opts.progress);
  return dest;
}

/**
 * Loads a network's ImageNet weights (downloaded on first use) with a fresh 2-class head, and
 * InceptionV3's `transform_input` on. Returns what the import did.
 */
export async function loadPretrained(
  backbone: Backbone,
  opts: FetchOptions = {},
): Promise<LoadReport> {
  const net = backbone.spec.name;
  const path = await fetchPretrained(net, opts);
  const report = await loadWeights(backbone, path, { newHead: true });
  if ((opts.files ?? IMAGENET_WEIGHTS)[net].transformInput && "transformInput" in backbone) {
    backbone.transformInput = true;
    report.transformInput = true;
  }
  return report;
}
