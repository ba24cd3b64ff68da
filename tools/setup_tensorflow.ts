/**
 * `deno task setup:tensorflow [--gpu] [--dir <folder>]`: installs the optional native TensorFlow
 * backend (`--backend tensorflow`), `@tensorflow/tfjs-node` (or `@tensorflow/tfjs-node-gpu` with
 * `--gpu`) at the version that matches the kit's tfjs, with its npm install script allowed (it
 * downloads libtensorflow 2.9.1 and the `tfjs_binding` addon from storage.googleapis.com).
 *
 * The package goes into its own folder, `<dir>/cpu` or `<dir>/gpu` (default dir: `.tensorflow/` in
 * the kit's folder, or `CYBORG_TENSORFLOW_DIR`), with its own `deno.json`, `deno.lock` and
 * `node_modules`; `lib/backend.ts` finds it there. The kit's `deno.json` and `deno.lock` stay
 * byte-identical, whether the install succeeds or fails. On failure the new folder is removed and
 * an earlier install, if any, is put back.
 *
 * `TFJS_NODE_CDN_STORAGE` (read by the package's install script) points the download at a mirror
 * of storage.googleapis.com.
 *
 * @module
 */
import { exists } from "../lib/run_dir.ts";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { TENSORFLOW_VERSION, tensorflowInstallDir, tensorflowVariant } from "../lib/backend.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const DEFAULT_HOST = "storage.googleapis.com";

/** What one install attempt asks for. */
export interface SetupOptions {
  /** Install `@tensorflow/tfjs-node-gpu` instead of `@tensorflow/tfjs-node`. */
  gpu: boolean;
  /** Install folder (the package goes to `<dir>/gpu` or `<dir>/cpu`). */
  dir: string;
  /** The kit's folder, whose `deno.json` and `deno.lock` must not change. */
  root?: string;
  /** The installer command (default: this `deno install` with the install script allowed). */
  installer?: (cwd: string, pkg: string) => Promise<{ code: number; output: string }>;
  /** The host the install script downloads from (default from `TFJS_NODE_CDN_STORAGE`). */
  host?: string;
  /** Operating system and architecture (default: this machine's). */
  platform?: { os: string; arch: string };
}

/** The outcome of {@linkcode setupTensorflow}. */
export interface SetupResult {
  ok: boolean;
  /** The package specifier, e.g. `npm:@tensorflow/tfjs-node@4.22.0`. */
  spec: string;
  /** Where it is (or would have been) installed. */
  target: string;
  /** One paragraph for the user. */
  message: string;
}

/** The host named by a `TFJS_NODE_CDN_STORAGE`-style URL, else storage.googleapis.com. */
export function downloadHost(cdn = Deno.env.get("TFJS_NODE_CDN_STORAGE")): string {
  if (!cdn) return DEFAULT_HOST;
  try {
    return new URL(cdn).host;
  } catch {
    return cdn;
  }
}

/** The last error line of the installer's output (e.g. `getaddrinfo ENOTFOUND <host>`). */
export function installError(output: string): string {
  // deno-lint-ignore no-control-regex
  const lines = output.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim());
  const uncaught = lines.filter((l) => /^error: Uncaught /.test(l)).pop();
  if (uncaught) return uncaught.replace(/^error: Uncaught (\(in promise\) )?/, "");
  const err = lines.filter((l) => /^error: /.test(l)).pop();
  return err ? err.replace(/^error: /, "") : "no error message";
}

/** What the user's machine needs for the package (the text of the failure message). */
export function requirements(gpu: boolean, host: string): string[] {
  return [
    `HTTPS access to ${host} (libtensorflow 2.9.1 and the tfjs_binding addon), or ` +
    "TFJS_NODE_CDN_STORAGE set to a mirror of it",
    ...(gpu
      ? ["Linux x86_64 with an NVIDIA GPU and driver, CUDA 11.2 and cuDNN 8.1"]
      : ["Linux (x86_64 or arm64), macOS or Windows"]),
  ];
}

