/**
 * Test support: the PyTorch CYBORG-step fixture (tools/fixtures/make_cyborg_step_fixture.py).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone } from "../../lib/backbones/types.ts";
import { tinycnn } from "../../lib/backbones/small_cnn.ts";
import type { NamedArray } from "../../lib/safetensors.ts";
import { importStateDict } from "../../lib/state_dict.ts";

/** A tensor as stored in the fixture. */
export interface FixtureTensor {
  /** Torch shape. */
  shape: number[];
  /** Flat values. */
  data: number[];
}

/** The fixture's contents. */
export interface CyborgFixture {
  widths: number[];
  input_nhwc: number[];
  input_shape: [number, number, number, number];
  labels: number[];
  maps: number[];
  map_shape: [number, number, number];
  initial_state: Record<string, FixtureTensor>;
  [key: string]: unknown;
  sgd: {
    lr: number;
    momentum: number;
    weight_decay: number;
    alpha: number;
    steps: { loss: number; grads: Record<string, number[]> }[];
    final_state: Record<string, FixtureTensor>;
  };
}

/** Loads the fixture JSON. */
export async function loadCyborgFixture(): Promise<CyborgFixture> {
  const url = new URL("../fixtures/cyborg_step/fixture.json", import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

/** Converts a fixture state to the kit's state-dict form. */
export function toStateDict(state: Record<string, FixtureTensor>): Map<string, NamedArray> {
  return new Map(
    Object.entries(state).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]),
  );
}

/** `tinycnn` with the fixture's initial weights. */
export function fixtureModel(fx: CyborgFixture): Backbone {
  const model = tinycnn.build({ seed: 0, inputSize: fx.input_shape[1] });
  importStateDict(model.store, toStateDict(fx.initial_state), { source: "fixture" });
  return model;
}

/** The fixture batch as tensors. */
export function fixtureBatch(fx: CyborgFixture): {
  x: tf.Tensor4D;
  y: tf.Tensor1D;
  maps: tf.Tensor3D;
} {
  return {
    x: tf.tensor4d(fx.input_nhwc, fx.input_shape),
    y: tf.tensor1d(fx.labels, "int32"),
    maps: tf.tensor3d(fx.maps, fx.map_shape),
  };
}

/** Largest absolute difference between two arrays (throws on length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
