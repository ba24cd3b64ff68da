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

/** Every network the kit can build, by `--network` name. */
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

/** Looks a network up by name, with an error listing the known ones. */
export function getBackbone(name: string): BackboneEntry {
  const entry = BACKBONES[name];
  if (!entry) {
    throw new Error(
      `--network: unknown network "${name}" (known: ${Object.keys(BACKBONES).join(", ")})`,
    );
  }
  return entry;
}
