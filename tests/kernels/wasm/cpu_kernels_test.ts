import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { WASM_CPU_KERNELS } from "../../../lib/kernels/wasm/cpu_kernels.ts";
import { sgdUpdate, sgdUpdateSupported } from "../../../lib/kernels/sgd_update.ts";
import { Rng } from "../../../lib/rng.ts";
import { assertClose, randomArray } from "../helpers.ts";
import { cpuThenWasm } from "./helpers.ts";

Deno.test("every kit cpu kernel has a wasm twin", () => {
  const names = WASM_CPU_KERNELS.map((k) => k.kernelName);
  assert.ok(names.includes("KitSgdBuffer") && names.includes("KitSgdParam"), names.join());
  assert.ok(names.includes("KitBatchNormDGamma") && names.includes("KitBatchNormRunning"));
  assert.ok(WASM_CPU_KERNELS.every((k) => k.backendName === "wasm"));
});

Deno.test("fused SGD update on wasm (through the cpu-kernel shim) matches cpu", async () => {
  const rng = new Rng("wasm/sgd");
  const n = 1000;
  const [pv, gv, bv] = [randomArray(rng, n), randomArray(rng, n), randomArray(rng, n)];
  for (const [momentum, wd] of [[0.9, 1e-4], [0, 0]]) {
    const [want, got] = await cpuThenWasm(async () => {
      assert.ok(sgdUpdateSupported(), tf.getBackend());
      const [p, g, buf, lr] = [tf.tensor(pv), tf.tensor(gv), tf.tensor(bv), tf.scalar(0.05)];
      const [next, update] = sgdUpdate(p, g, buf, lr as tf.Scalar, momentum, wd);
      const out = [await next.data() as Float32Array, await update.data() as Float32Array];
      tf.dispose([p, g, buf, lr, next, update]);
      return out;
    });
    assertClose(got[0], want[0], 1e-6, `momentum ${momentum}: param`);
    assertClose(got[1], want[1], 1e-6, `momentum ${momentum}: buffer`);
  }
});
