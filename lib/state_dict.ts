/**
 * Conversion between a {@linkcode ParamStore} and a PyTorch-style `state_dict` (torch names and
 * layouts, float32 values; `num_batches_tracked` as int64), in memory. File I/O lives in
 * `weights.ts` (safetensors) and `checkpoint.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { fromTorchLayout, type ParamStore, torchShape, toTorchLayout } from "./nn.ts";
import type { NamedArray } from "./safetensors.ts";

/** Reads every entry of the store as a torch-layout array (awaits device reads). */
export async function exportStateDict(store: ParamStore): Promise<Map<string, NamedArray>> {
  const out = new Map<string, NamedArray>();
  for (const [name, e] of store.entries) {
    const t = toTorchLayout(e.variable, e.layout);
    const data = new Float32Array(await t.data());
    t.dispose();
    out.set(name, {
      shape: torchShape(e.variable.shape, e.layout),
      data,
      dtype: e.torchDtype === "int64" ? "I64" : "F32",
    });
  }
  return out;
}

/** Options of {@linkcode importStateDict}. */
export interface ImportOptions {
  /** Names in the store that may be absent from the state dict (kept as initialised). */
  allowMissing?: (name: string) => boolean;
  /** Names in the state dict that are not in the store and may be ignored. */
  allowUnexpected?: (name: string) => boolean;
  /** Names the errors use for the file. */
  source?: string;
}

/**
 * Assigns torch-layout tensors to the store by name. Every error names the source, the first
 * mismatching tensor and both shapes; nothing is assigned unless everything matches.
 */
export function importStateDict(
  store: ParamStore,
  tensors: Map<string, NamedArray>,
  opts: ImportOptions = {},
): void {
  const source = opts.source ?? "state dict";
  for (const [name, e] of store.entries) {
    const t = tensors.get(name);
    if (!t) {
      if (opts.allowMissing?.(name)) continue;
      throw new Error(
        `${source}: missing tensor "${name}" (expected shape [${
          torchShape(e.variable.shape, e.layout)
        }]); is it a checkpoint of another architecture?`,
      );
    }
    const want = torchShape(e.variable.shape, e.layout);
    if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
      throw new Error(
        `${source}: tensor "${name}" has shape [${t.shape}] but the network expects [${want}]`,
      );
    }
  }
  for (const name of tensors.keys()) {
    if (!store.entries.has(name) && !opts.allowUnexpected?.(name)) {
      throw new Error(`${source}: unexpected tensor "${name}" (not in this network)`);
    }
  }
  tf.tidy(() => {
    for (const [name, e] of store.entries) {
      const t = tensors.get(name);
      if (!t) continue;
      e.variable.assign(fromTorchLayout(tf.tensor(t.data, t.shape, "float32"), e.layout));
    }
  });
}
