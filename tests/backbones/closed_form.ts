/**
 * Test support: the "closed-form v1" weights and input of tools/fixtures/make_backbone_fixtures.py,
 * reproduced bit for bit, so the parity fixtures need no stored weights. For a tensor named N with
 * torch shape S, element i (row-major in the torch layout) has u = mix(i, fnv1a(N)) / 2^31 - 1 and
 *   conv / linear weight (>= 2 dims): u·sqrt(6/fan_in);  BN weight, running_var: 1 + 0.25u;
 *   running_mean, biases: 0.1u;  num_batches_tracked: 0;  the input image ("input", NCHW): u.
 * Values are computed in float64 and rounded to float32, as numpy does.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone } from "../../lib/backbones/types.ts";
import { torchShape } from "../../lib/nn.ts";
import { hashString } from "../../lib/rng.ts";
import type { NamedArray } from "../../lib/safetensors.ts";

/** The fixture script's 32-bit mixer (wrapping multiplies, as numpy uint32). */
export function mix(i: number, seed: number): number {
  let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Closed-form values (float64) of the tensor `name` with torch shape `shape`, flat. */
export function closedForm64(name: string, shape: readonly number[]): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const seed = hashString(name);
  const leaf = name.slice(name.lastIndexOf(".") + 1);
  const out = new Float64Array(n);
  if (leaf === "num_batches_tracked") return out;
  const weight = leaf === "weight" && shape.length >= 2;
  const scale = weight ? Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1)) : 0;
  const unit = leaf === "weight" || leaf === "running_var";
  for (let i = 0; i < n; i++) {
    const u = mix(i, seed) / 2147483648 - 1;
    out[i] = weight ? u * scale : unit ? 1 + 0.25 * u : 0.1 * u;
  }
  return out;
}

/** The closed-form state_dict of a built backbone (torch names, shapes and layouts). */
export function closedFormStateDict(model: Backbone): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const [name, e] of model.store.entries) {
    const shape = torchShape(e.variable.shape, e.layout);
    out.set(name, {
      shape,
      data: Float32Array.from(closedForm64(name, shape)),
      dtype: e.torchDtype === "int64" ? "I64" : "F32",
    });
  }
  return out;
}

/** The fixture input: 2 images, NCHW values from "input" (0.1u × 10), returned NHWC. */
export function closedFormInput(size: number): tf.Tensor4D {
  const nchw = Float32Array.from(closedForm64("input", [2, 3, size, size]), (v) => v * 10);
  return tf.tidy(() =>
    tf.transpose(tf.tensor4d(nchw, [2, 3, size, size]), [0, 2, 3, 1]) as tf.Tensor4D
  );
}
