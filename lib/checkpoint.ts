/**
 * Checkpoints: the model's state dict (torch names and layouts, so a checkpoint is also a weights
 * file for `--init-weights` and PyTorch) plus the optimizer's momentum buffers under
 * `optimizer.momentum_buffer.<param>`, in one safetensors file whose `__metadata__.cyborg` holds
 * JSON {@linkcode CheckpointMeta} and, for InceptionV3, `__metadata__.transform_input` the model's
 * `transformInput` (`true`/`false`, restored on load). Written atomically (temporary file, then
 * rename).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone } from "./backbones/types.ts";
import { fromTorchLayout, torchShape, toTorchLayout } from "./nn.ts";
import type { Sgd } from "./optim.ts";
import {
  type NamedArray,
  readSafetensors,
  type SafetensorsFile,
  writeSafetensors,
} from "./safetensors.ts";
import { exportStateDict, importStateDict } from "./state_dict.ts";
import { modelInfo, transformInputFromMetadata } from "./weights.ts";

/** Format tag stored in every checkpoint. */
export const CHECKPOINT_FORMAT = "cyborg-kit-checkpoint/1";

/** Training state stored beside the tensors. */
export interface CheckpointMeta {
  /** {@linkcode CHECKPOINT_FORMAT}. */
  format: string;
  /** Network name. */
  network: string;
  /** Epochs completed (0-based index of the last finished epoch + 1). */
  epochsDone: number;
  /** Steps taken in total. */
  steps: number;
  /** Best validation accuracy so far and its epoch (1-based), for keep-best. */
  bestValAcc: number;
  /** See {@linkcode CheckpointMeta.bestValAcc}. */
  bestEpoch: number;
  /** Validation accuracy of this checkpoint's epoch. */
  valAcc: number;
  /** True when the run has finished (all epochs, or max steps). */
  finished: boolean;
}

const MOMENTUM_PREFIX = "optimizer.momentum_buffer.";

/** Saves model (+ optimizer) state and metadata to `path`. */
export async function saveCheckpoint(
  path: string,
  model: Backbone,
  opt: Sgd | null,
  meta: CheckpointMeta,
): Promise<void> {
  const tensors = await exportStateDict(model.store);
  if (opt) {
    for (const [name, buf] of opt.buffers) {
      const e = model.store.entries.get(name)!;
      const t = toTorchLayout(buf, e.layout);
      tensors.set(MOMENTUM_PREFIX + name, {
        shape: torchShape(buf.shape, e.layout),
        data: new Float32Array(await t.data()),
      });
      t.dispose();
    }
  }
  const metadata: Record<string, string> = {
    cyborg: JSON.stringify(meta),
    cyborg_model: JSON.stringify(modelInfo(model)),
  };
  if (model.transformInput !== undefined) metadata.transform_input = String(model.transformInput);
  await writeSafetensors(path, tensors, metadata);
}

/**
 * Reads a checkpoint file and its {@linkcode CheckpointMeta}, failing with a message naming the
 * file when it is no safetensors file, truncated, or no kit checkpoint of this format.
 */
export async function readCheckpointMeta(
  path: string,
): Promise<{ file: SafetensorsFile; meta: CheckpointMeta }> {
  const file = await readSafetensors(path);
  const raw = file.metadata.cyborg;
  if (!raw) throw new Error(`${path}: not a kit checkpoint (no "cyborg" metadata)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw);
  } catch {
    throw new Error(`${path}: not a kit checkpoint (its "cyborg" metadata is not JSON)`);
  }
  if (meta?.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${path}: checkpoint format ${meta?.format}, expected ${CHECKPOINT_FORMAT}`);
  }
  return { file, meta };
}

/**
 * Loads a checkpoint into the model (and optimizer, when given), restores `transformInput` when the
 * file records it, and returns its metadata. Errors name the file and the first mismatching tensor.
 */
export async function loadCheckpoint(
  path: string,
  model: Backbone,
  opt: Sgd | null,
): Promise<CheckpointMeta> {
  const { file, meta } = await readCheckpointMeta(path);
  const weights = new Map<string, NamedArray>();
  const momentum = new Map<string, NamedArray>();
  for (const [k, v] of file.tensors) {
    if (k.startsWith(MOMENTUM_PREFIX)) momentum.set(k.slice(MOMENTUM_PREFIX.length), v);
    else weights.set(k, v);
  }
  const transformInput = transformInputFromMetadata(model, file.metadata, path);
  importStateDict(model.store, weights, { source: path });
  if (transformInput !== undefined) model.transformInput = transformInput;
  if (opt) {
    for (const [name, buf] of opt.buffers) {
      const t = momentum.get(name);
      if (!t) throw new Error(`${path}: no momentum buffer for "${name}"`);
      const layout = model.store.entries.get(name)!.layout;
      tf.tidy(() => buf.assign(fromTorchLayout(tf.tensor(t.data, t.shape), layout)));
    }
  }
  return meta;
}
