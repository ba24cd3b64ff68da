/**
 * Small CNNs for CPU work on small images: `tinycnn` (the parity-test network) and `smallcnn`.
 * Each block is conv3×3 → BatchNorm → ReLU (→ 2×2 max pool), names `features.<i>.conv|bn`, then
 * global average pooling and `fc`. Paper-style CAM tap: the last conv's output before its batch
 * norm (as the paper taps ResNet50's layer4[-1].conv3); standard tap: after the final ReLU.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchNorm2d, conv2d, ForwardContext, globalAvgPool, linear, ParamStore } from "../nn.ts";
import { Rng } from "../rng.ts";
import type { Backbone, BackboneEntry, BackboneSpec, BuildOptions } from "./types.ts";

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Builds an entry for a plain CNN with the given channel widths (one 2×2 pool between blocks). */
export function plainCnnEntry(name: string, widths: number[], inputSize: number): BackboneEntry {
  const pools = widths.length - 1;
  const spec: BackboneSpec = {
    name,
    description: `plain CNN, ${widths.length} conv-bn-relu blocks (${widths.join("-")}), ` +
      `${pools} 2x2 max pools, CAM grid = input/${2 ** pools}`,
    inputSize,
    minInputSize: 2 ** pools,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    featureDim: widths[widths.length - 1],
    camTaps: {
      paper: `features.${widths.length - 1}.conv output, before its batch norm`,
      standard: "output of the last ReLU (the input of global pooling)",
    },
    camGrid: (s) => Math.floor(s / 2 ** pools),
  };
  return {
    spec,
    build(opts: BuildOptions): Backbone {
      const size = opts.inputSize ?? spec.inputSize;
      if (size < spec.minInputSize) {
        throw new Error(`${name}: input size ${size} is below the minimum ${spec.minInputSize}`);
      }
      const numClasses = opts.numClasses ?? 2;
      const store = new ParamStore(new Rng(opts.seed));
      const blocks = widths.map((w, i) => ({
        conv: conv2d(store, `features.${i}.conv`, i === 0 ? 3 : widths[i - 1], w, {
          kernel: 3,
          padding: 1,
        }),
        bn: batchNorm2d(store, `features.${i}.bn`, w),
      }));
      const fc = linear(store, "fc", spec.featureDim, numClasses);
      return {
        spec,
        store,
        inputSize: size,
        numClasses,
        classifierWeight: store.get("fc.weight"),
        forward(x: tf.Tensor4D, ctx: ForwardContext) {
          let h = x;
          let paper = x;
          blocks.forEach((b, i) => {
            const c = b.conv(h, ctx);
            if (i === blocks.length - 1) paper = c;
            h = tf.relu(b.bn(c, ctx));
            if (i < blocks.length - 1) h = tf.maxPool(h, 2, 2, "valid");
          });
          return { logits: fc(globalAvgPool(h)), taps: { paper, standard: h } };
        },
      };
    },
  };
}

/** Three blocks 4-8-8: the network of the PyTorch parity fixtures (tests/fixtures/cyborg_step). */
export const tinycnn: BackboneEntry = plainCnnEntry("tinycnn", [4, 8, 8], 16);

/** Three blocks 8-16-32 at 32 px (CAM grid 8×8): sized for the `quick` preset on 2 CPU cores. */
export const minicnn: BackboneEntry = plainCnnEntry("minicnn", [8, 16, 32], 32);

/** Four blocks 16-32-64-128 at 64 px (CAM grid 8×8). */
export const smallcnn: BackboneEntry = plainCnnEntry("smallcnn", [16, 32, 64, 128], 64);
