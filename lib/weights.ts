/**
 * Importing and exporting torchvision-style `state_dict`s as safetensors or `.pth` files.
 *
 * A backbone's parameters carry torchvision names (`layer1.0.conv1.weight`, `bn1.running_var`,
 * `features.norm5.num_batches_tracked`, ...), so a PyTorch `state_dict` maps by name; layouts are
 * converted by `lib/state_dict.ts` (NCHW/OIHW ⇄ NHWC/HWIO). Batch-norm running statistics and
 * `num_batches_tracked` (written back as I64) are included.
 *
 * Names are normalised on import, so these load as they are:
 * - the paper's checkpoints (`torch.save({'state_dict': model.state_dict(), ...})`);
 * - `module.`-prefixed names (DataParallel) and the FaceForensics++ Xception wrapper (`model.` prefix,
 *   head `last_linear` → `fc`), Cadene's 2-D `pointwise` weights ([out, in] → [out, in, 1, 1]);
 * - torchvision's legacy DenseNet names (`denselayer1.norm.1.weight` → `denselayer1.norm1.weight`);
 * - InceptionV3 `AuxLogits.*` tensors are skipped (the kit's InceptionV3 has no auxiliary head);
 * - a kit checkpoint (`lib/checkpoint.ts`) loads as weights: its `optimizer.*` tensors are skipped.
 *
 * With `newHead: true` the file's classifier (`fc` / `classifier`) is ignored and the network keeps
 * its freshly initialised 2-class head: the way to start from ImageNet weights (1000 classes).
 *
 * PyTorch checkpoints (`.pth` / `.pt`, zip or legacy format, as `torch.save` writes them) load
 * directly: the file's magic bytes decide, not its extension (`lib/pth/`, a restricted unpickler
 * that runs nothing). A checkpoint dict's `state_dict` is used, the optimizer is left out.
 * InceptionV3's torchvision ImageNet weights need `transform_input` on; a `.pth` carries no
 * metadata, so `lib/pretrained.ts` turns it on for them (or set `Backbone.transformInput`).
 *
 * InceptionV3's `transform_input` is on by default, as torchvision and the paper build it; a
 * model trained with it off says so in its metadata (`transform_input: "false"`).
 *
 * InceptionV3's `transform_input` is on unless the weights say otherwise: the metadata
 * `transform_input` (`"true"`/`"false"`) sets `Backbone.transformInput` on import, and export
 * writes it (`"true"` or `"false"`) for every network that has the option.
 *
 * @module
 */
import type { Backbone } from "./backbones/types.ts";
import { decodePth, sniffPth, writePth } from "./pth/mod.ts";
import { decodeSafetensors, type NamedArray, writeSafetensors } from "./safetensors.ts";
import { exportStateDict, importStateDict } from "./state_dict.ts";

/** Options of {@linkcode loadWeights} / {@linkcode applyWeights}. */
export interface LoadWeightsOptions {
  /**
   * Ignore the file's classifier (`fc.*` / `classifier.*`) and keep the network's own, freshly
   * initialised head (for ImageNet weights with 1000 classes). Default false.
   */
  newHead?: boolean;
  /** Further name prefixes of file tensors to ignore (after name normalisation). */
  ignore?: string[];
}

/** What an import did. */
export interface LoadReport {
  /** Tensors assigned to the network. */
  loaded: number;
  /** File tensors left out (auxiliary head, replaced classifier, `ignore` prefixes). */
  skipped: string[];
  /** File tensors whose names were rewritten (prefixes, `last_linear`, legacy DenseNet names). */
  renamed: number;
  /** `Backbone.transformInput` after the import (undefined for networks without it). */
  transformInput?: boolean;
}

const DENSENET_LEGACY =
  /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

function commonPrefix(names: string[], prefix: string): boolean {
  return names.length > 0 && names.every((n) => n.startsWith(prefix));
}

/**
 * Rewrites the names of a foreign `state_dict` to the kit's (see the module notes). Returns the
 * renamed map and how many names changed. `known` is the set of the network's names.
 */
