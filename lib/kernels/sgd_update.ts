/**
 * Fused SGD-with-momentum update (PyTorch semantics, dampening 0): two kernels per parameter
 * instead of six elementwise ops.
 *
 *     buf' = momentum·buf + (g + wd·p)        (KitSgdBuffer)
 *     p'   = p − lr·buf'                      (KitSgdParam; lr a device scalar)
 *
 * With momentum 0 the buffer kernel computes `g + wd·p` (the buffer is not kept). Registered for the
 * `webgpu` and `cpu` backends.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { ElementwiseProgram } from "./elementwise.ts";
import { stockKernelsRequested } from "./stock_switch.ts";
import type { WebGpuBackendLike } from "./webgpu_types.ts";

/** Kernel names (kit-private). */
export const SGD_BUFFER = "KitSgdBuffer";
/** See {@linkcode SGD_BUFFER}. */
export const SGD_PARAM = "KitSgdParam";

interface SgdAttrs {
  momentum: number;
  weightDecay: number;
}

interface CpuBackendLike {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo;
}

const gpu = (backend: unknown) => backend as WebGpuBackendLike;
const cpuValues = (backend: unknown, t: TensorInfo) =>
  (backend as CpuBackendLike).data.get(t.dataId).values;

/** The update kernels for webgpu and cpu. */
export const SGD_KERNELS: KernelConfig[] = [
  {
    kernelName: SGD_BUFFER,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { buf, g, p } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as SgdAttrs;
      const program = new ElementwiseProgram(
        "sgdBuffer",
        ["buf", "g", "p"],
        p.shape,
        "momentum : f32, wd : f32,",
        "let gw = g[index] + uniforms.wd * p[index];\n" +
          "    let value = uniforms.momentum * buf[index] + gw;",
      );
      return gpu(backend).runWebGPUProgram(program, [buf, g, p], "float32", [
        { type: "float32", data: [a.momentum] },
        { type: "float32", data: [a.weightDecay] },
      ]);
    },
  },
  {
    kernelName: SGD_PARAM,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { p, update, lr } = inputs as Record<string, TensorInfo>;
      const program = new ElementwiseProgram(
        "sgdParam",
        ["p", "update", "lr"],
        p.shape,
        "",
        "let value = p[index] - lr[0] * update[index];",
      );
      return gpu(backend).runWebGPUProgram(program, [p, update, lr], "float32");
    },
  },
  {
    kernelName: SGD_BUFFER,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { buf, g, p } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as SgdAttrs;
      const [bv, gv, pv] = [buf, g, p].map((t) => cpuValues(backend, t));
      const out = new Float32Array(pv.length);
      for (let i = 0; i < out.length; i++) {
        out[i] = Math.fround(a.momentum * bv[i]) + Math.fround(gv[i] + a.weightDecay * pv[i]);
      }
      return (backend as CpuBackendLike).makeTensorInfo(p.shape, "float32", out);
    },
  },
  {
    kernelName: SGD_PARAM,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend }) => {
      const { p, update, lr } = inputs as Record<string, TensorInfo>;
      const [pv, uv, lv] = [p, update, lr].map((t) => cpuValues(backend, t));
      const out = new Float32Array(pv.length);
      for (let i = 0; i < out.length; i++) out[i] = pv[i] - Math.fround(lv[0] * uv[i]);
      return (backend as CpuBackendLike).makeTensorInfo(p.shape, "float32", out);
    },
  },
];

/** Registers the update kernels (idempotent). */
export function registerSgdKernels(): void {
  for (const k of SGD_KERNELS) {
    if (!tf.getKernel(k.kernelName, k.backendName)) tf.registerKernel(k);
  }
}

/** True when {@linkcode sgdUpdate} serves the current backend and stock kernels are not asked for. */
export function sgdUpdateSupported(): boolean {
  const b = tf.getBackend();
  return (b === "webgpu" || b === "cpu" || b === "wasm") && !stockKernelsRequested();
}

/**
 * One fused update: returns `[newParam, newBuffer]` where `newBuffer = momentum·buf + g + wd·p`
 * and `newParam = p − lr·newBuffer`. `lr` is a scalar tensor (kept on the device). With `inPlace`
 * the caller replaces `p` and `buf` by the results and reads them no more (`Sgd.step`): a backend
 * may then write the results over their storage (the wasm backend's native kernels do, for large
 * tensors no other tensor shares).
 */
export function sgdUpdate(
  p: tf.Tensor,
  g: tf.Tensor,
  buf: tf.Tensor,
  lr: tf.Scalar,
  momentum: number,
  weightDecay: number,
  inPlace = false,
): [tf.Tensor, tf.Tensor] {
  registerSgdKernels();
  const update = tf.engine().runKernel(SGD_BUFFER, { buf, g, p }, {
    momentum,
    weightDecay,
    inPlace,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const next = tf.engine().runKernel(SGD_PARAM, { p, update, lr }, {
    inPlace,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return [next, update];
}
