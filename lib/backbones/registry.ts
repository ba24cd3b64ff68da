/**
 * The backbone registry: network name → {@linkcode BackboneEntry}.
 *
 * @module
 */
import { smallcnn, tinycnn } from "./small_cnn.ts";
import type { BackboneEntry } from "./types.ts";

/** Every network the kit can build, by `--network` name. */
export const BACKBONES: Readonly<Record<string, BackboneEntry>> = {
  tinycnn,
  smallcnn,
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
