/**
 * Test support: the "closed-form v2" weights of tools/fixtures/make_backbone_fixtures.py, reproduced
 * bit for bit, so the parity fixtures need no stored backbone weights. For a tensor named N with
 * torch shape S, element i (row-major in the torch layout) uses u(j) = mix(j, fnv1a(N)) / 2^31 - 1:
 *   conv / linear weight (>= 2 dims): u(i)·sqrt(6/fan_in);  BN weight: 1 + 0.25u(i);
 *   bias: 0.1u(i);  running_var: 1 + 0.5u(i) (in [0.5, 1.5));
 *   running_mean: 0.1(u(3i) + u(3i+1) + u(3i+2)) (variance 0.01);  num_batches_tracked: 0.
 * Values are computed in float64 and rounded to float32, as numpy does. The head is not closed
 * form: the fixture stores it, rescaled so that the scores do not saturate.
 *
 * @module
 */
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
  const u = (j: number) => mix(j >>> 0, seed) / 2147483648 - 1;
  const leaf = name.slice(name.lastIndexOf(".") + 1);
  const out = new Float64Array(n);
  if (leaf === "num_batches_tracked") return out;
  if (leaf === "weight" && shape.length >= 2) {
    const scale = Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1));
    for (let i = 0; i < n; i++) out[i] = u(i) * scale;
  } else if (leaf === "weight") {
    for (let i = 0; i < n; i++) out[i] = 1 + 0.25 * u(i);
  } else if (leaf === "running_var") {
    for (let i = 0; i < n; i++) out[i] = 1 + 0.5 * u(i);
  } else if (leaf === "running_mean") {
    for (let i = 0; i < n; i++) out[i] = 0.1 * (u(3 * i) + u(3 * i + 1) + u(3 * i + 2));
  } else {
    for (let i = 0; i < n; i++) out[i] = 0.1 * u(i);
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
