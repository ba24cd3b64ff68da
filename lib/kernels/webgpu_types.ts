/**
 * The slice of tfjs's `WebGPUBackend` the kit's kernels use, typed structurally so the kernels
 * do not depend on the backend package's internal class.
 *
 * @module
 */
import type { DataType, TensorInfo } from "@tensorflow/tfjs-core";

/** A uniform value as `runWebGPUProgram` takes it. */
export interface ProgramUniform {
  /** WGSL type of the field. */
  type: "int32" | "uint32" | "float32";
  /** Its values (1 for a scalar). */
  data: number[];
}

/** The structural shape of a tfjs WebGPU program (see tfjs-backend-webgpu `WebGPUProgram`). */
export interface WebGpuProgramLike {
  /** Input binding names. */
  variableNames: string[];
  /** Output shape. */
  outputShape: number[];
  /** Shader cache key. */
  shaderKey: string;
  /** Output dimension grouping. */
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  /** Workgroup counts. */
  dispatch: [number, number, number];
  /** Invocations per workgroup. */
  workgroupSize: [number, number, number];
  /** Program-defined uniform struct members. */
  uniforms?: string;
  /** True when tfjs should append a `size` uniform. */
  size?: boolean;
  /** WGSL body. */
  getUserCode(): string;
}

/** What the kit's kernels call on the WebGPU backend. */
export interface WebGpuBackendLike {
  /** Compiles (cached) and records a program; returns the output tensor info. */
  runWebGPUProgram(
    program: WebGpuProgramLike,
    inputs: TensorInfo[],
    outputDtype: DataType,
    programDefinedUniform?: ProgramUniform[],
    output?: TensorInfo,
  ): TensorInfo;
  /** Releases a tensor's data (its buffer goes back to the pool once the queue is submitted). */
  disposeData(dataId: object, force?: boolean): boolean;
  /** The GPU device. */
  device: GPUDevice;
  /** The device queue. */
  queue: GPUQueue;
}