export function normaliseStateDictNames(
  tensors: Map<string, NamedArray>,
  known: ReadonlySet<string>,
): { tensors: Map<string, NamedArray>; renamed: number } {
  let names = [...tensors.keys()];
  const strip: string[] = [];
  for (const prefix of ["module.", "model."]) {
    const anyKnown = [...known].some((k) => k.startsWith(prefix));
    if (!anyKnown && commonPrefix(names, prefix)) {
      strip.push(prefix);
      names = names.map((n) => n.slice(prefix.length));
    }
  }
  const out = new Map<string, NamedArray>();
  let renamed = 0;
  for (const [original, value] of tensors) {
    let name = original;
    for (const p of strip) name = name.slice(p.length);
    if (name.startsWith("last_linear.") && !known.has(name)) {
      name = `fc.${name.slice("last_linear.".length)}`;
    }
    const legacy = DENSENET_LEGACY.exec(name);
    if (legacy) name = legacy[1] + legacy[2];
    let t = value;
    if (name.endsWith(".pointwise.weight") && t.shape.length === 2) {
      t = { ...t, shape: [...t.shape, 1, 1] };
    }
    if (name !== original) renamed++;
    if (out.has(name)) {
      throw new Error(`two tensors map to the same name "${name}" (one is "${original}")`);
    }
    out.set(name, t);
  }
  return { tensors: out, renamed };
}

function parseFlag(value: string, source: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new Error(`${source}: metadata transform_input="${value}" is not true/false`);
}

/**
 * The `transform_input` a weights file's metadata asks of `backbone`: `undefined` when the file
 * says nothing or the network has no such option and the file says `false`; an error when the value
 * is not true/false, or is true for a network without the option. Call before assigning anything.
 */
export function transformInputFromMetadata(
  backbone: Backbone,
  metadata: Record<string, string>,
  source: string,
): boolean | undefined {
  if (metadata.transform_input === undefined) return undefined;
  const value = parseFlag(metadata.transform_input, source);
  if (!("transformInput" in backbone)) {
    if (value) {
      throw new Error(
        `${source}: metadata transform_input=true, but ${backbone.spec.name} has no ` +
          "transform_input option",
      );
    }
    return undefined;
  }
  return value;
}

/** The network named in a kit checkpoint's `cyborg` metadata JSON, if any. */
function checkpointNetwork(json: string | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const network = (JSON.parse(json) as { network?: unknown }).network;
    return typeof network === "string" ? network : undefined;
  } catch {
    return undefined;
  }
}

/** The name prefix of a network's classifier (`fc` or `classifier`). */
function headPrefix(backbone: Backbone): string {
  for (const [name, e] of backbone.store.entries) {
    if (e.variable === backbone.classifierWeight) return name.slice(0, -".weight".length);
  }
  throw new Error(`${backbone.spec.name}: classifier weight is not in the parameter store`);
}

/**
 * Assigns a torch `state_dict` (already read) to a built backbone: names normalised, then every
 * tensor of the network must be present with its torch shape (errors name `source`, the tensor
 * and both shapes, or the first missing / unexpected name). Nothing is assigned on error.
 */
export function applyWeights(
  backbone: Backbone,
  tensors: Map<string, NamedArray>,
  metadata: Record<string, string>,
  source: string,
  opts: LoadWeightsOptions = {},
): LoadReport {
  const net = backbone.spec.name;
  const declared = metadata.network ?? checkpointNetwork(metadata.cyborg);
  if (declared && declared !== net) {
    throw new Error(`${source}: weights of network "${declared}" cannot load into "${net}"`);
  }
  const known = new Set(backbone.store.entries.keys());
  const norm = normaliseStateDictNames(tensors, known);
  const head = `${headPrefix(backbone)}.`;
  const ignore = [...(opts.ignore ?? [])];
  if (![...known].some((k) => k.startsWith("AuxLogits."))) ignore.push("AuxLogits.");
  ignore.push("optimizer."); // a kit checkpoint's momentum buffers (lib/checkpoint.ts)
  if (opts.newHead) ignore.push(head);
  const skipped: string[] = [];
  const kept = new Map<string, NamedArray>();
  for (const [name, t] of norm.tensors) {
    if (ignore.some((p) => name.startsWith(p))) skipped.push(name);
    else kept.set(name, t);
  }
  const transformInput = transformInputFromMetadata(backbone, metadata, source);
  importStateDict(backbone.store, kept, {
    source,
    // Files saved before torch 0.4.1 (torchvision's DenseNet and InceptionV3 ImageNet weights,
    // Cadene's Xception) have no `num_batches_tracked`: it stays 0, as torch's BatchNorm sets it.
    allowMissing: (name) =>
      name.endsWith(".num_batches_tracked") || (opts.newHead === true && name.startsWith(head)),
  });
  if (transformInput !== undefined) backbone.transformInput = transformInput;
  return {
    loaded: kept.size,
    skipped,
    renamed: norm.renamed,
    transformInput: "transformInput" in backbone ? backbone.transformInput : undefined,
  };
}

