import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  autoBackend,
  declaredTensorflowPackages,
  initBackend,
  installedTensorflowPackages,
  parseBackendName,
} from "../lib/backend.ts";

Deno.test("backend names are checked, naming the source", () => {
  assert.equal(parseBackendName("cpu"), "cpu");
  assert.throws(() => parseBackendName("cuda"), /backend: unknown backend "cuda"/);
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

Deno.test("the opt-in tensorflow backend, not installed, is refused naming how to add it; deno.lock stays", async () => {
  const empty = await Deno.makeTempDir({ prefix: "cyborg-no-tensorflow-" });
  Deno.env.set("CYBORG_TENSORFLOW_DIR", empty);
  const lockBefore = await Deno.readTextFile(new URL("../deno.lock", import.meta.url));
  let loaded = false;
  try {
    await initBackend("tensorflow");
    loaded = true;
  } catch (e) {
    const m = (e as Error).message;
    if (declaredTensorflowPackages().length === 0) {
      assert.match(m, /backend tensorflow: the native TensorFlow backend is not installed/);
      assert.match(m, /deno task setup:tensorflow/);
      assert.match(m, /tfjs-node-gpu@4\.22\.0, CUDA 11\.2 and cuDNN 8\.1/);
    } else {
      assert.match(m, /backend tensorflow: the native TensorFlow library does not load/);
    }
    assert.match(m, /the backend webgpu, wasm or cpu \(--backend, CYBORG_BACKEND\)/);
  }
  assert.equal(await Deno.readTextFile(new URL("../deno.lock", import.meta.url)), lockBefore);
  if (loaded) await initBackend("cpu"); // a machine with libtensorflow installed: also fine
  Deno.env.delete("CYBORG_TENSORFLOW_DIR");
  await Deno.remove(empty);
});

// What `deno task setup:tensorflow` leaves: <dir>/cpu/node_modules/@tensorflow/tfjs-node. A
// stand-in package that registers a "tensorflow" backend through its own require() of tfjs-core
// (linked to the kit's copy) shows the backend loads it from there; a broken one is named.
Deno.test("the tensorflow backend loads what setup:tensorflow installed (CYBORG_TENSORFLOW_DIR)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-tensorflow-dir-" });
  const root = decodeURIComponent(new URL("../", import.meta.url).pathname);
  const mods = `${dir}/cpu/node_modules/@tensorflow`;
  await Deno.mkdir(`${mods}/tfjs-node`, { recursive: true });
  for (const p of ["tfjs-core", "tfjs-backend-cpu"]) {
    await Deno.symlink(await Deno.realPath(`${root}node_modules/@tensorflow/${p}`), `${mods}/${p}`);
  }
  await Deno.writeTextFile(`${dir}/cpu/deno.json`, "{}");
  await Deno.writeTextFile(
    `${mods}/tfjs-node/package.json`,
    '{ "name": "@tensorflow/tfjs-node", "main": "index.js" }',
  );
  await Deno.writeTextFile(
    `${mods}/tfjs-node/index.js`,
    'const tf = require("@tensorflow/tfjs-core");\n' +
      'const { MathBackendCPU } = require("@tensorflow/tfjs-backend-cpu");\n' +
      'tf.registerBackend("tensorflow", () => new MathBackendCPU(), 0);\n',
  );
  Deno.env.set("CYBORG_TENSORFLOW_DIR", dir);
  try {
    assert.deepEqual(installedTensorflowPackages(), [
      { name: "@tensorflow/tfjs-node", from: `${dir}/cpu` },
    ]);
    if (declaredTensorflowPackages().length === 0) {
      const info = await initBackend("tensorflow");
      assert.equal(info.name, "tensorflow");
      assert.equal(info.adapter, `@tensorflow/tfjs-node (${dir}/cpu)`);
      assert.equal(tf.getBackend(), "tensorflow");
      await initBackend("cpu");
      tf.removeBackend("tensorflow");

      // A package without its addon, in another folder (require() caches by path).
      const broken = `${dir}/broken/cpu/node_modules/@tensorflow/tfjs-node`;
      await Deno.mkdir(broken, { recursive: true });
      await Deno.writeTextFile(`${dir}/broken/cpu/deno.json`, "{}");
      await Deno.writeTextFile(
        `${broken}/package.json`,
        '{ "name": "@tensorflow/tfjs-node", "main": "index.js" }',
      );
      await Deno.writeTextFile(
        `${broken}/index.js`,
        'throw new Error("The Node.js native addon module (tfjs_binding.node) can not be found");',
      );
      Deno.env.set("CYBORG_TENSORFLOW_DIR", `${dir}/broken`);
      await assert.rejects(
        initBackend("tensorflow"),
        /does not load[^]*@tensorflow\/tfjs-node \(.*\/broken\/cpu\): The Node\.js native addon module/,
      );
    }
  } finally {
    Deno.env.delete("CYBORG_TENSORFLOW_DIR");
    await initBackend("cpu");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auto: a real GPU keeps webgpu; a fallback adapter (llvmpipe) or none gets wasm", () => {
  assert.equal(autoBackend({ fallback: false }), "webgpu");
  assert.equal(autoBackend({ fallback: true }), "wasm");
  assert.equal(autoBackend(null), "wasm");
  assert.equal(parseBackendName("wasm"), "wasm");
});

Deno.test("wasm initialises with the kit's kernels; auto picks it on this machine's adapter", async () => {
  const info = await initBackend("wasm");
  assert.equal(info.name, "wasm");
  assert.match(info.adapter, /^tfjs wasm \(XNNPACK/);
  assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm"), "kit Conv2DBackpropFilter registered");
  // `auto` in a fresh process (this one already has a backend).
  const adapter = await navigator.gpu?.requestAdapter();
  const fallback = Boolean((adapter?.info as { isFallbackAdapter?: boolean })?.isFallbackAdapter);
  const script = `import { initBackend } from "${new URL("../lib/backend.ts", import.meta.url)}";` +
    "console.log((await initBackend()).name);";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { CYBORG_BACKEND: "" },
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  const want = autoBackend(adapter ? { fallback } : null);
  assert.equal(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1), want);
  await initBackend("cpu");
});

Deno.test("probing WebGPU without XDG_RUNTIME_DIR prints nothing on stderr", async () => {
  const env = Deno.env.toObject();
  delete env.XDG_RUNTIME_DIR;
  const tmp = await Deno.makeTempDir({ prefix: "cyborg-xdg-test-" });
  try {
    // A private TMPDIR, so the test also covers creating the runtime folder.
    env.TMPDIR = tmp;
    const script = `${tmp}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { initBackend } from ${
        JSON.stringify(new URL("../lib/backend.ts", import.meta.url).href)
      };\n` +
        `const info = await initBackend("auto");\nconsole.log(info.name);\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${new URL("../deno.json", import.meta.url).pathname}`, script],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.doesNotMatch(stderr, /XDG_RUNTIME_DIR/);
    const uid = Deno.uid();
    if (uid !== null) {
      const st = await Deno.stat(`${tmp}/cyborg-kit-runtime-${uid}`);
      assert.equal((st.mode ?? 0) & 0o777, 0o700);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
