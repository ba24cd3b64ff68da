/**
 * PyTorch parity of the paper's backbones with outputs that do not saturate
 * (tools/fixtures/make_backbone_fixtures.py): closed-form weights with batch-norm running statistics
 * spread as trained ones are (mean ~ 0.1 N(0, 1), variance in [0.5, 1.5)), a head rescaled so that
 * the scores are 0.1 and 0.9, two synthetic images, eval mode. The reference is PyTorch in float64
 * (InceptionV3 with transform_input on, as the paper builds it; Xception the paper's own
 * xception.py). Logits, softmax scores and the CAMs at the paper's tap and the standard tap must
 * match within {@linkcode FACTOR} times the float32 floor: what PyTorch itself in float32 differs
 * from that reference (measured by the fixture script, stated in {@linkcode FLOORS}), on cpu, wasm
 * and webgpu (where an adapter exists).
 *
 * What the tests detect (checked by breaking the code on purpose, wasm backend): one batch norm's
 * running variance scaled by 1.02 (the first, a middle and the last batch norm of each network)
 * fails every test, by hundreds to tens of thousands of times the floor; the same on a single
 * channel fails 13 of those 15 cases (not: ResNet50 `layer3.0.bn3` channel 0, which changes
 * nothing even in float64, and Xception `bn4` channel 0, 12x). InceptionV3 without
 * transform_input, or with batch-norm eps 1e-5 instead of 1e-3, or average pooling without the
 * padded zeros, and Xception's max pooling padded with zeros instead of -inf, all fail by more than
 * 6,000x. `make_backbone_fixtures.py --probe` prints the effect of such perturbations in PyTorch.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { camClassOneHot, rawCam } from "../../lib/cam.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { type NamedArray, readSafetensors } from "../../lib/safetensors.ts";
import { importStateDict } from "../../lib/state_dict.ts";
import { forEachBackend } from "../_support/backends.ts";
import { closedFormStateDict } from "./closed_form.ts";

type Quantity = "logits" | "scores" | "cam.paper" | "cam.standard";

/**
 * PyTorch float32 vs float64 on the fixtures (max |difference|: absolute for logits and softmax
 * scores, relative to the reference's max |value| for the CAMs), as the fixture script measured
 * them (torch 1.13, Debian) and stored them in each fixture's metadata.
 */
const FLOORS: Record<string, Record<Quantity, number>> = {
  resnet18: { logits: 3.7e-6, scores: 1.1e-7, "cam.paper": 1.5e-6, "cam.standard": 8.3e-7 },
  resnet50: { logits: 2.5e-5, scores: 1.1e-6, "cam.paper": 6.3e-7, "cam.standard": 5.4e-7 },
  densenet121: { logits: 5.7e-6, scores: 2.1e-7, "cam.paper": 5.7e-7, "cam.standard": 4.3e-7 },
  inception_v3: { logits: 3.6e-5, scores: 1.8e-6, "cam.paper": 9.5e-7, "cam.standard": 9.5e-7 },
  xception: { logits: 3.6e-5, scores: 5.0e-7, "cam.paper": 1.8e-6, "cam.standard": 3.1e-6 },
};

/** Each quantity's tolerance: FACTOR × its floor (the kit: 0.2x to 7.2x on cpu, wasm, webgpu). */
const FACTOR = 20;

/** max |a - b|, divided by max |b| when `relative`. */
function maxErr(a: ArrayLike<number>, b: ArrayLike<number>, relative: boolean): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  assert.ok(m > 0, "reference is all zeros");
  return relative ? d / m : d;
}

/** Row-wise softmax of [n, 2] logits, in float64. */
function softmax2(l: ArrayLike<number>): Float64Array {
  const out = new Float64Array(l.length);
  for (let i = 0; i < l.length; i += 2) {
    const p1 = 1 / (1 + Math.exp(l[i] - l[i + 1]));
    [out[i], out[i + 1]] = [1 - p1, p1];
  }
  return out;
}

for (const name of Object.keys(FLOORS)) {
  Deno.test(`${name}: logits, softmax scores and CAMs match PyTorch float64 within ${FACTOR}x the float32 floor`, async () => {
    const fx = await readSafetensors(
      new URL(`../fixtures/backbones/${name}.safetensors`, import.meta.url).pathname,
    );
    const meta = fx.metadata;
    assert.equal(meta.init, "closed-form v2");
    const size = Number(meta.input_size);
    const want = (k: string) => fx.tensors.get(k)!.data;
    const floors = FLOORS[name];
    for (const q of Object.keys(floors) as Quantity[]) {
      // The stated floors are the fixture's (a regenerated fixture must update them).
      const stored = Number(meta[`floor.${q.replace("cam.", "cam_")}`]);
      assert.ok(Math.abs(stored / floors[q] - 1) < 0.05, `${name}: floor of ${q} is ${stored}`);
    }
    await forEachBackend(async (backend) => {
      const model = getBackbone(name).build({ seed: 1, inputSize: size });
      try {
        const sd = closedFormStateDict(model);
        for (const [k, t] of fx.tensors) {
          if (k.startsWith("closed_form.")) {
            // The TypeScript port of the closed-form rule is bit-exact.
            assert.deepEqual(sd.get(k.slice("closed_form.".length))!.data, t.data, k);
          }
        }
        const head = name === "densenet121" ? "classifier" : "fc";
        for (const k of [`${head}.weight`, `${head}.bias`]) {
          const t = fx.tensors.get(k)!;
          sd.set(k, { shape: t.shape, data: t.data, dtype: "F32" } satisfies NamedArray);
        }
        importStateDict(model.store, sd, { source: `closed form + ${name} fixture head` });
        if (meta.transform_input === "true") {
          // The paper's InceptionV3 has transform_input on; the kit's default must be the same.
          assert.equal(model.transformInput, true, "transform_input is on by default");
        }
        const input = fx.tensors.get("input")!;
        const x = tf.tensor4d(
          input.data as Float32Array,
          input.shape as [number, number, number, number],
        );
        const out = model.forward(x, new ForwardContext(false));
        const grid = model.spec.camGrid(size);
        assert.deepEqual(out.taps.paper.shape, [2, grid, grid, model.spec.featureDim]);
        const logits = await out.logits.data();
        const hot = camClassOneHot(out.logits, tf.tensor1d([0, 0], "int32"), "pred");
        const errs: Record<Quantity, number> = {
          logits: maxErr(logits, want("logits"), false),
          scores: maxErr(softmax2(logits), want("scores"), false),
          "cam.paper": 0,
          "cam.standard": 0,
        };
        for (const tap of ["paper", "standard"] as const) {
          const cam = rawCam(out.taps[tap], model.classifierWeight as tf.Tensor2D, hot);
          errs[`cam.${tap}`] = maxErr(await cam.data(), want(`cam.${tap}`), true);
          cam.dispose();
        }
        console.log(
          `${name} ${backend} @${size}px max |kit - torch float64| / float32 floor: ` +
            Object.entries(errs).map(([q, e]) =>
              `${q} ${e.toExponential(1)} (${(e / floors[q as Quantity]).toFixed(1)}x)`
            ).join(", "),
        );
        for (const [q, e] of Object.entries(errs) as [Quantity, number][]) {
          const tol = FACTOR * floors[q];
          assert.ok(e <= tol, `${name} ${backend}: ${q} differs by ${e} > ${tol}`);
        }
        tf.dispose([x, out.logits, out.taps.paper, out.taps.standard, hot]);
      } finally {
        model.store.dispose();
      }
    });
  });
}
