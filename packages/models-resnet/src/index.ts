// ResNet-101 DeepLab-v2 with two heads (SPEC 1, official `DeeplabMulti` of AdaptSegNet's
// model/deeplab_multi.py): conv1 7x7/2 + BN + ReLU + max-pool 3x3/2 (pad 1, ceil_mode=True), then
// Caffe-style bottlenecks (the stride on the first 1x1 conv) in layers of [3, 4, 23, 3] blocks;
// layer2 stride 2, layer3 dilation 2, layer4 dilation 4 (output stride 8); every layer's first
// block has a projection shortcut. Heads: `layer5` (aux) on layer3 (1024 channels), `layer6` (main)
// on layer4 (2048), each an ASPP of 3x3 convs with dilation = padding = 6, 12, 18, 24, summed.
// `aspp: "faithful"` sums only the first two branches, as the official code does (its `return`
// sits inside the loop); the other two exist as weights (the parameter count is the official one).
//
// BatchNorm (eps 1e-5): gamma and beta are never trained (requires_grad=False in the official
// code). The running statistics are non-trainable weights too, saved in checkpoints. Two modes:
//  - `bn: "faithful"`: as the official script, which trains in train mode: a training forward
//    (`apply(x, { training: true })`) normalises with the batch's own statistics and moves the
//    running ones, mean += 0.1 * (batch mean - mean), var += 0.1 * (unbiased batch var - var), once
//    per forward, source AND target frames alike (so target statistics leak into the model);
//  - `bn: "frozen"` (default): always the running statistics, never updated: a truly frozen BN.
// Evaluation (`apply(x)`) uses the running statistics in both modes.
//
// Weight names are the official state_dict's (`layer3.7.conv2.weight`, `layer6.conv2d_list.0.bias`,
// ...), convs HWIO. `init` (a DeepLab/ImageNet `.pth` or `.safetensors`) loads the backbone and any
// head whose shapes fit; `weights` (an official AdaptSegNet `.pth`, our checkpoint) loads every weight.
import * as tf from "@tensorflow/tfjs-core";
import { ContainerModule, injectable } from "inversify";
import { Type as T, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { Backbone, bindPlugin, loadWeights } from "@adaptseg/core";
import type { OnnxNetGraph, SegNetwork, SegOutputs, Network } from "@adaptseg/core";
import { appendOnnxConv, dilatedConv2d } from "@adaptseg/compute";
import { ASPP_DILATIONS, BN_EPS, BN_MOMENTUM, resnetSpec, resnetWeights, type BottleneckSpec } from "./arch.js";
import { readStateDict } from "./pth.js";
import { deeplabMultiRename, fitWeights, isDeeplabVggNames, vggRename, type FileTensor } from "./torch-names.js";

export * from "./arch.js";
export * from "./pth.js";
export * from "./torch-names.js";

export const ResnetOptions = T.Object(
  {
    widthMultiplier: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: "Multiplies every channel count (rounded, at least 1): tests and CPU demos. 1 is the official network." }),
    aspp: T.Union([T.Literal("fixed"), T.Literal("faithful")], { default: "fixed", description: "fixed: all four ASPP branches summed; faithful: only d=6 and d=12, as the official code computes." }),
    bn: T.Union([T.Literal("frozen"), T.Literal("faithful")], {
      default: "frozen",
      description:
        "frozen: BN always uses its running statistics, never updated; faithful: training forwards use batch statistics and update the running ones (momentum 0.1), as the official script at batch size 1.",
    }),
    auxHead: T.Boolean({ default: true, description: "The aux ASPP head on layer3 (layer5, outputs.aux) that multi-level adaptation uses." }),
    init: T.Optional(
      T.String({ description: "Backbone weights: the DeepLab init or an official DeeplabMulti (.pth, zip or legacy format; .safetensors); heads are loaded only where their shapes fit." }),
    ),
    weights: T.Optional(T.String({ description: "Every weight, strictly: an official AdaptSegNet DeeplabMulti .pth (e.g. GTA2Cityscapes_multi) or an AdaptSeg checkpoint." })),
  },
  { additionalProperties: false },
);
export type ResnetOptions = Static<typeof ResnetOptions>;
export type ResnetDeeplabOptions = Partial<ResnetOptions> & { numClasses: number; seed?: number };

