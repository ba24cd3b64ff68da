/**
 * torchvision InceptionV3 without the auxiliary classifier (`aux_logits=False`), NHWC, with a
 * `numClasses` head `fc` and torchvision's dropout (p = 0.5, training only) before it.
 *
 * Parameter names match torchvision's `state_dict` (`Conv2d_1a_3x3.conv|bn`,
 * `Mixed_5b.branch1x1.conv|bn`, ..., `Mixed_7c.branch_pool.conv|bn`, `fc`); every BasicConv2d
 * batch norm uses eps = 0.001. Initialisation follows torchvision's `init_weights=True`:
 * convolution and `fc` weights truncated normal with std 0.1 cut at ±2 (absolute, i.e. ±20σ, so a
 * plain normal here), batch norm 1/0, `fc` bias PyTorch's default U(±1/√2048).
 *
 * `transform_input`: torchvision turns it on for its ImageNet weights; the model then re-maps an
 * ImageNet-normalised input to (x-0.5)/0.5 normalisation. The paper always builds InceptionV3 with
 * `inception_v3(pretrained=True, aux_logits=False)`, so every paper checkpoint, in training and in
 * test.py, has it on. Here it is `Backbone.transformInput`: on by default
 * (`spec.transformInputDefault`), off with `BuildOptions.transformInput: false`, and set from the
 * weights' `transform_input` metadata by `lib/weights.ts` / `lib/checkpoint.ts`.
 *
 * CAM taps: both are the `Mixed_7c` output (the paper's hook, which is also the input of global
 * average pooling). Grid 8×8 at 299 px; the smallest input is 75 px (1×1 grid).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { c } from "../consts.ts";
import {
  avgPool2d,
  batchNorm2d,
  conv2d,
  type ForwardContext,
  globalAvgPool,
  type Layer,
  linear,
  ParamStore,
} from "../nn.ts";
import { Rng } from "../rng.ts";
import { IMAGENET_MEAN, IMAGENET_STD, outSize, resolveInputSize } from "./common.ts";
import type { Backbone, BackboneEntry, BackboneSpec, BuildOptions } from "./types.ts";

const STD = 0.1;
/** torchvision's dropout before `fc` (active in training mode only). */
const DROPOUT = 0.5;

type K = number | [number, number];

/** BasicConv2d: conv (no bias) → batch norm (eps 0.001) → ReLU, names `<p>.conv`, `<p>.bn`. */
function basic(
  store: ParamStore,
  p: string,
  cin: number,
  cout: number,
  kernel: K,
  opts: { stride?: number; padding?: K } = {},
): Layer {
  const conv = conv2d(store, `${p}.conv`, cin, cout, {
    kernel,
    stride: opts.stride ?? 1,
    padding: opts.padding ?? 0,
    init: { kind: "normal", std: STD },
  });
  const bn = batchNorm2d(store, `${p}.bn`, cout, { eps: 0.001 });
  return (x, ctx) => tf.relu(bn(conv(x, ctx), ctx));
}

const cat = (xs: tf.Tensor4D[]): tf.Tensor4D => tf.concat(xs, 3);
const maxPool3s2 = (x: tf.Tensor4D): tf.Tensor4D => tf.maxPool(x, 3, 2, "valid");

function inceptionA(s: ParamStore, p: string, cin: number, poolFeatures: number): Layer {
  const b1 = basic(s, `${p}.branch1x1`, cin, 64, 1);
  const b5a = basic(s, `${p}.branch5x5_1`, cin, 48, 1);
  const b5b = basic(s, `${p}.branch5x5_2`, 48, 64, 5, { padding: 2 });
  const d1 = basic(s, `${p}.branch3x3dbl_1`, cin, 64, 1);
  const d2 = basic(s, `${p}.branch3x3dbl_2`, 64, 96, 3, { padding: 1 });
  const d3 = basic(s, `${p}.branch3x3dbl_3`, 96, 96, 3, { padding: 1 });
  const bp = basic(s, `${p}.branch_pool`, cin, poolFeatures, 1);
  return (x, ctx) =>
    cat([
      b1(x, ctx),
      b5b(b5a(x, ctx), ctx),
      d3(d2(d1(x, ctx), ctx), ctx),
      bp(avgPool2d(x, 3, 1, 1), ctx),
    ]);
}

