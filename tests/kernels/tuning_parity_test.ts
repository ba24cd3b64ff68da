import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import { maxRelDiff, twoCyborgSteps } from "./helpers.ts";
import { disableKitWebGpu, enableKitWebGpu } from "../../lib/kernels/register.ts";
import {
  CPU_TUNING,
  GPU_TUNING,
  type KitTuning,
  kitTuning,
  setKitTuning,
} from "../../lib/kernels/tuning.ts";

// One CYBORG training step of a whole network under each kit tuning (and tfjs's stock kernels)
// must land on the same weights. Float32 reductions in another order can flip a ReLU gate, so the
// tolerance is a noise floor measured in the test: the same step with the input moved by 1e-6.
const NET = "minicnn";
const SIZE = 32;

Deno.test("a training step lands on the same weights under every kit tuning and tfjs's kernels", async () => {
  const info = await initBackend("webgpu");
  assert.equal(info.name, "webgpu");
  const saved = { ...kitTuning() };
  const tuned = (t: KitTuning) => () => {
    enableKitWebGpu({ fallbackAdapter: true });
    setKitTuning(t);
  };
  try {
    const ref = await twoCyborgSteps(NET, SIZE, "tuning-parity", tuned(CPU_TUNING));
    const floor = maxRelDiff(
      ref,
      await twoCyborgSteps(NET, SIZE, "tuning-parity", tuned(CPU_TUNING), 1e-6),
    );
    const tol = Math.max(10 * floor, 1e-4);
    const variants: Record<string, () => void> = {
      gpu: tuned(GPU_TUNING),
      "gpu, every GEMM kernel, forced split-K": tuned({
        ...GPU_TUNING,
        name: "all",
        conv2dMaxM: Infinity,
        dxMinM: 0,
        splitKWorkgroups: 4096,
        splitKMinChunk: 16,
      }),
      "index-major staging, tk 8": tuned({ ...CPU_TUNING, name: "im", coalesce: false, tk: 8 }),
      "tfjs stock kernels": () => disableKitWebGpu(),
    };
    for (const [name, setup] of Object.entries(variants)) {
      const d = maxRelDiff(ref, await twoCyborgSteps(NET, SIZE, "tuning-parity", setup));
      console.log(
        `${name}: max rel diff ${d.toExponential(2)} (noise floor ${floor.toExponential(2)})`,
      );
      assert.ok(d <= tol, `${name}: weights differ by ${d} > ${tol}`);
    }
  } finally {
    enableKitWebGpu({ fallbackAdapter: true });
    setKitTuning(saved);
  }
});
