/**
 * torchvision ResNets (v1.5: the stride sits on the 3×3 conv of a bottleneck), NHWC, with a
 * `numClasses` head `fc`: ResNet50 (the paper's), and ResNet18/34 as CPU-sized options.
 *
 * Parameter names match torchvision's `state_dict` (`conv1`, `bn1`, `layer1.0.conv1`,
 * `layer2.0.downsample.0`/`.1`, `fc`), so weights map by name (see `lib/weights.ts`).
 * Initialisation follows torchvision: convolutions kaiming-normal (fan_out, ReLU gain), batch norm
 * weight 1 / bias 0, `fc` PyTorch's default U(±1/√fan_in).
 *
 * CAM taps: `paper` is the last block's last convolution output (`layer4[-1].conv3` for ResNet50,
 * `conv2` for the basic-block nets) before its batch norm and the residual add, as the CYBORG code
 * hooks it; `standard` is the `layer4` output (after the final ReLU), which feeds global pooling.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  batchNorm2d,
  conv2d,
  type ForwardContext,
  globalAvgPool,
  kaimingNormalFanOut,
  type Layer,
  linear,
  maxPool2d,
  ParamStore,
} from "../nn.ts";
import { Rng } from "../rng.ts";
import { IMAGENET_MEAN, IMAGENET_STD, outSize, resolveInputSize } from "./common.ts";
import type { Backbone, BackboneEntry, BackboneSpec, BuildOptions } from "./types.ts";

/** A residual block: output, plus the pre-batch-norm output of its last convolution. */
type Block = (x: tf.Tensor4D, ctx: ForwardContext) => { out: tf.Tensor4D; lastConv: tf.Tensor4D };

function convBn(
  store: ParamStore,
  conv: string,
  bn: string,
  cin: number,
  cout: number,
  kernel: number,
  stride: number,
  padding: number,
): { conv: Layer; bn: Layer } {
  return {
    conv: conv2d(store, conv, cin, cout, {
      kernel,
      stride,
      padding,
      init: kaimingNormalFanOut(cout, kernel, kernel),
    }),
    bn: batchNorm2d(store, bn, cout),
  };
}

function downsample(
  store: ParamStore,
  prefix: string,
  cin: number,
  cout: number,
  stride: number,
): Layer | undefined {
  if (stride === 1 && cin === cout) return undefined;
  const { conv, bn } = convBn(
    store,
    `${prefix}.downsample.0`,
    `${prefix}.downsample.1`,
    cin,
    cout,
    1,
    stride,
    0,
  );
  return (x, ctx) => bn(conv(x, ctx), ctx);
}

function basicBlock(
  store: ParamStore,
  prefix: string,
  cin: number,
  planes: number,
  stride: number,
): Block {
  const a = convBn(store, `${prefix}.conv1`, `${prefix}.bn1`, cin, planes, 3, stride, 1);
  const b = convBn(store, `${prefix}.conv2`, `${prefix}.bn2`, planes, planes, 3, 1, 1);
  const down = downsample(store, prefix, cin, planes, stride);
  return (x, ctx) => {
    const h = tf.relu(a.bn(a.conv(x, ctx), ctx));
    const lastConv = b.conv(h, ctx);
    const identity = down ? down(x, ctx) : x;
    return { out: tf.relu(tf.add(b.bn(lastConv, ctx), identity)), lastConv };
  };
}

function bottleneck(
  store: ParamStore,
  prefix: string,
  cin: number,
  planes: number,
  stride: number,
): Block {
  const cout = planes * 4;
  const a = convBn(store, `${prefix}.conv1`, `${prefix}.bn1`, cin, planes, 1, 1, 0);
  const b = convBn(store, `${prefix}.conv2`, `${prefix}.bn2`, planes, planes, 3, stride, 1);
  const c = convBn(store, `${prefix}.conv3`, `${prefix}.bn3`, planes, cout, 1, 1, 0);
  const down = downsample(store, prefix, cin, cout, stride);
  return (x, ctx) => {
    let h = tf.relu(a.bn(a.conv(x, ctx), ctx));
    h = tf.relu(b.bn(b.conv(h, ctx), ctx));
    const lastConv = c.conv(h, ctx);
    const identity = down ? down(x, ctx) : x;
    return { out: tf.relu(tf.add(c.bn(lastConv, ctx), identity)), lastConv };
  };
}