function inceptionB(s: ParamStore, p: string, cin: number): Layer {
  const b3 = basic(s, `${p}.branch3x3`, cin, 384, 3, { stride: 2 });
  const d1 = basic(s, `${p}.branch3x3dbl_1`, cin, 64, 1);
  const d2 = basic(s, `${p}.branch3x3dbl_2`, 64, 96, 3, { padding: 1 });
  const d3 = basic(s, `${p}.branch3x3dbl_3`, 96, 96, 3, { stride: 2 });
  return (x, ctx) => cat([b3(x, ctx), d3(d2(d1(x, ctx), ctx), ctx), maxPool3s2(x)]);
}

function inceptionC(s: ParamStore, p: string, cin: number, c7: number): Layer {
  const b1 = basic(s, `${p}.branch1x1`, cin, 192, 1);
  const a1 = basic(s, `${p}.branch7x7_1`, cin, c7, 1);
  const a2 = basic(s, `${p}.branch7x7_2`, c7, c7, [1, 7], { padding: [0, 3] });
  const a3 = basic(s, `${p}.branch7x7_3`, c7, 192, [7, 1], { padding: [3, 0] });
  const d1 = basic(s, `${p}.branch7x7dbl_1`, cin, c7, 1);
  const d2 = basic(s, `${p}.branch7x7dbl_2`, c7, c7, [7, 1], { padding: [3, 0] });
  const d3 = basic(s, `${p}.branch7x7dbl_3`, c7, c7, [1, 7], { padding: [0, 3] });
  const d4 = basic(s, `${p}.branch7x7dbl_4`, c7, c7, [7, 1], { padding: [3, 0] });
  const d5 = basic(s, `${p}.branch7x7dbl_5`, c7, 192, [1, 7], { padding: [0, 3] });
  const bp = basic(s, `${p}.branch_pool`, cin, 192, 1);
  return (x, ctx) =>
    cat([
      b1(x, ctx),
      a3(a2(a1(x, ctx), ctx), ctx),
      d5(d4(d3(d2(d1(x, ctx), ctx), ctx), ctx), ctx),
      bp(avgPool2d(x, 3, 1, 1), ctx),
    ]);
}

function inceptionD(s: ParamStore, p: string, cin: number): Layer {
  const a1 = basic(s, `${p}.branch3x3_1`, cin, 192, 1);
  const a2 = basic(s, `${p}.branch3x3_2`, 192, 320, 3, { stride: 2 });
  const b1 = basic(s, `${p}.branch7x7x3_1`, cin, 192, 1);
  const b2 = basic(s, `${p}.branch7x7x3_2`, 192, 192, [1, 7], { padding: [0, 3] });
  const b3 = basic(s, `${p}.branch7x7x3_3`, 192, 192, [7, 1], { padding: [3, 0] });
  const b4 = basic(s, `${p}.branch7x7x3_4`, 192, 192, 3, { stride: 2 });
  return (x, ctx) =>
    cat([a2(a1(x, ctx), ctx), b4(b3(b2(b1(x, ctx), ctx), ctx), ctx), maxPool3s2(x)]);
}

function inceptionE(s: ParamStore, p: string, cin: number): Layer {
  const b1 = basic(s, `${p}.branch1x1`, cin, 320, 1);
  const a1 = basic(s, `${p}.branch3x3_1`, cin, 384, 1);
  const a2a = basic(s, `${p}.branch3x3_2a`, 384, 384, [1, 3], { padding: [0, 1] });
  const a2b = basic(s, `${p}.branch3x3_2b`, 384, 384, [3, 1], { padding: [1, 0] });
  const d1 = basic(s, `${p}.branch3x3dbl_1`, cin, 448, 1);
  const d2 = basic(s, `${p}.branch3x3dbl_2`, 448, 384, 3, { padding: 1 });
  const d3a = basic(s, `${p}.branch3x3dbl_3a`, 384, 384, [1, 3], { padding: [0, 1] });
  const d3b = basic(s, `${p}.branch3x3dbl_3b`, 384, 384, [3, 1], { padding: [1, 0] });
  const bp = basic(s, `${p}.branch_pool`, cin, 192, 1);
  return (x, ctx) => {
    const a = a1(x, ctx);
    const d = d2(d1(x, ctx), ctx);
    return cat([
      b1(x, ctx),
      a2a(a, ctx),
      a2b(a, ctx),
      d3a(d, ctx),
      d3b(d, ctx),
      bp(avgPool2d(x, 3, 1, 1), ctx),
    ]);
  };
}

