/**
 * The backbone registry: network name → {@linkcode BackboneEntry}.
 *
 * @module
 */
import { densenet121 } from "./densenet.ts";
import { inceptionV3 } from "./inception_v3.ts";
import { resnet18, resnet34, resnet50 } from "./resnet.ts";
import { minicnn, smallcnn, tinycnn } from "./small_cnn.ts";
import { xception } from "./xception.ts";
import type { BackboneEntry } from "./types.ts";

/** Every network the kit can build, by name (`TrainConfig.network`). */
export const BACKBONES: Readonly<Record<string, BackboneEntry>> = {
  tinycnn,
  minicnn,
  smallcnn,
  resnet18,
  resnet34,
  resnet50,
  densenet121,
  inception_v3: inceptionV3,
  xception,
};

/**
 * Looks a network up by name, with an error naming where the name came from (`source`, default
 * `network`; the command-line tools pass `--network`) and listing the known ones.
 *
 * @example Build a network, run it, and read its CAM tap
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ForwardContext } from "../nn.ts";
 * import { getBackbone } from "./registry.ts";
 *
 * await initBackend("cpu");
 * const entry = getBackbone("minicnn");
 * const net = entry.build({ seed: 0, inputSize: 32 });
 * const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
 * const { logits, taps } = net.forward(x, new ForwardContext(false));
 * assert.deepEqual(logits.shape, [2, 2]);
 * const grid = entry.spec.camGrid(32);
 * assert.deepEqual(taps.paper.shape.slice(0, 3), [2, grid, grid]);
 * ```
 */
export function getBackbone(name: string, source = "network"): BackboneEntry {
  const problem = networkProblem(name);
  if (problem !== undefined) throw new Error(`${source}: ${problem}`);
  return BACKBONES[name];
}

/** What is wrong with a network name (an unknown one), or undefined when it is registered. */
export function networkProblem(name: string): string | undefined {
  return BACKBONES[name]
    ? undefined
    : `unknown network "${name}" (known: ${Object.keys(BACKBONES).join(", ")})`;
}
