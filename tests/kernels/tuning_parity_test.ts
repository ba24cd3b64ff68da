import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { disableKitWebGpu, enableKitWebGpu } from "../../lib/kernels/register.ts";
import {
  CPU_TUNING,
  GPU_TUNING,
  type KitTuning,
  kitTuning,
  setKitTuning,
} from "../../lib/kernels/tuning.ts";
import { Sgd } from "../../lib/optim.ts";
import { Rng } from "../../lib/rng.ts";
import { exportStateDict } from "../../lib/state_dict.ts";
import { StepAccumulators, trainStep } from "../../lib/train_step.ts";

// One CYBORG training step of a whole network under each kit tuning (and tfjs's stock kernels)
// must land on the same weights. Float32 reductions in another order can flip a ReLU gate, so the
// tolerance is a noise floor measured in the test: the same step with the input moved by 1e-6.
const NET = "minicnn";
const SIZE = 32;
const B = 4;

async function stepOnce(setup: () => void, noise = 0): Promise<Map<string, Float32Array>> {
  setup();
  const entry = getBackbone(NET);
  const model = entry.build({ seed: 3, inputSize: SIZE, numClasses: 2 });
  const opt = new Sgd(model.store.trainable(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const acc = new StepAccumulators();
  const rng = new Rng("tuning-parity");
  const g = entry.spec.camGrid(SIZE);
  const x = rng.fillNormal(new Float32Array(B * SIZE * SIZE * 3), 1);
  if (noise) { for (let i = 0; i < x.length; i += 7) x[i] += noise; }
  const batch = {
    x: tf.tensor4d(x, [B, SIZE, SIZE, 3]),
    y: tf.tensor1d([0, 1, 1, 0], "int32"),
    maps: tf.tensor3d(rng.fillUniform(new Float32Array(B * g * g), 0, 1), [B, g, g]),
    hasMap: tf.ones([B]) as tf.Tensor1D,
  };
  for (let i = 0; i < 2; i++) {
    trainStep(model, opt, batch, acc, { alpha: 0.5, camTap: "paper", camClass: "pred" });
  }
  const state = await exportStateDict(model.store);
  const out = new Map([...state].map(([k, v]) => [k, v.data as Float32Array]));
  tf.dispose(Object.values(batch));
  acc.dispose();
  opt.dispose();
  model.store.dispose();
  return out;
}

function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    for (let i = 0; i < va.length; i++) {
      worst = Math.max(worst, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
    }
  }
  return worst;
}

Deno.test("a training step lands on the same weights under every kit tuning and tfjs's kernels", async () => {
  const info = await initBackend("webgpu");
  assert.equal(info.name, "webgpu");
  const saved = { ...kitTuning() };
  const tuned = (t: KitTuning) => () => {
    enableKitWebGpu({ fallbackAdapter: true });
    setKitTuning(t);
  };
  try {
    const ref = await stepOnce(tuned(CPU_TUNING));
    const floor = maxRelDiff(ref, await stepOnce(tuned(CPU_TUNING), 1e-6));
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
      const d = maxRelDiff(ref, await stepOnce(setup));
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
