/**
 * `tf.variableGrads` with the memory of a training step bounded: tfjs's backward pass
 * (`backpropagateGradients` in tfjs-core's `tape.ts`) keeps every intermediate gradient and every
 * tensor saved for the backward pass until the whole backward pass ends, so a step's peak memory is
 * roughly forward activations + all their gradients. {@linkcode leanVariableGrads} walks the same
 * tape with the same gradient functions, in the same order, but frees a node's output gradients
 * and its saved tensors as soon as that node is done (each is read by that node only). The
 * gradients are the same tensors tfjs would compute (same kernels, same accumulation order), so
 * results are bitwise identical; only the peak memory drops (ResNet50 at 224 px on wasm: see
 * `bench/README.md`).
 *
 * It uses tfjs-core 4.22's engine internals (`startTape`, `endTape`, `scopedRun`, `state`), which
 * the kit pins.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** A tape node as tfjs-core's engine records it. */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of tfjs-core's `Engine` this module uses. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

function engine(): EngineInternals {
  const e = tf.engine() as unknown as EngineInternals;
  for (const k of ["startTape", "endTape", "scopedRun", "tidy"] as const) {
    if (typeof e[k] !== "function") {
      throw new Error(`leanVariableGrads: tfjs engine has no ${k}() (tfjs-core 4.22 expected)`);
    }
  }
  return e;
}

/** The tape nodes on a path from `xs` to `y`, inputs pruned to those depending on `xs`. */
export function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * Walks `tape` backwards from the gradients in `acc` (tensor id → gradient), like tfjs's
 * `backpropagateGradients`, disposing each node's output gradients and (when `freeSaved`) its saved
 * tensors once the node is done. A gradient object held by several entries (a gradient function
 * that returns `dy` itself) is disposed only when the last entry lets it go.
 */
export function backpropLean(
  acc: Map<number, tf.Tensor>,
  tape: TapeNode[],
  tidy: <T extends tf.TensorContainer>(f: () => T) => T,
  freeSaved: boolean,
): void {
  const holders = new Map<tf.Tensor, number>();
  for (const g of acc.values()) holders.set(g, (holders.get(g) ?? 0) + 1);
  const release = (g: tf.Tensor, keep: ReadonlySet<tf.Tensor>) => {
    const n = (holders.get(g) ?? 1) - 1;
    if (n > 0) holders.set(g, n);
    else {
      holders.delete(g);
      if (!keep.has(g)) g.dispose();
    }
  };
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
    if (!node.gradient) {
      throw new Error(
        `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
      );
    }
    const inputGradients = node.gradient(dys);
    const produced = new Set<tf.Tensor>();
    for (const [name, x] of Object.entries(node.inputs)) {
      if (!(name in inputGradients)) {
        throw new Error(
          `Cannot backprop through input ${name}. Available gradients found: ` +
            `${Object.keys(inputGradients)}.`,
        );
      }
      const dx = tidy(() => inputGradients[name]());
      if (dx.dtype !== "float32") {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have ` +
            `'float32' dtype, but has '${dx.dtype}'`,
        );
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has ` +
            `shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        );
      }
      produced.add(dx);
      const cur = acc.get(x.id);
      if (cur === undefined) {
        acc.set(x.id, dx);
        holders.set(dx, (holders.get(dx) ?? 0) + 1);
      } else {
        const sum = tf.add(cur, dx);
        acc.set(x.id, sum);
        holders.set(sum, (holders.get(sum) ?? 0) + 1);
        release(cur, new Set());
        // dx was read by the add; free it unless some entry holds it.
        if (!holders.has(dx) && !dys.includes(dx)) dx.dispose();
      }
    }
    // The node's output gradients are read by this node only (each tensor has one producer).
    for (const o of node.outputs) {
      const g = acc.get(o.id);
      if (g === undefined) continue;
      acc.delete(o.id);
      release(g, produced);
    }
    if (freeSaved && node.saved) {
      const saved = node.saved;
      node.saved = [];
      for (const t of saved) if (!holders.has(t)) t.dispose();
    }
  }
}

/**
 * Like `tf.variableGrads(f, varList)`: the value of `f` (a scalar) and the gradient of each
 * trainable variable in `varList` that `f` depends on, by variable name, with the backward pass's
 * intermediate tensors freed as it goes.
 */
export function leanVariableGrads(
  f: () => tf.Scalar,
  varList: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const e = engine();
  const xs = varList.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error("leanVariableGrads: no trainable variable given");
  const y = e.scopedRun(() => e.startTape(), () => e.endTape(), () => e.tidy("forward", f));
  if (!(y instanceof tf.Tensor) || y.rank !== 0) {
    throw new Error("leanVariableGrads: f must return a scalar tensor");
  }
  const tape = filterTape(e.state.activeTape ?? [], xs, y);
  const depth0 = e.state.gradientDepth === 0;
  const grads = e.tidy("backward", () => {
    const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
    backpropLean(acc, tape, (fn) => e.tidy(fn), depth0);
    const named: tf.NamedTensorMap = {};
    for (const x of xs) {
      const g = acc.get(x.id);
      if (g) named[x.name] = g;
    }
    if (depth0) {
      for (const node of e.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
      e.state.activeTape = null;
    }
    return named;
  });
  if (Object.keys(grads).length === 0) {
    throw new Error(
      "Cannot find a connection between any variable and the result of the loss function",
    );
  }
  return { value: y as tf.Scalar, grads };
}
