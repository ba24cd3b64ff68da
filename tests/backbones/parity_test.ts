/**
 * PyTorch parity of the paper's backbones (tools/fixtures/make_backbone_fixtures.py): with the
 * closed-form weights both sides compute, eval mode, logits, both CAM taps and the CAMs from them
 * match torch/torchvision within 1e-3 (max |Δ| relative to the reference's max |value|), on cpu and
 * on webgpu where an adapter exists.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../../lib/backbones/registry.ts";
import { camClassOneHot, rawCam } from "../../lib/cam.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { readSafetensors } from "../../lib/safetensors.ts";
import { importStateDict } from "../../lib/state_dict.ts";
import { forEachBackend } from "../_support/backends.ts";
import { closedFormInput, closedFormStateDict } from "./closed_form.ts";

const TOL = 1e-3;

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  assert.ok(m > 0, "reference is all zeros");
  return d / m;
}

for (const name of ["resnet18", "resnet50", "densenet121", "inception_v3", "xception"]) {
  Deno.test(`${name}: logits, CAM taps and CAMs match PyTorch on every backend`, async () => {
    const fx = await readSafetensors(
      new URL(`../fixtures/backbones/${name}.safetensors`, import.meta.url).pathname,
    );
    const size = Number(fx.metadata.input_size);
    assert.equal(fx.metadata.init, "closed-form v1");
    const want = (k: string) => fx.tensors.get(k)!.data;
    await forEachBackend(async (backend) => {
      const model = getBackbone(name).build({ seed: 1, inputSize: size });
      try {
        importStateDict(model.store, closedFormStateDict(model), { source: "closed form" });
        const x = closedFormInput(size);
        // The closed-form input reproduces the fixture's bit for bit (checks the hash port).
        assert.deepEqual(await x.data(), want("input"));
        const out = model.forward(x, new ForwardContext(false));
        const grid = model.spec.camGrid(size);
        assert.deepEqual(out.taps.paper.shape, [2, grid, grid, model.spec.featureDim]);
        const hot = camClassOneHot(out.logits, tf.tensor1d([0, 0], "int32"), "pred");
        const errs: Record<string, number> = {
          logits: relErr(await out.logits.data(), want("logits")),
        };
        for (const tap of ["paper", "standard"] as const) {
          errs[`taps.${tap}`] = relErr(await out.taps[tap].data(), want(`taps.${tap}`));
          const cam = rawCam(out.taps[tap], model.classifierWeight as tf.Tensor2D, hot);
          errs[`cam.${tap}`] = relErr(await cam.data(), want(`cam.${tap}`));
        }
        console.log(`${name} ${backend} @${size}px rel. errors`, errs);
        for (const [k, e] of Object.entries(errs)) {
          assert.ok(e < TOL, `${name} ${backend}: ${k} relative error ${e} >= ${TOL}`);
        }
        // Same predicted classes as PyTorch.
        const l = await out.logits.data();
        const w = want("logits");
        for (let b = 0; b < 2; b++) {
          assert.equal(l[2 * b + 1] > l[2 * b], w[2 * b + 1] > w[2 * b], `${name}: class of ${b}`);
        }
        tf.dispose([x, out.logits, out.taps.paper, out.taps.standard, hot]);
      } finally {
        model.store.dispose();
      }
    });
  });
}
