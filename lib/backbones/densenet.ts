/**
 * torchvision DenseNet121 (growth 32, blocks 6-12-24-16, bottleneck width 4·32, no dropout), NHWC,
 * with a `numClasses` head `classifier`.
 *
 * Parameter names match torchvision's `state_dict` (`features.conv0`, `features.norm0`,
 * `features.denseblock1.denselayer1.norm1|conv1|norm2|conv2`, `features.transition1.norm|conv`,
 * `features.norm5`, `classifier`). Initialisation follows torchvision: convolutions
 * kaiming-normal (fan_in, ReLU gain), batch norm 1/0, classifier weight U(±1/√fan_in), bias 0.
 *
 * CAM taps: `paper` is `features.norm5`'s output before the final ReLU (the CYBORG code calls
 * `model.features(x)`); `standard` is that after the ReLU (the input of global average pooling).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  avgPool2d,
  batchNorm2d,
  conv2d,
  type ForwardContext,
  globalAvgPool,
  type Init,
  type Layer,
  linear,
  maxPool2d,
  ParamStore,
} from "../nn.ts";
import { Rng } from "../rng.ts";
import { IMAGENET_MEAN, IMAGENET_STD, outSize, resolveInputSize } from "./common.ts";
import type { Backbone, BackboneEntry, BackboneSpec, BuildOptions } from "./types.ts";

/** kaiming_normal_ with torchvision's defaults (mode fan_in, gain √2). */
function kaimingFanIn(cin: number, k: number): Init {
  return { kind: "normal", std: Math.sqrt(2 / (cin * k * k)) };
}

function denseLayer(
  store: ParamStore,
  prefix: string,
  cin: number,
  growth: number,
  bnSize: number,
): Layer {
  const mid = bnSize * growth;
  const norm1 = batchNorm2d(store, `${prefix}.norm1`, cin);
  const conv1 = conv2d(store, `${prefix}.conv1`, cin, mid, {
    kernel: 1,
    init: kaimingFanIn(cin, 1),
  });
  const norm2 = batchNorm2d(store, `${prefix}.norm2`, mid);
  const conv2 = conv2d(store, `${prefix}.conv2`, mid, growth, {
    kernel: 3,
    padding: 1,
    init: kaimingFanIn(mid, 3),
  });
  return (x, ctx) => {
    const h = conv1(tf.relu(norm1(x, ctx)), ctx);
    return conv2(tf.relu(norm2(h, ctx)), ctx);
  };
}

/** CAM grid: stem stride 4 (conv0 + pool0), then three 2×2 average-pool transitions (floor). */
function densenetGrid(size: number): number {
  let n = outSize(outSize(size, 7, 2, 3), 3, 2, 1);
  for (let i = 0; i < 3; i++) n = outSize(n, 2, 2);
  return n;
}

/**
 * Builds the registry entry of a torchvision DenseNet.
 * @param name registry key
 * @param blockConfig layers per dense block (DenseNet121: [6, 12, 24, 16])
 * @param growth growth rate (32)
 * @param initFeatures channels of the stem (64)
 */
export function densenetEntry(
  name: string,
  blockConfig: number[],
  growth = 32,
  initFeatures = 64,
  bnSize = 4,
): BackboneEntry {
  let featureDim = initFeatures;
  blockConfig.forEach((n, i) => {
    featureDim += n * growth;
    if (i < blockConfig.length - 1) featureDim = Math.floor(featureDim / 2);
  });
  const spec: BackboneSpec = {
    name,
    description: `torchvision ${name} (growth ${growth}, blocks ${blockConfig.join("-")}), ` +
      `224 px, ImageNet normalisation, CAM grid 7x7 at 224`,
    inputSize: 224,
    minInputSize: 29, // the last transition needs a 2x2 input: ceil(size/4) >= 8
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    featureDim,
    camTaps: {
      paper: "features.norm5 output, before the final ReLU (model.features(x) in the paper)",
      standard: "features.norm5 output after the final ReLU (the input of global pooling)",
    },
    camGrid: densenetGrid,
  };
  return {
    spec,
    build(opts: BuildOptions): Backbone {
      const size = resolveInputSize(spec, opts.inputSize);
      const numClasses = opts.numClasses ?? 2;
      const store = new ParamStore(new Rng(opts.seed));
      const conv0 = conv2d(store, "features.conv0", 3, initFeatures, {
        kernel: 7,
        stride: 2,
        padding: 3,
        init: kaimingFanIn(3, 7),
      });
      const norm0 = batchNorm2d(store, "features.norm0", initFeatures);
      const stages: Layer[] = [];
      let ch = initFeatures;
      blockConfig.forEach((count, b) => {
        const layers: Layer[] = [];
        for (let i = 0; i < count; i++) {
          layers.push(
            denseLayer(
              store,
              `features.denseblock${b + 1}.denselayer${i + 1}`,
              ch + i * growth,
              growth,
              bnSize,
            ),
          );
        }
        ch += count * growth;
        stages.push((x, ctx) => {
          const feats: tf.Tensor4D[] = [x];
          for (const layer of layers) {
            const input = feats.length === 1 ? x : tf.concat(feats, 3);
            feats.push(layer(input, ctx));
          }
          return tf.concat(feats, 3);
        });
        if (b < blockConfig.length - 1) {
          const prefix = `features.transition${b + 1}`;
          const norm = batchNorm2d(store, `${prefix}.norm`, ch);
          const out = Math.floor(ch / 2);
          const conv = conv2d(store, `${prefix}.conv`, ch, out, {
            kernel: 1,
            init: kaimingFanIn(ch, 1),
          });
          ch = out;
          stages.push((x, ctx) => avgPool2d(conv(tf.relu(norm(x, ctx)), ctx), 2, 2));
        }
      });
      const norm5 = batchNorm2d(store, "features.norm5", ch);
      const classifier = linear(store, "classifier", featureDim, numClasses);
      const bias = store.get("classifier.bias");
      tf.tidy(() => bias.assign(tf.zerosLike(bias))); // torchvision: constant_(m.bias, 0)
      return {
        spec,
        store,
        inputSize: size,
        numClasses,
        classifierWeight: store.get("classifier.weight"),
        forward(x: tf.Tensor4D, ctx: ForwardContext) {
          let h = maxPool2d(tf.relu(norm0(conv0(x, ctx), ctx)), 3, 2, 1);
          for (const stage of stages) h = stage(h, ctx);
          const paper = norm5(h, ctx);
          const standard = tf.relu(paper);
          return { logits: classifier(globalAvgPool(standard)), taps: { paper, standard } };
        },
      };
    },
  };
}

/** torchvision DenseNet121 (1024-d features): one of the paper's backbones. */
export const densenet121: BackboneEntry = densenetEntry("densenet121", [6, 12, 24, 16]);