/** The options this backbone reads, with the schema's defaults; errors name the field (`model.bn`). */
export function resnetOptions(options: Record<string, unknown>): ResnetOptions {
  const mine = Object.fromEntries(
    Object.keys(ResnetOptions.properties)
      .filter((k) => options[k] !== undefined)
      .map((k) => [k, options[k]]),
  );
  const o = Value.Default(ResnetOptions, Value.Clone(mine)) as ResnetOptions;
  const errors = [...Value.Errors(ResnetOptions, o)].map((e) => `model${e.path.replace(/\//g, ".")}: ${e.message.toLowerCase()} (got ${JSON.stringify(e.value)})`);
  if (errors.length) throw new Error(errors.join("; "));
  return o;
}

/**
 * 3x3 conv, stride 1, dilation = padding = d. Where d >= the map's height (width), the kernel's top
 * and bottom rows (left and right columns) only ever read the zero padding, so they are dropped
 * before the conv: exact, gradients included (the dropped taps' gradient is 0 either way), and it
 * spares the space-to-batch of a map padded by up to 24 px a side (the ASPP on 1/8-size maps).
 */
export function atrous3x3(x: tf.Tensor4D, w: tf.Tensor4D, d: number): tf.Tensor4D {
  const [, h, wd] = x.shape;
  const rows = d >= h,
    cols = d >= wd;
  if (!rows && !cols) return dilatedConv2d(x, w, d, d);
  return tf.tidy(() => {
    const k = tf.slice(w, [rows ? 1 : 0, cols ? 1 : 0, 0, 0], [rows ? 1 : 3, cols ? 1 : 3, -1, -1]) as tf.Tensor4D;
    if (rows && cols) return tf.conv2d(x, k, 1, "valid");
    const xp = tf.pad(x, [[0, 0], rows ? [0, 0] : [d, d], cols ? [0, 0] : [d, d], [0, 0]]) as tf.Tensor4D;
    return d === 1 ? tf.conv2d(xp, k, 1, "valid") : dilatedConv2d(xp, k, d, "valid");
  });
}

export class ResnetDeeplabNet implements SegNetwork {
  readonly weights = new Map<string, tf.Variable>();
  readonly numClasses: number;
  readonly featureChannels: number;
  /** The ASPP heads' weights: 10x the backbone learning rate (official `get_10x_lr_params`). */
  readonly headWeights: ReadonlySet<string>;
  /** BatchNorm running statistics: weights that are state, not parameters. */
  readonly buffers: ReadonlySet<string>;
  readonly options: ResnetOptions;
  /** Frozen BN (running statistics) only: faithful BN's batch statistics would mix source and target. */
  readonly batchIndependent: boolean;
  private readonly blocks: BottleneckSpec[];
  private readonly branches: number;