/** CAM grid of a torchvision ResNet: five stride-2 stages, each `floor((n-1)/2)+1`. */
function resnetGrid(size: number): number {
  let n = outSize(size, 7, 2, 3); // conv1
  n = outSize(n, 3, 2, 1); // maxpool
  for (let i = 0; i < 3; i++) n = outSize(n, 3, 2, 1); // layer2..4 first blocks
  return n;
}

/**
 * Builds the registry entry of a torchvision ResNet.
 * @param name registry key (`resnet18`, `resnet34`, `resnet50`)
 * @param kind `basic` (ResNet18/34) or `bottleneck` (ResNet50 and deeper)
 * @param layers blocks per stage, e.g. [3, 4, 6, 3]
 */
export function resnetEntry(
  name: string,
  kind: "basic" | "bottleneck",
  layers: [number, number, number, number],
): BackboneEntry {
  const expansion = kind === "bottleneck" ? 4 : 1;
  const featureDim = 512 * expansion;
  const last = `layer4.${layers[3] - 1}.${kind === "bottleneck" ? "conv3" : "conv2"}`;
  const spec: BackboneSpec = {
    name,
    description: `torchvision ${name} (${kind} blocks ${layers.join("-")}), 224 px, ` +
      `ImageNet normalisation, CAM grid ceil(size/32) (7x7 at 224)`,
    inputSize: 224,
    minInputSize: 32,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    featureDim,
    camTaps: {
      paper: `${last} output, before its batch norm and the residual add (the paper's hook)`,
      standard: "layer4 output after the final ReLU (the input of global average pooling)",
    },
    camGrid: resnetGrid,
  };
  return {
    spec,
    build(opts: BuildOptions): Backbone {
      const size = resolveInputSize(spec, opts.inputSize);
      const numClasses = opts.numClasses ?? 2;
      const store = new ParamStore(new Rng(opts.seed));
      const stem = convBn(store, "conv1", "bn1", 3, 64, 7, 2, 3);
      const blocks: Block[] = [];
      let cin = 64;
      layers.forEach((count, stage) => {
        const planes = 64 * 2 ** stage;
        for (let i = 0; i < count; i++) {
          const stride = i === 0 && stage > 0 ? 2 : 1;
          const prefix = `layer${stage + 1}.${i}`;
          blocks.push(
            kind === "bottleneck"
              ? bottleneck(store, prefix, cin, planes, stride)
              : basicBlock(store, prefix, cin, planes, stride),
          );
          cin = planes * expansion;
        }
      });
      const fc = linear(store, "fc", featureDim, numClasses);
      return {
        spec,
        store,
        inputSize: size,
        numClasses,
        classifierWeight: store.get("fc.weight"),
        forward(x: tf.Tensor4D, ctx: ForwardContext) {
          let h = tf.relu(stem.bn(stem.conv(x, ctx), ctx));
          h = maxPool2d(h, 3, 2, 1);
          let paper = h;
          for (const block of blocks) {
            const r = block(h, ctx);
            h = r.out;
            paper = r.lastConv;
          }
          return { logits: fc(globalAvgPool(h)), taps: { paper, standard: h } };
        },
      };
    },
  };
}

/** torchvision ResNet18 (basic blocks 2-2-2-2, 512-d features), a CPU-sized option. */
export const resnet18: BackboneEntry = resnetEntry("resnet18", "basic", [2, 2, 2, 2]);
/** torchvision ResNet34 (basic blocks 3-4-6-3, 512-d features). */
export const resnet34: BackboneEntry = resnetEntry("resnet34", "basic", [3, 4, 6, 3]);
/** torchvision ResNet50 (bottlenecks 3-4-6-3, 2048-d features): one of the paper's backbones. */
export const resnet50: BackboneEntry = resnetEntry("resnet50", "bottleneck", [3, 4, 6, 3]);
