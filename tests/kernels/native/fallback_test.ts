import assert from "node:assert/strict";

// A child process without the library: the wasm backend still starts, says so once, and trains.
Deno.test("without OpenBLAS the wasm backend falls back with a one-line notice", async () => {
  const code = `
    import * as tf from "@tensorflow/tfjs-core";
    import { initBackend } from "./lib/backend.ts";
    const info = await initBackend("wasm");
    const x = tf.ones([1, 5, 5, 2]);
    const w = tf.ones([3, 3, 2, 4]);
    const g = tf.grad((w) => tf.conv2d(x, w, 1, "same").sum())(w);
    console.log(JSON.stringify({ adapter: info.adapter, sum: (await g.sum().data())[0] }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { CYBORG_OPENBLAS: "/nonexistent/libopenblas.so.0", CYBORG_BACKEND: "" },
    clearEnv: false,
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const r = JSON.parse(stdout.trim().split("\n").pop()!);
  assert.equal(r.adapter, "tfjs wasm (XNNPACK, SIMD, 1 thread)");
  assert.equal(r.sum, 1352); // per (ci, co): 4 corners·16 + 4 edges·20 + centre·25 windows
  const notices = stderr.split("\n").filter((l) => l.includes("native OpenBLAS not loaded"));
  assert.equal(notices.length, 1, stderr);
  assert.match(notices[0], /\/nonexistent\/libopenblas\.so\.0/);
});
