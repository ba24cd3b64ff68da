/**
 * Xception as the CYBORG code uses it: the FaceForensics++ copy of Cadene's `xception.py`
 * (`conv1`/`bn1`, `conv2`/`bn2`, `block1`..`block12`, `conv3`/`bn3`, `conv4`/`bn4`, `fc`), NHWC,
 * inputs normalised with mean = std = 0.5.
 *
 * `SeparableConv2d` is a depthwise 3×3 convolution `conv1` followed by a pointwise 1×1 `pointwise`
 * (no biases). A `Block` has an optional `skip` 1×1 convolution + `skipbn`, and `rep`, a sequence of
 * (ReLU, SeparableConv2d, BatchNorm) triplets, whose indices are kept so names match the original
 * `state_dict` (`block1.rep.0.conv1.weight`, `block1.rep.1.weight`, ...). The original's
 * `init_weights` block is commented out, so everything uses PyTorch's defaults: convolution and
 * `fc` weights U(±1/√fan_in) (fan_in of a depthwise kernel is 9), batch norm 1/0.
 *
 * The FF++ wrapper renames `fc` to `last_linear` and nests the net under `model.`; `lib/weights.ts`
 * maps those names back (`model.last_linear.weight` → `fc.weight`).
 *
 * CAM taps: `paper` is `conv4`'s output before `bn4` (the paper's hook); `standard` is
 * `relu(bn4(conv4))`, the input of global average pooling. Grid 10×10 at 299 px.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  batchNorm2d,
  conv2d,
  type ForwardContext,
  globalAvgPool,
  type Layer,
  linear,
  maxPool2d,
  ParamStore,
} from "../nn.ts";
import { Rng } from "../rng.ts";
import { outSize, resolveInputSize } from "./common.ts";
import type { Backbone, BackboneEntry, BackboneSpec, BuildOptions } from "./types.ts";

/** Depthwise `<p>.conv1` (k×k) then pointwise `<p>.pointwise` (1×1). */
function separable(
  s: ParamStore,
  p: string,
  cin: number,
  cout: number,
  kernel = 3,
  padding = 1,
): Layer {
  const dw = conv2d(s, `${p}.conv1`, cin, cin, { kernel, padding, depthwise: true });
  const pw = conv2d(s, `${p}.pointwise`, cin, cout, { kernel: 1 });
  return (x, ctx) => pw(dw(x, ctx), ctx);
}

/** One Xception block, with the original's `rep` indexing. */
function block(
  s: ParamStore,
  p: string,
  cin: number,
  cout: number,
  reps: number,
  stride: number,
  startWithRelu: boolean,
  growFirst: boolean,
): Layer {
  let skip: Layer | undefined;
  if (cout !== cin || stride !== 1) {
    const conv = conv2d(s, `${p}.skip`, cin, cout, { kernel: 1, stride });
    const bn = batchNorm2d(s, `${p}.skipbn`, cout);
    skip = (x, ctx) => bn(conv(x, ctx), ctx);
  }
  // The (in, out) channels of each SeparableConv2d in `rep`, in order.
  const convs: [number, number][] = [];
  if (growFirst) convs.push([cin, cout]);
  const mid = growFirst ? cout : cin;
  for (let i = 0; i < reps - 1; i++) convs.push([mid, mid]);
  if (!growFirst) convs.push([cin, cout]);
  // Triplets (ReLU, conv, BN) at rep indices 3i, 3i+1, 3i+2; without the leading ReLU all shift by 1.
  const shift = startWithRelu ? 0 : -1;
  const steps = convs.map(([a, b], i) => ({
    relu: i > 0 || startWithRelu,
    conv: separable(s, `${p}.rep.${3 * i + 1 + shift}`, a, b),
    bn: batchNorm2d(s, `${p}.rep.${3 * i + 2 + shift}`, b),
  }));
  return (x, ctx) => {
    let h = x;
    for (const st of steps) {
      if (st.relu) h = tf.relu(h);
      h = st.bn(st.conv(h, ctx), ctx);
    }
    if (stride !== 1) h = maxPool2d(h, 3, stride, 1);
    return tf.add(h, skip ? skip(x, ctx) : x);
  };
}

/** conv4 grid side: conv1 (3×3/2, no pad), conv2 (3×3, no pad), four stride-2 blocks. */
function xceptionGrid(size: number): number {
  let n = outSize(outSize(size, 3, 2), 3, 1);
  for (let i = 0; i < 4; i++) n = outSize(n, 3, 2, 1);
  return n;
}

const spec: BackboneSpec = {
  name: "xception",
  description: "Xception (FaceForensics++/Cadene, as in the CYBORG code), 299 px, " +
    "mean=std=0.5 normalisation, CAM grid 10x10 at 299",
  inputSize: 299,
  minInputSize: 7, // conv2 needs a 3x3 input: floor((size-3)/2)+1 >= 3
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  featureDim: 2048,
  camTaps: {
    paper: "conv4 output, before bn4 (the paper's hook)",
    standard: "relu(bn4(conv4)) (the input of global average pooling)",
  },
  camGrid: xceptionGrid,
};

/** Xception with a `numClasses` head `fc` (2048-d features): one of the paper's backbones. */
export const xception: BackboneEntry = {
  spec,
  build(opts: BuildOptions): Backbone {
    const size = resolveInputSize(spec, opts.inputSize);
    const numClasses = opts.numClasses ?? 2;
    const s = new ParamStore(new Rng(opts.seed));
    const conv1 = conv2d(s, "conv1", 3, 32, { kernel: 3, stride: 2 });
    const bn1 = batchNorm2d(s, "bn1", 32);
    const conv2 = conv2d(s, "conv2", 32, 64, { kernel: 3 });
    const bn2 = batchNorm2d(s, "bn2", 64);
    const blocks: Layer[] = [
      block(s, "block1", 64, 128, 2, 2, false, true),
      block(s, "block2", 128, 256, 2, 2, true, true),
      block(s, "block3", 256, 728, 2, 2, true, true),
    ];
    for (let i = 4; i <= 11; i++) blocks.push(block(s, `block${i}`, 728, 728, 3, 1, true, true));
    blocks.push(block(s, "block12", 728, 1024, 2, 2, true, false));
    const conv3 = separable(s, "conv3", 1024, 1536);
    const bn3 = batchNorm2d(s, "bn3", 1536);
    const conv4 = separable(s, "conv4", 1536, 2048);
    const bn4 = batchNorm2d(s, "bn4", 2048);
    const fc = linear(s, "fc", 2048, numClasses);
    return {
      spec,
      store: s,
      inputSize: size,
      numClasses,
      classifierWeight: s.get("fc.weight"),
      forward(x: tf.Tensor4D, ctx: ForwardContext) {
        let h = tf.relu(bn1(conv1(x, ctx), ctx));
        h = tf.relu(bn2(conv2(h, ctx), ctx));
        for (const b of blocks) h = b(h, ctx);
        h = tf.relu(bn3(conv3(h, ctx), ctx));
        const paper = conv4(h, ctx);
        const standard = tf.relu(bn4(paper, ctx));
        return { logits: fc(globalAvgPool(standard)), taps: { paper, standard } };
      },
    };
  },
};
