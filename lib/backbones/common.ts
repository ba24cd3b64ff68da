/**
 * Small helpers shared by the torchvision-style backbones (ResNet, DenseNet, InceptionV3,
 * Xception): normalisation constants, output-size arithmetic with PyTorch's floor semantics, and
 * input-size validation.
 *
 * @module
 */
import type { BackboneSpec } from "./types.ts";

/** ImageNet channel means, as torchvision's `transforms.Normalize` uses them. */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations. */
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/**
 * Output side of a PyTorch convolution / pooling window (no dilation, floor mode):
 * `floor((n + 2p - k) / s) + 1`. Returns 0 or less when the window does not fit.
 */
export function outSize(n: number, kernel: number, stride: number, padding = 0): number {
  return Math.floor((n + 2 * padding - kernel) / stride) + 1;
}

/**
 * Resolves and checks the input size of a build: an integer of at least `spec.minInputSize`.
 * The error names the option, the network and the limit.
 */
export function resolveInputSize(spec: BackboneSpec, inputSize: number | undefined): number {
  const size = inputSize ?? spec.inputSize;
  if (!Number.isInteger(size) || size < spec.minInputSize) {
    throw new Error(
      `inputSize: ${spec.name} cannot take ${size}x${size} images ` +
        `(needs an integer of at least ${spec.minInputSize} px; default ${spec.inputSize})`,
    );
  }
  return size;
}
