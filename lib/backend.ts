/**
 * Tensor backend selection: WebGPU on a real GPU, else tfjs's wasm backend (XNNPACK) with the kit's
 * extra kernels and, when Debian's `libopenblas0-pthread` and `libdnnl2` are installed, native
 * OpenBLAS and oneDNN kernels for the convolutions, matmuls, batch norm and more on every core
 * (`lib/kernels/native/`; without a library a one-line notice, without both the wasm kernels),
 * else the pure-JS cpu backend; the native TensorFlow backend
 * (`@tensorflow/tfjs-node-gpu` / `tfjs-node`) only when asked for.
 *
 * Every entry point calls {@linkcode initBackend} once before building tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
// Gradient functions are registered by a side-effect import (tfjs-core alone has none).
import "./gradients.ts";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgpu";
import { enableKitWebGpu } from "./kernels/register.ts";
import { setUpWasmBackend } from "./kernels/wasm/setup.ts";
import { dawnPath, installDawnFromEnv } from "./webgpu_dawn.ts";

/**
 * Backends the kit can run on. `auto` picks `webgpu` on a real GPU adapter, else `wasm` (see
 * {@linkcode initBackend}).
 */
export type BackendName = "auto" | "webgpu" | "wasm" | "cpu" | "tensorflow";

/** The backend names accepted by `--backend` and `CYBORG_BACKEND`. */
export const BACKEND_NAMES: readonly BackendName[] = [
  "auto",
  "webgpu",
  "wasm",
  "cpu",
  "tensorflow",
];

/** What {@linkcode initBackend} chose. */
export interface BackendInfo {
  /** The tfjs backend now active (`webgpu`, `wasm`, `cpu`, `tensorflow`). */
  name: Exclude<BackendName, "auto">;
  /** Adapter description for WebGPU (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), else a short label. */
  adapter: string;
  /** True when the WebGPU adapter is a software fallback such as llvmpipe. */
  fallbackAdapter: boolean;
}

// The cpu backend prints a "use tfjs-node" banner when it believes it runs in Node.
tf.env().set("IS_NODE", false);

let current: BackendInfo | undefined;

/** Parses a backend name from a flag or environment value, with a clear error. */
export function parseBackendName(value: string, source = "backend"): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(
    `${source}: unknown backend "${value}" (choose one of ${BACKEND_NAMES.join(", ")})`,
  );
}

/**
 * Vulkan's window-system probe (libwayland) prints `error: XDG_RUNTIME_DIR is invalid or not set`
 * twice when that variable is unset, as on servers and in containers, although no window is ever
 * opened. Before the first adapter request, point it at a private folder (mode 0700, owned by this
 * user) under the temporary directory; leave it alone when it is set or the folder is not ours.
 */
