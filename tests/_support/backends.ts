/**
 * Test support: run a numeric test on every backend available here (cpu and wasm always; webgpu
 * where an adapter exists, llvmpipe on CPU-only machines).
 *
 * @module
 */
import { type BackendName, initBackend } from "../../lib/backend.ts";

/** Backends the numeric tests compare: `cpu`, `wasm` and, when an adapter exists, `webgpu`. */
export async function testBackends(): Promise<BackendName[]> {
  const names: BackendName[] = ["cpu", "wasm"];
  const adapter = await navigator.gpu?.requestAdapter();
  if (adapter) names.push("webgpu");
  else if (Deno.env.get("CYBORG_REQUIRE_WEBGPU") === "1") {
    throw new Error("CYBORG_REQUIRE_WEBGPU=1 but no WebGPU adapter was found");
  }
  return names;
}

/** Runs `fn` once per backend (switching the active backend before each). */
export async function forEachBackend(
  fn: (backend: BackendName) => Promise<void>,
): Promise<void> {
  for (const b of await testBackends()) {
    await initBackend(b);
    await fn(b);
  }
}
