/**
 * The shape of a backbone: a registry entry (data about the network) plus a built model (its
 * parameters and forward function).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { ForwardContext, ParamStore } from "../nn.ts";

/** Which activation the CAM is computed from. */
export type CamTap = "paper" | "standard";

/** Facts about a backbone, as data (timm-style registry entry). */
export interface BackboneSpec {
  /** Registry key, e.g. `resnet50`. */
  name: string;
  /** One line for `--help` and reports. */
  description: string;
  /** Default square input size in pixels (224 ResNet/DenseNet, 299 Inception/Xception). */
  inputSize: number;
  /** Smallest input size the network accepts. */
  minInputSize: number;
  /** Per-channel normalisation applied to [0,1] RGB pixels: (x - mean) / std. */
  mean: [number, number, number];
  /** See {@linkcode BackboneSpec.mean}. */
  std: [number, number, number];
  /** Channels of the pooled feature vector (= classifier input = CAM channels). */
  featureDim: number;
  /** Human-readable description of each CAM tap (which layer, before/after what). */
  camTaps: Record<CamTap, string>;
  /** CAM grid side (feature map height = width) for a given input size. */
  camGrid(inputSize: number): number;
  /**
   * InceptionV3 only: the default of torchvision's `transform_input` (true: the paper always builds
   * it with `inception_v3(pretrained=True)`, which turns it on). Absent for networks without it.
   */
  transformInputDefault?: boolean;
}

/** Output of a forward pass. */
export interface ForwardOutput {
  /** Class logits [B, numClasses]; class 0 = Real, 1 = Synthetic. */
  logits: tf.Tensor2D;
  /** The two CAM feature taps, NHWC [B, h, w, featureDim]. */
  taps: Record<CamTap, tf.Tensor4D>;
}

/** A built network. */
export interface Backbone {
  /** Its registry entry. */
  spec: BackboneSpec;
  /** Parameters and buffers under torchvision names. */
  store: ParamStore;
  /** Input size it was built for. */
  inputSize: number;
  /** Number of classes of the head (2 in the kit). */
  numClasses: number;
  /** Classifier weight [featureDim, numClasses] (torch `fc.weight` transposed). */
  classifierWeight: tf.Variable;
  /**
   * InceptionV3 only: torchvision's `transform_input` (re-map ImageNet-normalised input to the
   * (x-0.5)/0.5 normalisation the ported Google weights expect), read at every forward call. On by
   * default, as in the paper; `lib/weights.ts` and `lib/checkpoint.ts` set it from the weights'
   * `transform_input` metadata, `--transform-input` overrides it.
   */
  transformInput?: boolean;
  /** Runs the network on a normalised NHWC batch. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): ForwardOutput;
}

/** Options for building a backbone. */
export interface BuildOptions {
  /** Seed for weight initialisation. */
  seed: number;
  /** Input size (defaults to the spec's). */
  inputSize?: number;
  /** Number of classes (default 2). */
  numClasses?: number;
  /** InceptionV3 only: torchvision's `transform_input` (default `spec.transformInputDefault`). */
  transformInput?: boolean;
}

/** A registry entry: the spec plus a builder. */
export interface BackboneEntry {
  /** Facts about the network. */
  spec: BackboneSpec;
  /** Builds a freshly initialised network. */
  build(opts: BuildOptions): Backbone;
}