/** Mixed_7c grid side for an input size (0 or less: the network cannot take it). */
function inceptionGrid(size: number): number {
  let n = outSize(size, 3, 2); // Conv2d_1a_3x3
  n = outSize(n, 3, 1); // Conv2d_2a_3x3 (2b keeps the size)
  n = outSize(n, 3, 2); // maxpool1 (3b keeps the size)
  n = outSize(n, 3, 1); // Conv2d_4a_3x3
  n = outSize(n, 3, 2); // maxpool2
  n = outSize(n, 3, 2); // Mixed_6a
  return outSize(n, 3, 2); // Mixed_7a
}

/** torchvision's `_transform_input` as per-channel scale and shift (NHWC, last axis). */
const TRANSFORM_SCALE = [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5];
const TRANSFORM_SHIFT = [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5];

const spec: BackboneSpec = {
  name: "inception_v3",
  description: "torchvision InceptionV3 without aux logits, 299 px, ImageNet normalisation " +
    "(transform_input on, as in the paper), CAM grid 8x8 at 299",
  inputSize: 299,
  minInputSize: 75,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  featureDim: 2048,
  camTaps: {
    paper: "Mixed_7c output (the paper's hook)",
    standard: "Mixed_7c output (the input of global average pooling; same as paper)",
  },
  camGrid: inceptionGrid,
  transformInputDefault: true,
};

/** torchvision InceptionV3 (`aux_logits=False`, 2048-d features): one of the paper's backbones. */
export const inceptionV3: BackboneEntry = {
  spec,
  build(opts: BuildOptions): Backbone {
    const size = resolveInputSize(spec, opts.inputSize);
    const numClasses = opts.numClasses ?? 2;
    const store = new ParamStore(new Rng(opts.seed));
    const dropoutRng = new Rng(opts.seed).fork("inception_v3/dropout");
    const stem: Layer[] = [
      basic(store, "Conv2d_1a_3x3", 3, 32, 3, { stride: 2 }),
      basic(store, "Conv2d_2a_3x3", 32, 32, 3),
      basic(store, "Conv2d_2b_3x3", 32, 64, 3, { padding: 1 }),
      maxPool3s2,
      basic(store, "Conv2d_3b_1x1", 64, 80, 1),
      basic(store, "Conv2d_4a_3x3", 80, 192, 3),
      maxPool3s2,
    ];
    const mixed: Layer[] = [
      inceptionA(store, "Mixed_5b", 192, 32),
      inceptionA(store, "Mixed_5c", 256, 64),
      inceptionA(store, "Mixed_5d", 288, 64),
      inceptionB(store, "Mixed_6a", 288),
      inceptionC(store, "Mixed_6b", 768, 128),
      inceptionC(store, "Mixed_6c", 768, 160),
      inceptionC(store, "Mixed_6d", 768, 160),
      inceptionC(store, "Mixed_6e", 768, 192),
      inceptionD(store, "Mixed_7a", 768),
      inceptionE(store, "Mixed_7b", 1280),
      inceptionE(store, "Mixed_7c", 2048),
    ];
    const fc = linear(store, "fc", 2048, numClasses, { init: { kind: "normal", std: STD } });
    const model: Backbone = {
      spec,
      store,
      inputSize: size,
      numClasses,
      classifierWeight: store.get("fc.weight"),
      transformInput: opts.transformInput ?? spec.transformInputDefault,
      forward(x: tf.Tensor4D, ctx: ForwardContext) {
        let h = x;
        if (model.transformInput) {
          h = tf.add(
            tf.mul(h, tf.tensor1d(TRANSFORM_SCALE)),
            tf.tensor1d(TRANSFORM_SHIFT),
          );
        }
        for (const layer of stem) h = layer(h, ctx);
        for (const layer of mixed) h = layer(h, ctx);
        let pooled = globalAvgPool(h);
        if (ctx.training) {
          const keep = tf.cast(
            tf.greaterEqual(
              tf.randomUniform(pooled.shape, 0, 1, "float32", dropoutRng.nextU32()),
              c(DROPOUT),
            ),
            "float32",
          );
          pooled = tf.mul(tf.mul(pooled, keep), c(1 / (1 - DROPOUT)));
        }
        return { logits: fc(pooled), taps: { paper: h, standard: h } };
      },
    };
    return model;
  },
};
