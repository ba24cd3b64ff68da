/**
 * The convolution geometry the kit's GEMM kernels (WebGPU and wasm) accept: NHWC float32 inputs,
 * via tfjs's `computeConv2DInfo`; anything else is a reason string, and the caller falls back to
 * tfjs's stock kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { backend_util, TensorInfo } from "@tensorflow/tfjs-core";

/** The attributes every conv kernel (forward and both gradients) carries. */
export interface ConvAttrs {
  /** Strides. */
  strides: number | [number, number];
  /** Padding. */
  pad: "valid" | "same" | number | backend_util.ExplicitPadding;
  /** Layout; NCHW is refused. */
  dataFormat?: "NHWC" | "NCHW";
  /** Rounding of the output size with numeric padding. */
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/**
 * `Conv2DInfo` of an NHWC convolution of `inputShape` by `filterShape`, or why the kit does not
 * serve it (`NCHW layout`, `non-float32 input`). `tensors` are the call's inputs (dtypes checked).
 */
export function nhwcFloat32ConvInfo(
  inputShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
  tensors: TensorInfo[],
): backend_util.Conv2DInfo | string {
  if (attrs.dataFormat === "NCHW") return "NCHW layout";
  if (tensors.some((t) => t.dtype !== "float32")) return "non-float32 input";
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
}

/** Convolution geometry fields shared by the conv kernels (from `backend_util.Conv2DInfo`). */
export function convGeometry(info: backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}
