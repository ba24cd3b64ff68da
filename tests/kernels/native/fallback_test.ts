import assert from "node:assert/strict";

/** Runs a conv gradient on the wasm backend in a child process with `env`; its adapter, sum, stderr. */
async function childConv(env: Record<string, string>) {
  const code = `
    import * as tf from "@tensorflow/tfjs-core";
    import { initBackend } from "./lib/backend.ts";
    import { sgemmCalls } from "./lib/kernels/native/openblas.ts";
    import { dnnlCalls } from "./lib/kernels/native/onednn.ts";
    const info = await initBackend("wasm");
    const x = tf.ones([1, 5, 5, 32]);
    const w = tf.ones([3, 3, 32, 32]); // wide enough for the native kernels
    const g = tf.grad((w) => tf.conv2d(x, w, 1, "same").sum())(w);
    const sum = (await g.sum().data())[0];
    console.log(JSON.stringify({ adapter: info.adapter, sum, blas: sgemmCalls(), dnnl: dnnlCalls() }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { CYBORG_BACKEND: "", ...env },
    clearEnv: false,
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const r = JSON.parse(stdout.trim().split("\n").pop()!) as {
    adapter: string;
    sum: number;
    blas: number;
    dnnl: number;
  };
  return { ...r, notices: stderr.split("\n").filter((l) => l.includes("not loaded")) };
}

const NO_BLAS = { CYBORG_OPENBLAS: "/nonexistent/libopenblas.so.0" };
const NO_DNNL = { CYBORG_ONEDNN_LIB: "/nonexistent/libdnnl.so.2" };
// per (ci, co): 4 corners·16 + 4 edges·20 + centre·25 windows = 169, over 32 × 32 pairs
const SUM = 169 * 32 * 32;

// A child process without either library: the wasm backend still starts, says so once, and trains.
Deno.test("without OpenBLAS and oneDNN the wasm backend falls back with a one-line notice", async () => {
  const r = await childConv({ ...NO_BLAS, ...NO_DNNL });
  assert.equal(r.adapter, "tfjs wasm (XNNPACK, SIMD, 1 thread)");
  assert.equal(r.sum, SUM);
  assert.equal(r.blas + r.dnnl, 0);
  assert.equal(r.notices.length, 1, r.notices.join("\n"));
  assert.match(r.notices[0], /native OpenBLAS and oneDNN not loaded/);
  assert.match(r.notices[0], /\/nonexistent\/libopenblas\.so\.0/);
  assert.match(r.notices[0], /\/nonexistent\/libdnnl\.so\.2/);
});

Deno.test("with one native library missing, the other serves and one line names the missing one", async () => {
  const noDnnl = await childConv(NO_DNNL);
  assert.match(noDnnl.adapter, /\+ OpenBLAS \(/);
  assert.doesNotMatch(noDnnl.adapter, /oneDNN/);
  assert.equal(noDnnl.sum, SUM);
  assert.ok(noDnnl.blas > 0 && noDnnl.dnnl === 0, JSON.stringify(noDnnl));
  assert.equal(noDnnl.notices.length, 1);
  assert.match(noDnnl.notices[0], /oneDNN not loaded .*\/nonexistent\/libdnnl\.so\.2/);
  const noBlas = await childConv(NO_BLAS);
  assert.match(noBlas.adapter, /\+ oneDNN \d/);
  assert.doesNotMatch(noBlas.adapter, /OpenBLAS/);
  assert.equal(noBlas.sum, SUM);
  assert.ok(noBlas.dnnl > 0 && noBlas.blas === 0, JSON.stringify(noBlas));
  assert.equal(noBlas.notices.length, 1);
  assert.match(noBlas.notices[0], /OpenBLAS not loaded .*\/nonexistent\/libopenblas\.so\.0/);
});