export function quietWindowSystemProbe(): void {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
  const uid = Deno.uid();
  if (uid === null) return;
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/cyborg-kit-runtime-${uid}`;
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) return;
  }
  try {
    const st = Deno.lstatSync(dir);
    if (!st.isDirectory || st.uid !== uid || ((st.mode ?? 0) & 0o077) !== 0) return;
  } catch {
    return;
  }
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}

async function webgpuAdapter(): Promise<GPUAdapter | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  quietWindowSystemProbe();
  try {
    return await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** True when the adapter says it is a software fallback (llvmpipe, SwiftShader, WARP). */
function isFallbackAdapter(adapter: GPUAdapter): boolean {
  return Boolean(
    (adapter.info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
}

/**
 * What `auto` runs on, given the WebGPU adapter found (`null`: none): `webgpu` on a real GPU, else
 * `wasm`. Why: on a CPU-only machine (2 cores, `deno task bench:cpu`, batch 20, CYBORG step, see
 * bench/results/cpu_options.csv) the single-threaded wasm backend (XNNPACK SIMD, plus the kit's
 * `lib/kernels/wasm/` kernels) trains minicnn at 32 px at ~1,330 img/s and smallcnn at 64 px at
 * ~157 img/s, against ~124 and ~23 img/s for WebGPU with the kit's kernels on llvmpipe (Mesa's
 * software rasteriser: each of ~170–200 dispatches per step costs CPU time, and its shaders reach
 * a few GFLOP/s; quiet machine, 2026-11-28) and ~9 and 0.3 img/s for tfjs's pure-JS `cpu` backend. Large networks too: ResNet18
 * at 224 px, batch 4: 1.8 img/s (~20 GFLOP/s) on wasm against 0.2 on llvmpipe. With OpenBLAS
 * installed, `wasm` also runs its wide GEMMs natively on every core (`lib/kernels/native/`, chosen
 * per call by `nativeMinDim` in `lib/kernels/native/kernels.ts`): `deno task bench:cpu --options wasm-kit,wasm-native
 * --backbones minicnn,smallcnn` measured 458 → 735 img/s (minicnn) and 42 → 139 (smallcnn) on 2
 * shared cores (2026-11-30).
 */
export function autoBackend(adapter: { fallback: boolean } | null): "webgpu" | "wasm" {
  return adapter && !adapter.fallback ? "webgpu" : "wasm";
}

/**
 * Selects and initialises a backend. `name` defaults to the `CYBORG_BACKEND` environment
 * variable, then `auto` ({@linkcode autoBackend}; if the wasm binaries cannot be loaded, `auto`
 * falls back to webgpu on any adapter, else cpu). Calling it again with the same resolved backend
 * is a no-op.
 */
export async function initBackend(name?: BackendName): Promise<BackendInfo> {
  const env = Deno.env.get("CYBORG_BACKEND");
  const wanted: BackendName = name ?? (env ? parseBackendName(env, "CYBORG_BACKEND") : "auto");
  if (current && (wanted === "auto" || wanted === current.name)) return current;

  if (wanted === "tensorflow") {
    current = await initTensorflow();
    return current;
  }
  if (wanted === "wasm") {
    current = { name: "wasm", adapter: await setUpWasmBackend(), fallbackAdapter: false };
    return current;
  }
  if (wanted === "webgpu" || wanted === "auto") {
    await installDawnFromEnv(); // opt-in: CYBORG_DAWN_NODE (lib/webgpu_dawn.ts)
    const adapter = await webgpuAdapter();
    const fallback = adapter ? isFallbackAdapter(adapter) : false;
    if (wanted === "auto" && autoBackend(adapter && { fallback }) === "wasm") {
      try {
        current = { name: "wasm", adapter: await setUpWasmBackend(), fallbackAdapter: false };
        return current;
      } catch {
        // wasm binaries not found (e.g. a bundle run elsewhere): webgpu if possible, else cpu
      }
    }
    if (adapter) {
      // Small ops would otherwise run on the CPU and force a GPU->CPU read.
      tf.env().set("WEBGPU_CPU_FORWARD", false);
      if (!(await tf.setBackend("webgpu"))) {
        throw new Error("webgpu: a WebGPU adapter exists but tfjs failed to initialise it");
      }
      await tf.ready();
      // The kit's faster kernels and uploads (lib/kernels/); CYBORG_STOCK_KERNELS=1 keeps tfjs's.
      enableKitWebGpu({ fallbackAdapter: fallback });
      const info = adapter.info;
      current = {
        name: "webgpu",
        adapter: (info.description || info.vendor || "unknown adapter") +
          (dawnPath() ? " [Dawn]" : ""),
        fallbackAdapter: fallback,
      };
      return current;
    }
    if (wanted === "webgpu") {
      throw new Error(
        "webgpu: no WebGPU adapter found" + (dawnPath() ? ` by Dawn (${dawnPath()})` : "") +
          " (try the backend wasm or cpu: --backend, CYBORG_BACKEND)",
      );
    }
  }
  await tf.setBackend("cpu");
  await tf.ready();
  current = { name: "cpu", adapter: "tfjs cpu (JavaScript)", fallbackAdapter: false };
  return current;
}

/** The native TensorFlow packages, in order of preference. */
export const TENSORFLOW_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;
/** The tfjs-node version that matches the kit's tfjs (`deno.json` imports). */
export const TENSORFLOW_VERSION = "4.22.0";

/**
 * The tensorflow packages declared in the project's import map (`deno.json` `imports`). Only a
 * declared package is imported: importing an undeclared `npm:` specifier would install it and
 * rewrite `deno.lock`.
 */
export function declaredTensorflowPackages(): string[] {
  return TENSORFLOW_PACKAGES.filter((name) => {
    try {
      import.meta.resolve(name);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Folder where `deno task setup:tensorflow` installs the native backend: `CYBORG_TENSORFLOW_DIR`,
 * else `.tensorflow/` in the kit's folder. Each build has its own subfolder (`gpu/`, `cpu/`) with
 * its own `deno.json`, `deno.lock` and `node_modules`, so the kit's own files never change.
 */
export function tensorflowInstallDir(): string {
  const env = Deno.env.get("CYBORG_TENSORFLOW_DIR");
  if (env) return env.replace(/\/+$/, "");
  return decodeURIComponent(new URL("../.tensorflow", import.meta.url).pathname);
}

/** The subfolder of {@linkcode tensorflowInstallDir} that holds a package's install. */
export function tensorflowVariant(pkg: (typeof TENSORFLOW_PACKAGES)[number]): "gpu" | "cpu" {
  return pkg === "@tensorflow/tfjs-node-gpu" ? "gpu" : "cpu";
}

/**
 * The packages `deno task setup:tensorflow` installed under `dir`, in order of preference, each
 * with the folder to resolve it from.
 */
export function installedTensorflowPackages(
  dir = tensorflowInstallDir(),
): { name: string; from: string }[] {
  const found: { name: string; from: string }[] = [];
  for (const name of TENSORFLOW_PACKAGES) {
    const from = `${dir}/${tensorflowVariant(name)}`;
    try {
      if (Deno.statSync(`${from}/node_modules/${name}/package.json`).isFile) {
        found.push({ name, from });
      }
    } catch { /* not installed */ }
  }
  return found;
}

async function initTensorflow(): Promise<BackendInfo> {
  // Not in deno.json by default: its install script downloads libtensorflow from a host many
  // machines cannot reach. A non-literal specifier keeps `deno check` from resolving it.
  const declared = declaredTensorflowPackages();
  const installed = installedTensorflowPackages();
  if (declared.length === 0 && installed.length === 0) {
    throw new Error(
      "backend tensorflow: the native TensorFlow backend is not installed. It is optional: " +
        "install it with `deno task setup:tensorflow` (or `deno task setup:tensorflow --gpu` for " +
        `@tensorflow/tfjs-node-gpu@${TENSORFLOW_VERSION}, CUDA 11.2 and cuDNN 8.1; the install ` +
        "script downloads libtensorflow 2.9.1 from storage.googleapis.com), or use the backend " +
        "webgpu, wasm or cpu (--backend, CYBORG_BACKEND).",
    );
  }
  const candidates: { label: string; load: () => Promise<unknown> }[] = [
    ...declared.map((spec) => ({ label: spec, load: () => import(spec) })),
    ...installed.map(({ name, from }) => ({
      label: `${name} (${from})`,
      // The package's own tfjs-core registers the backend in the engine that every copy of
      // tfjs-core shares (a global), so the kit's tfjs-core sees it.
      load: () => Promise.resolve().then(() => createRequire(`${from}/deno.json`)(name)),
    })),
  ];
  const errors: string[] = [];
  for (const { label, load } of candidates) {
    const warn = console.warn;
    try {
      // Each package re-registers every kernel on import; keep that noise out of the error path.
      console.warn = () => {};
      await load();
      console.warn = warn;
      if (await tf.setBackend("tensorflow")) {
        await tf.ready();
        return { name: "tensorflow", adapter: label, fallbackAdapter: false };
      }
      errors.push(`${label}: loaded but the "tensorflow" backend did not register`);
    } catch (e) {
      errors.push(`${label}: ${(e as Error).message.split("\n")[0]}`);
    } finally {
      console.warn = warn;
    }
  }
  throw new Error(
    "backend tensorflow: the native TensorFlow library does not load (tfjs-node-gpu needs CUDA " +
      "11.2 and cuDNN 8.1; both need libtensorflow 2.9.1, which their install script downloads). " +
      "Use the backend webgpu, wasm or cpu (--backend, CYBORG_BACKEND).\n  " + errors.join("\n  "),
  );
}

/** The backend chosen by the last {@linkcode initBackend} call, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