  constructor(opts: ResnetDeeplabOptions) {
    if (!Number.isInteger(opts.numClasses) || opts.numClasses < 1) throw new Error(`model.numClasses: expected a positive integer, got ${String(opts.numClasses)}`);
    const o = (this.options = resnetOptions(opts as Record<string, unknown>));
    this.numClasses = opts.numClasses;
    this.batchIndependent = o.bn !== "faithful";
    const spec = resnetSpec(o.widthMultiplier);
    this.blocks = spec.blocks;
    this.featureChannels = spec.layer4Channels;
    this.branches = o.aspp === "faithful" ? 2 : 4;
    const seed = opts.seed ?? 0;
    const heads = new Set<string>(),
      buffers = new Set<string>();
    const lastConvScale = 1 / Math.sqrt(spec.blocks.length);
    // Seeds by position in the two-head list, so that auxHead: false changes no other weight.
    resnetWeights({ widthMultiplier: o.widthMultiplier, numClasses: opts.numClasses }).forEach(({ name, shape, kind }, i) => {
      if (!o.auxHead && name.startsWith("layer5.")) return;
      let t: tf.Tensor;
      // He (fan_out); each bottleneck's last conv scaled by 1/sqrt(33 blocks) so that, with BN at its
      // initial identity statistics (bn "frozen" without init), the residual stream grows ~e-fold
      // over the network instead of 2^33-fold. Batch-statistics BN is blind to the scale.
      if (kind === "conv") t = tf.randomNormal(shape, 0, Math.sqrt(2 / (shape[0]! * shape[1]! * shape[3]!)) * (name.endsWith(".conv3.weight") ? lastConvScale : 1), "float32", seed + i);
      else if (kind === "head")
        t = name.endsWith(".weight") ? tf.randomNormal(shape, 0, 0.01, "float32", seed + i) : tf.zeros(shape); // official N(0, 0.01)
      else t = name.endsWith(".weight") || name.endsWith(".running_var") ? tf.ones(shape) : tf.zeros(shape);
      this.weights.set(name, tf.variable(t, kind === "conv" || kind === "head"));
      t.dispose();
      if (kind === "head") heads.add(name);
      if (kind === "bn-stat") buffers.add(name);
    });
    this.headWeights = heads;
    this.buffers = buffers;
    try {
      if (o.weights) loadTorchWeights(this, o.weights, "full");
      else if (o.init) loadTorchWeights(this, o.init, "backbone");
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private w(name: string): tf.Variable {
    return this.weights.get(name)!;
  }

  private conv(x: tf.Tensor4D, name: string, stride = 1, dilation = 1): tf.Tensor4D {
    const w = this.w(`${name}.weight`) as tf.Variable<tf.Rank.R4>;
    const k = w.shape[0];
    if (k === 1) return tf.conv2d(x, w, stride, "valid");
    if (k === 3 && stride === 1) return atrous3x3(x, w, dilation);
    return dilatedConv2d(x, w, dilation, (dilation * (k - 1)) / 2, stride);
  }

  /**
   * BatchNorm, then ReLU when `relu`, as one op with its own gradient: it keeps for the backward pass
   * only what the gradient needs (the output for the ReLU mask; x-hat in training mode), not the
   * five or six full-size intermediates of the composed ops: the full-width network trains at
   * 128x256 within wasm's 4 GiB heap. Training mode (bn "faithful"): batch statistics
   * (biased variance), dx = gamma / sigma * (dy - mean(dy) - x-hat * mean(dy * x-hat)); the running
   * statistics move by momentum 0.1 (unbiased variance), as PyTorch in train mode.
   */
  private bn(x: tf.Tensor4D, name: string, training: boolean, relu = false): tf.Tensor4D {
    const gamma = this.w(`${name}.weight`),
      beta = this.w(`${name}.bias`);
    const rm = this.w(`${name}.running_mean`),
      rv = this.w(`${name}.running_var`);
    if (!training) {
      const op = tf.customGrad(((xs: tf.Tensor, save: tf.GradSaveFunc) => {
        const scale = tf.mul(gamma, tf.rsqrt(tf.add(rv, BN_EPS)));
        const y = tf.add(tf.mul(xs, scale), tf.sub(beta, tf.mul(rm, scale)));
        const out = relu ? tf.relu(y) : y;
        save(relu ? [scale, out] : [scale]);
        return {
          value: out,
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(relu ? tf.mul(dy, tf.step(saved[1]!)) : dy, saved[0]!)],
        };
      }) as never);
      return op(x) as tf.Tensor4D;
    }
    const [n, h, w] = x.shape;
    const count = n * h * w;
    if (count < 2) throw new Error(`${name}: batch statistics need more than 1 value per channel (input [${x.shape}]); use bn "frozen" or a larger input`);
    const op = tf.customGrad(((xs: tf.Tensor, save: tf.GradSaveFunc) => {
      const { mean, variance } = tf.moments(xs, [0, 1, 2]);
      rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * count) / (count - 1))));
      const rstd = tf.rsqrt(tf.add(variance, BN_EPS));
      const xhat = tf.mul(tf.sub(xs, mean), rstd);
      const y = tf.add(tf.mul(xhat, gamma), beta);
      const out = relu ? tf.relu(y) : y;
      save(relu ? [xhat, tf.mul(gamma, rstd), out] : [xhat, tf.mul(gamma, rstd)]);
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xh, scale] = saved as [tf.Tensor, tf.Tensor];
          const d = relu ? tf.mul(dy, tf.step(saved[2]!)) : dy;
          const centred = tf.sub(tf.sub(d, tf.mean(d, [0, 1, 2])), tf.mul(xh, tf.mean(tf.mul(d, xh), [0, 1, 2])));
          return [tf.mul(centred, scale)];
        },
      };
    }) as never);
    return op(x) as tf.Tensor4D;
  }

  /** One bottleneck in its own tidy: the intermediates the backward pass does not keep are freed at once. */
  private bottleneck(x: tf.Tensor4D, b: BottleneckSpec, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const p = b.prefix;
      let y = this.bn(this.conv(x, `${p}.conv1`, b.stride), `${p}.bn1`, training, true);
      y = this.bn(this.conv(y, `${p}.conv2`, 1, b.dilation), `${p}.bn2`, training, true);
      y = this.bn(this.conv(y, `${p}.conv3`), `${p}.bn3`, training);
      const shortcut = b.downsample ? this.bn(this.conv(x, `${p}.downsample.0`, b.stride), `${p}.downsample.1`, training) : x;
      return tf.relu(tf.add(y, shortcut)) as tf.Tensor4D;
    });
  }

  private aspp(x: tf.Tensor4D, prefix: string): tf.Tensor4D {
    let out: tf.Tensor4D | undefined;
    for (let k = 0; k < this.branches; k++) {
      const name = `${prefix}.conv2d_list.${k}`;
      const d = ASPP_DILATIONS[k]!;
      const y = tf.add(atrous3x3(x, this.w(`${name}.weight`) as tf.Variable<tf.Rank.R4>, d), this.w(`${name}.bias`)) as tf.Tensor4D;
      out = out ? (tf.add(out, y) as tf.Tensor4D) : y;
    }
    return out!;
  }

  /** Max-pool 3x3, stride 2, padding 1, ceil_mode=True (PyTorch semantics: padding never wins). */
  private static maxPoolCeil(x: tf.Tensor4D): tf.Tensor4D {
    const pad = (n: number) => {
      const out = Math.ceil((n - 1) / 2) + 1;
      return [1, 2 * (out - 1) + 3 - n - 1] as [number, number];
    };
    // The input is post-ReLU (>= 0) and every window holds at least one real element, so padding
    // with -1 never wins the max.
    return tf.maxPool(tf.pad(x, [[0, 0], pad(x.shape[1]), pad(x.shape[2]), [0, 0]], -1), 3, 2, "valid");
  }

  apply(x: tf.Tensor4D, opts?: { training?: boolean }): SegOutputs {
    const training = !!opts?.training && this.options.bn === "faithful";
    return tf.tidy(() => {
      let h = tf.tidy(() => ResnetDeeplabNet.maxPoolCeil(this.bn(this.conv(x, "conv1", 2, 1), "bn1", training, true)));
      let aux: tf.Tensor4D | undefined;
      for (const b of this.blocks) {
        if (b.layer === 4 && !aux && this.options.auxHead) aux = tf.tidy(() => this.aspp(h, "layer5"));
        h = this.bottleneck(h, b, training);
      }
      const out: SegOutputs = { main: tf.tidy(() => this.aspp(h, "layer6")), features: h };
      if (aux) out.aux = aux;
      return out as unknown as tf.TensorContainer;
    }) as unknown as SegOutputs;
  }

  /**
   * The main output in inference mode (running statistics) as ONNX nodes (Backbone.toOnnx): every
   * BN folded into the conv before it (w * gamma / sqrt(var + eps), beta - mean * that scale),
   * ceil-mode max-pool, the bottlenecks' Add + Relu, the layer6 ASPP as a Sum.
   */
  async toOnnx(input: string): Promise<OnnxNetGraph> {
    const g: OnnxNetGraph = { nodes: [], floatConstants: [], output: "" };
    const read = async (n: string) => (await this.w(n).data()) as Float32Array;
    const conv = async (input: string, name: string, bn: string | undefined, stride: number, dilation: number, output: string) => {
      const w = this.w(`${name}.weight`);
      const co = w.shape[3]!;
      const scale = new Float32Array(co).fill(1);
      let bias: Float32Array;
      if (bn) {
        const [gamma, beta, mean, variance] = await Promise.all(["weight", "bias", "running_mean", "running_var"].map((k) => read(`${bn}.${k}`)));
        bias = new Float32Array(co);
        for (let o = 0; o < co; o++) {
          scale[o] = gamma![o]! / Math.sqrt(variance![o]! + BN_EPS);
          bias[o] = beta![o]! - mean![o]! * scale[o]!;
        }
      } else bias = await read(`${name}.bias`);
      const pad = (dilation * (w.shape[0]! - 1)) / 2;
      return appendOnnxConv(g, { name, input, output, weight: await read(`${name}.weight`), shape: w.shape, bias, pad, stride, dilation, scale });
    };
    const relu = (x: string) => {
      g.nodes.push({ op: "Relu", inputs: [x], outputs: [`${x}.relu`] });
      return `${x}.relu`;
    };
    let h = relu(await conv(input, "conv1", "bn1", 2, 1, "conv1.out"));
    g.nodes.push({ op: "MaxPool", inputs: [h], outputs: ["maxpool.out"], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } });
    h = "maxpool.out";
    for (const b of this.blocks) {
      const p = b.prefix;
      let y = relu(await conv(h, `${p}.conv1`, `${p}.bn1`, b.stride, 1, `${p}.conv1.out`));
      y = relu(await conv(y, `${p}.conv2`, `${p}.bn2`, 1, b.dilation, `${p}.conv2.out`));
      y = await conv(y, `${p}.conv3`, `${p}.bn3`, 1, 1, `${p}.conv3.out`);
      const shortcut = b.downsample ? await conv(h, `${p}.downsample.0`, `${p}.downsample.1`, b.stride, 1, `${p}.downsample.out`) : h;
      g.nodes.push({ op: "Add", inputs: [y, shortcut], outputs: [`${p}.sum`] });
      h = relu(`${p}.sum`);
    }
    const branches: string[] = [];
    for (let k = 0; k < this.branches; k++) branches.push(await conv(h, `layer6.conv2d_list.${k}`, undefined, 1, ASPP_DILATIONS[k]!, `layer6.conv2d_list.${k}.out`));
    g.nodes.push({ op: "Sum", inputs: branches, outputs: ["layer6.sum"] });
    g.output = "layer6.sum";
    return g;
  }

  /** Parameters as PyTorch counts them (`sum(p.numel() for p in model.parameters())`): every weight but the running statistics. */
  parameterCount(): number {
    let n = 0;
    for (const [k, v] of this.weights) if (!this.buffers.has(k)) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}

