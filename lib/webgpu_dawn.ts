/**
 * Opt-in WebGPU implementation: Dawn (Chrome's WebGPU engine) in place of Deno's built-in wgpu,
 * for A/B measurements on a GPU. Set `CYBORG_DAWN_NODE` to the `dawn.node` of the npm package
 * `webgpu` (`dist/linux-x64/dawn.node`; not a dependency of the kit: ~20 MB per platform). Dawn's
 * classes (`GPUBuffer`, `GPUDevice`, ...) and constants replace Deno's globals and `navigator.gpu`
 * becomes Dawn's, so everything after — tfjs's webgpu backend, the kit's kernels and the bench's
 * counters — runs on Dawn. Call it before anything touches WebGPU; `initBackend` does.
 *
 * @module
 */

let installed: string | null = null;

/**
 * Installs Dawn from `path` (idempotent). Throws an error naming `source` and the path when the
 * file is missing or is not a Dawn module.
 */
export async function installDawn(path: string, source = "CYBORG_DAWN_NODE"): Promise<void> {
  if (installed === path) return;
  if (installed) throw new Error(`${source}: Dawn is already installed from ${installed}`);
  try {
    await Deno.stat(path);
  } catch {
    throw new Error(
      `${source}: ${path} does not exist (the dawn.node of the npm package "webgpu")`,
    );
  }
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  let mod: { create?: (flags: string[]) => GPU; globals?: Record<string, unknown> };
  try {
    mod = require(path);
  } catch (e) {
    throw new Error(`${source}: ${path} could not be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.create !== "function" || !mod.globals) {
    throw new Error(`${source}: ${path} is not Dawn's node module (no create/globals)`);
  }
  Object.assign(globalThis, mod.globals);
  Object.defineProperty(navigator, "gpu", { value: mod.create([]), configurable: true });
  installed = path;
}

/** Installs Dawn when `CYBORG_DAWN_NODE` is set; returns its path, or null when unset. */
export async function installDawnFromEnv(): Promise<string | null> {
  let path: string | undefined;
  try {
    path = Deno.env.get("CYBORG_DAWN_NODE");
  } catch {
    return null; // no --allow-env
  }
  if (!path) return null;
  await installDawn(path);
  return path;
}

/** The path Dawn was installed from, or null when Deno's own WebGPU is in use. */
export function dawnPath(): string | null {
  return installed;
}