async function denoInstall(cwd: string, pkg: string): Promise<{ code: number; output: string }> {
  const spec = `npm:${pkg}@${TENSORFLOW_VERSION}`;
  const out = await new Deno.Command(Deno.execPath(), {
    cwd,
    args: [
      "install",
      "--config",
      `${cwd}/deno.json`,
      "--node-modules-dir=auto",
      `--allow-scripts=${spec}`,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function same(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The addon the install script leaves when it succeeds (`lib/napi-v*\/tfjs_binding.node`). */
async function hasBinding(pkgDir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(`${pkgDir}/lib`)) {
      if (
        e.name.startsWith("napi-v") && await exists(`${pkgDir}/lib/${e.name}/tfjs_binding.node`)
      ) {
        return true;
      }
    }
  } catch { /* no lib/ */ }
  return false;
}

/** Installs the native backend; never throws for a failed install (see `ok`). */
export async function setupTensorflow(opts: SetupOptions): Promise<SetupResult> {
  const root = opts.root ?? ROOT;
  const pkg = opts.gpu ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  const spec = `npm:${pkg}@${TENSORFLOW_VERSION}`;
  const target = `${opts.dir}/${tensorflowVariant(pkg)}`;
  const host = opts.host ?? downloadHost();
  const platform = opts.platform ?? { os: Deno.build.os, arch: Deno.build.arch };
  const needs = () => requirements(opts.gpu, host).map((r) => `\n  - ${r}`).join("");

  if (opts.gpu && (platform.os !== "linux" || platform.arch !== "x86_64")) {
    return {
      ok: false,
      spec,
      target,
      message: `setup:tensorflow: ${spec} is built for Linux x86_64 only (this is ` +
        `${platform.os} ${platform.arch}); run without --gpu for the CPU build. It needs:` +
        needs() + "\nNothing was installed.",
    };
  }

  const files = [`${root}/deno.json`, `${root}/deno.lock`];
  const before = await Promise.all(files.map(readOrNull));
  const previous = `${target}.previous-${Deno.pid}`;
  const hadPrevious = await exists(target);
  const madeDir = !(await exists(opts.dir));
  await Deno.mkdir(opts.dir, { recursive: true });
  if (hadPrevious) await Deno.rename(target, previous);

  let ok = false;
  let reason = "";
  try {
    await Deno.mkdir(target);
    await Deno.writeTextFile(
      `${target}/deno.json`,
      JSON.stringify({ nodeModulesDir: "auto", imports: { [pkg]: spec } }, null, 2) + "\n",
    );
    const res = await (opts.installer ?? denoInstall)(target, pkg);
    if (res.code !== 0) {
      reason = `its install script failed: ${installError(res.output)}`;
    } else if (!(await hasBinding(`${target}/node_modules/${pkg}`))) {
      reason = "the install finished but left no tfjs_binding.node (the download did not happen)";
    } else {
      ok = true;
    }
  } catch (e) {
    reason = (e as Error).message;
  } finally {
    if (ok) {
      if (hadPrevious) await Deno.remove(previous, { recursive: true });
    } else {
      await Deno.remove(target, { recursive: true }).catch(() => {});
      if (hadPrevious) await Deno.rename(previous, target);
      if (madeDir) await Deno.remove(opts.dir).catch(() => {}); // only when empty
    }
  }

  // The kit's own files: byte-identical afterwards, whatever happened.
  const restored: string[] = [];
  for (const [i, f] of files.entries()) {
    if (!same(before[i], await readOrNull(f))) {
      if (before[i] === null) await Deno.remove(f).catch(() => {});
      else await Deno.writeFile(f, before[i]!);
      restored.push(f.slice(f.lastIndexOf("/") + 1));
    }
  }
  const kept = restored.length
    ? `deno.json and deno.lock are unchanged (${restored.join(", ")} restored).`
    : "deno.json and deno.lock are unchanged.";

  if (ok) {
    return {
      ok,
      spec,
      target,
      message: `setup:tensorflow: ${spec} installed in ${target}; ${kept}\n` +
        "Use it with --backend tensorflow (or CYBORG_BACKEND=tensorflow).",
    };
  }
  return {
    ok,
    spec,
    target,
    message: `setup:tensorflow: ${spec} is not installed: ${reason}.\n` +
      `It downloads libtensorflow from ${host} while installing; the machine needs:${needs()}\n` +
      `Nothing was installed (${target} ${hadPrevious ? "is as before" : "removed"}); ${kept}`,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      gpu: { type: "boolean", default: false },
      dir: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "deno task setup:tensorflow [--gpu] [--dir <folder>]\n" +
        "Installs @tensorflow/tfjs-node (--gpu: tfjs-node-gpu, CUDA 11.2 + cuDNN 8.1) " +
        `${TENSORFLOW_VERSION} into <folder>/cpu or <folder>/gpu (default ${tensorflowInstallDir()}).`,
    );
    Deno.exit(0);
  }
  const dir = resolve(values.dir ?? tensorflowInstallDir());
  console.error(`setup:tensorflow: installing ${values.gpu ? "tfjs-node-gpu" : "tfjs-node"} ...`);
  const res = await setupTensorflow({ gpu: values.gpu, dir });
  if (res.ok) {
    console.log(res.message);
  } else {
    console.error(res.message);
    Deno.exit(1);
  }
}