/** Tensors of a weights file and their layout: `.pth` (PyTorch, OIHW), `.safetensors` (ours: `G/` part, HWIO; else PyTorch names and OIHW). */
export function readWeightsFile(file: string): { tensors: Map<string, FileTensor>; layout: "oihw" | "hwio" } {
  if (/\.safetensors$/i.test(file)) {
    const { tensors, metadata } = loadWeights(file);
    if (metadata.adaptseg) return { tensors: new Map([...tensors].filter(([k]) => k.startsWith("G/"))), layout: "hwio" };
    return { tensors, layout: "oihw" };
  }
  return { tensors: readStateDict(file), layout: "oihw" };
}

/**
 * Loads a checkpoint file into a network of ours. ResNet: official DeeplabMulti names (with or
 * without `Scale.`/`module.`), ours. VGG (`vgg16-deeplab`): official DeeplabVGG, torchvision VGG-16,
 * ours. `mode`: "full" needs every weight; "backbone" needs the backbone and loads a head only when
 * every tensor of it is in the file with our shapes (the DeepLab init's 21-class head is skipped).
 * Returns the names loaded and the file tensors skipped.
 */
export function loadTorchWeights(net: Network, file: string, mode: "full" | "backbone"): { loaded: string[]; skipped: string[] } {
  const { tensors, layout } = readWeightsFile(file);
  const expected = new Map([...net.weights].map(([k, v]) => [k, v.shape]));
  const source = file;
  let rename: (n: string) => string | null;
  let head: (n: string) => string | undefined;
  let what: string;
  if (net instanceof ResnetDeeplabNet) {
    rename = deeplabMultiRename({ heads: true, auxHead: net.options.auxHead });
    head = (n) => /^(layer[56])\./.exec(n)?.[1];
    what = "a DeeplabMulti state_dict";
  } else if (net.weights.has("features.0.weight") && net.weights.has("fc7.weight")) {
    const deeplab = layout === "hwio" || isDeeplabVggNames(tensors.keys());
    rename = layout === "hwio" ? (n) => n.replace(/^G\//, "") : vggRename(deeplab);
    head = (n) => (/^(classifier|aux_classifier)\./.test(n) ? n.split(".")[0] : /^fc[67]\./.test(n) ? n.split(".")[0] : undefined);
    what = layout === "hwio" ? "an AdaptSeg checkpoint" : deeplab ? "a DeeplabVGG state_dict" : "a torchvision VGG-16 state_dict";
  } else {
    throw new Error(`${file}: no PyTorch name mapping for this network (known: resnet101-deeplab, vgg16-deeplab)`);
  }
  const skipped: string[] = [];
  if (mode === "backbone") {
    // Group the file's head tensors by head; keep a head only if it fits completely.
    const byHead = new Map<string, [string, FileTensor][]>();
    for (const [k, t] of tensors) {
      const n = rename(k);
      const h = n === null ? undefined : head(n);
      if (h) byHead.set(h, [...(byHead.get(h) ?? []), [k, t]]);
    }
    const fits = (h: string, list: [string, FileTensor][]) => {
      const ours = [...expected.keys()].filter((n) => head(n) === h);
      return (
        ours.length === list.length &&
        list.every(([k, t]) => {
          const want = expected.get(rename(k)!);
          const shape = layout === "oihw" && want?.length === 4 ? [want[3]!, want[2]!, want[0]!, want[1]!] : want;
          return !!shape && shape.length === t.shape.length && shape.every((v: number, i: number) => v === t.shape[i]);
        })
      );
    };
    const drop = new Set<string>();
    for (const [h, list] of byHead) if (!fits(h, list)) for (const [k] of list) drop.add(k);
    const base = rename;
    rename = (k) => {
      if (drop.has(k)) {
        skipped.push(k);
        return null;
      }
      return base(k);
    };
  }
  const fitted = fitWeights(tensors, expected, {
    source,
    rename,
    layout,
    what,
    required: mode === "full" ? undefined : (n) => head(n) === undefined,
  });
  for (const [k, t] of fitted) tf.tidy(() => net.weights.get(k)!.assign(tf.tensor(t.data, t.shape)));
  return { loaded: [...fitted.keys()], skipped };
}

@injectable()
export class ResnetDeeplab implements Backbone {
  readonly name = "resnet101-deeplab";
  readonly options = ResnetOptions;
  create(options: Record<string, unknown> & { numClasses: number; seed?: number }): SegNetwork {
    return new ResnetDeeplabNet(options as ResnetDeeplabOptions);
  }
  toOnnx(net: SegNetwork, input: string): Promise<OnnxNetGraph> {
    if (!(net instanceof ResnetDeeplabNet)) throw new Error(`resnet101-deeplab: toOnnx needs a network made by this backbone, got ${net.constructor.name}`);
    return net.toOnnx(input);
  }
}

export const containerModule = new ContainerModule(({ bind }) => {
  bindPlugin(bind, Backbone, ResnetDeeplab, "resnet101-deeplab");
});
