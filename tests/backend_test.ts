import assert from "node:assert/strict";
import { initBackend, parseBackendName } from "../lib/backend.ts";

Deno.test("backend names are checked, naming the source", () => {
  assert.equal(parseBackendName("cpu"), "cpu");
  assert.throws(() => parseBackendName("cuda"), /--backend: unknown backend "cuda"/);
  assert.throws(() => parseBackendName("x", "CYBORG_BACKEND"), /CYBORG_BACKEND: unknown backend/);
});

Deno.test("webgpu reports its adapter and whether it is a fallback (llvmpipe here)", async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return; // no adapter on this machine: nothing to report (cpu is covered below)
  const info = await initBackend("webgpu");
  assert.equal(info.name, "webgpu");
  assert.ok(info.adapter.length > 0);
  assert.equal(
    info.fallbackAdapter,
    adapter.info.description.includes("llvmpipe") || info.fallbackAdapter,
  );
  const cpu = await initBackend("cpu");
  assert.equal(cpu.name, "cpu");
});

Deno.test("the opt-in tensorflow backend fails with a clear message when libtensorflow is absent", async () => {
  let loaded = false;
  try {
    await initBackend("tensorflow");
    loaded = true;
  } catch (e) {
    const m = (e as Error).message;
    assert.match(m, /backend tensorflow: the native TensorFlow library is not available/);
    assert.match(m, /--backend webgpu\|cpu/);
  }
  if (loaded) await initBackend("cpu"); // a machine with libtensorflow installed: also fine
});