/**
 * Reads a weights file by its magic bytes, not its extension: a PyTorch checkpoint (`torch.save`,
 * zip or legacy format, state_dict or checkpoint dict: `lib/pth/`) or safetensors.
 */
export async function readWeightsFile(
  path: string,
): Promise<{ tensors: Map<string, NamedArray>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read weights file: ${(e as Error).message}`);
  }
  if (sniffPth(bytes)) return decodePth(bytes, path);
  return decodeSafetensors(bytes, path);
}

/**
 * Loads a torchvision `state_dict` (safetensors, or a `.pth` written by `torch.save`) into a built
 * backbone. Errors name the file.
 */
export async function loadWeights(
  backbone: Backbone,
  path: string,
  opts: LoadWeightsOptions = {},
): Promise<LoadReport> {
  const file = await readWeightsFile(path);
  return applyWeights(backbone, file.tensors, file.metadata, path, opts);
}

/** Whether a path names a PyTorch checkpoint (`.pth` / `.pt`): the format `saveWeights` writes. */
export function isPthPath(path: string): boolean {
  return /\.(pth|pt)$/i.test(path);
}

/**
 * Writes a backbone's `state_dict` (torch names and layouts, float32; `num_batches_tracked` as
 * I64) as safetensors, atomically, with metadata `format=pt`, `network`, and `transform_input`
 * (`true`/`false`) for networks that have the option, and `cyborg_model` (what scoring needs); or,
 * for a path ending in `.pth` / `.pt`, as a PyTorch zip checkpoint holding the plain state_dict
 * (`torch.load` + `load_state_dict(strict=True)`; no metadata). PyTorch reads the safetensors file
 * with `safetensors.torch.load_file`, or without that package:
 *
 * ```python
 * import json, struct, numpy as np, torch
 * def load_safetensors(path):
 *     with open(path, "rb") as f:
 *         n = struct.unpack("<Q", f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
 *     dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
 *     return {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]],
 *             dtype=dt[v["dtype"]]).reshape(v["shape"]).copy())
 *             for k, v in header.items() if k != "__metadata__"}
 * model.load_state_dict(load_safetensors("weights.safetensors"))
 * ```
 */
export async function saveWeights(
  backbone: Backbone,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  const tensors = await exportStateDict(backbone.store);
  if (isPthPath(path)) return await writePth(path, tensors);
  const meta: Record<string, string> = {
    format: "pt",
    network: backbone.spec.name,
    cyborg_model: JSON.stringify(modelInfo(backbone)),
    ...metadata,
  };
  if (backbone.transformInput !== undefined) meta.transform_input = String(backbone.transformInput);
  await writeSafetensors(path, tensors, meta);
}

/**
 * What scoring a checkpoint needs besides its tensors, stored as JSON under
 * `__metadata__.cyborg_model`: `deno task score --weights X --csv Y` needs nothing else.
 */
export interface ModelInfo {
  /** Registry name. */
  network: string;
  /** Input size in pixels the network was trained at. */
  inputSize: number;
  /** Per-channel normalisation mean (RGB, on [0, 1] pixels). */
  mean: readonly number[];
  /** Per-channel normalisation std. */
  std: readonly number[];
  /** InceptionV3's torchvision input transform. */
  transformInput: boolean;
  /** Class names by index: 0 Real, 1 Synthetic. */
  classNames: readonly string[];
}

/** The {@linkcode ModelInfo} of a built network. */
export function modelInfo(model: Backbone): ModelInfo {
  return {
    network: model.spec.name,
    inputSize: model.inputSize,
    mean: [...model.spec.mean],
    std: [...model.spec.std],
    transformInput: Boolean(model.transformInput),
    classNames: ["Real", "Synthetic"],
  };
}

/**
 * The {@linkcode ModelInfo} a weights file's metadata holds, or undefined when it holds none (a
 * plain state_dict, a `.pth`, a checkpoint written before the kit recorded it).
 */
export function readModelInfo(
  metadata: Record<string, string>,
  source: string,
): ModelInfo | undefined {
  const raw = metadata.cyborg_model;
  if (raw === undefined) return undefined;
  let info: ModelInfo;
  try {
    info = JSON.parse(raw);
  } catch {
    throw new Error(`${source}: the cyborg_model metadata is not JSON`);
  }
  const ok = info && typeof info.network === "string" && Number.isInteger(info.inputSize) &&
    Array.isArray(info.mean) && Array.isArray(info.std) && Array.isArray(info.classNames);
  if (!ok) throw new Error(`${source}: the cyborg_model metadata is incomplete`);
  return info;
}
