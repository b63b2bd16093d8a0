// VGG-16 DeepLab segmentation network (SPEC 1, official `DeeplabVGG`): VGG-16 features without
// pool4/pool5, conv5 dilated 2, fc6/fc7 dilated 4, ASPP classifier (dilations 6,12,18,24, summed).
// pool1..pool3 are tf.maxPool(x, 2, 2, "same"): output size ceil(H/2) (PyTorch ceil_mode=True), so an
// H x W input gives logits of ceil(ceil(ceil(H/2)/2)/2) = ceil(H/8) per dimension (output stride 8).
import * as tf from "@tensorflow/tfjs-core";
import { ContainerModule, injectable } from "inversify";
import { Type as T } from "@sinclair/typebox";
import { Backbone, bindPlugin } from "@adaptseg/core";
import { appendOnnxConv, dilatedConv2d } from "@adaptseg/compute";
import type { OnnxNetGraph, SegNetwork, SegOutputs } from "@adaptseg/core";
import { readImagenetWeights } from "./weights.js";

export * from "./weights.js";

export interface VggDeeplabOptions {
  numClasses: number;
  seed?: number;
  /** Multiplies every channel count (64..1024), rounded, at least 1. Default 1. */
  widthMultiplier?: number;
  /** "fixed" sums all four ASPP branches; "faithful" reproduces the official bug (only d=6 and d=12). */
  aspp?: "fixed" | "faithful";
  /** "same": fc7 padding 4 (shapes line up); "none": official, no padding (-8 px per side). */
  fc7Padding?: "same" | "none";
  /** Auxiliary ASPP head on conv4_3 -> outputs.aux. */
  auxHead?: boolean;
  /**
   * ImageNet VGG-16 weights for the 13 convs (fc6, fc7 and the heads stay fresh): a torchvision
   * `.safetensors` file or a Keras VGG16 TF.js `model.json` (see weights.ts). Needs widthMultiplier 1.
   */
  init?: string;
  /** "ceil" (default; shapes line up at any size) or "floor" (the official torchvision MaxPool2d(2, 2)). */
  pool?: "ceil" | "floor";
  /** fc6/fc7 init: "kaiming" (default, as the 13 convs) or "pytorch" (nn.Conv2d's default, as the official code). */
  fcInit?: "kaiming" | "pytorch";
}

/** The `model` options of `vgg16-deeplab` (besides type, numClasses, init). */
export const VggDeeplabOptionsSchema = T.Object(
  {
    widthMultiplier: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: "Multiplies every channel count (tests and CPU demos); ImageNet init needs 1." }),
    aspp: T.Union([T.Literal("fixed"), T.Literal("faithful")], { default: "fixed", description: "fixed: all four ASPP branches summed; faithful: the official bug (only dilations 6 and 12)." }),
    fc7Padding: T.Union([T.Literal("same"), T.Literal("none")], { default: "same", description: "fc7 padding 4 (same, as the official code) or none." }),
    auxHead: T.Boolean({ default: false, description: "An auxiliary ASPP head on conv4_3 (outputs.aux, for multi-level)." }),
    pool: T.Union([T.Literal("ceil"), T.Literal("floor")], { default: "ceil", description: "pool1..3 rounding: ceil, or floor as the official MaxPool2d(2, 2) (faithful)." }),
    fcInit: T.Union([T.Literal("kaiming"), T.Literal("pytorch")], { default: "kaiming", description: "fc6/fc7 init: kaiming normal, or PyTorch's Conv2d default as the official code (faithful)." }),
  },
  { additionalProperties: false },
);

/** One 3x3 conv layer of the network. `pool`: 2x2 max-pool after its ReLU. */
export interface ConvSpec {
  name: string;
  cin: number;
  cout: number;
  dilation: number;
  padding: number;
  pool?: boolean;
}

export const ASPP_DILATIONS = [6, 12, 18, 24] as const;
/** torchvision `features.N` indices of the 13 VGG-16 convs. */
export const VGG_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28] as const;
const VGG_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512];
const POOL_AFTER = new Set([1, 3, 6]); // conv1_2, conv2_2, conv3_3
const CONV4_3 = 9;

/** The backbone layers (13 VGG convs, fc6, fc7) for the given options, in weight order. */
export function vggLayers(o: Pick<VggDeeplabOptions, "widthMultiplier" | "fc7Padding"> = {}): ConvSpec[] {
  const m = o.widthMultiplier ?? 1;
  const c = (n: number) => Math.max(1, Math.round(n * m));
  const layers: ConvSpec[] = [];
  let cin = 3;
  VGG_CHANNELS.forEach((n, i) => {
    const d = i >= 10 ? 2 : 1;
    layers.push({ name: `features.${VGG_INDICES[i]}`, cin, cout: c(n), dilation: d, padding: d, pool: POOL_AFTER.has(i) });
    cin = c(n);
  });
  layers.push({ name: "fc6", cin, cout: c(1024), dilation: 4, padding: 4 });
  layers.push({ name: "fc7", cin: c(1024), cout: c(1024), dilation: 4, padding: o.fc7Padding === "none" ? 0 : 4 });
  return layers;
}

function check(o: VggDeeplabOptions): void {
  if (!Number.isInteger(o.numClasses) || o.numClasses < 1) throw new Error(`model.numClasses: expected a positive integer, got ${String(o.numClasses)}`);
  const m = o.widthMultiplier ?? 1;
  if (typeof m !== "number" || !(m > 0)) throw new Error(`model.widthMultiplier: expected a number > 0, got ${String(m)}`);
  if (o.aspp !== undefined && o.aspp !== "fixed" && o.aspp !== "faithful") throw new Error(`model.aspp: expected "fixed" or "faithful", got ${String(o.aspp)}`);
  if (o.fc7Padding !== undefined && o.fc7Padding !== "same" && o.fc7Padding !== "none") throw new Error(`model.fc7Padding: expected "same" or "none", got ${String(o.fc7Padding)}`);
  if (o.init !== undefined && typeof o.init !== "string") throw new Error(`model.init: expected a file path, got ${String(o.init)}`);
  if (o.init && m !== 1)
    throw new Error(
      `model.init: ImageNet VGG-16 weights fit only widthMultiplier 1; with widthMultiplier ${m} every conv has fewer channels (conv1_1: ${vggLayers(o)[0]!.cout} instead of 64), so ${o.init} cannot be loaded. Drop model.init or model.widthMultiplier.`,
    );
}

export class VggDeeplabNet implements SegNetwork {
  readonly weights = new Map<string, tf.Variable>();
  readonly numClasses: number;
  readonly featureChannels: number;
  /** No BatchNorm, no dropout: source and target may share one call. */
  readonly batchIndependent = true;
  private readonly layers: ConvSpec[];
  private readonly branches: number;

  constructor(private readonly opts: VggDeeplabOptions) {
    check(opts);
    const imagenet = opts.init ? readImagenetWeights(opts.init) : undefined;
    this.numClasses = opts.numClasses;
    this.layers = vggLayers(opts);
    this.featureChannels = this.layers[this.layers.length - 1]!.cout;
    this.branches = opts.aspp === "faithful" ? 2 : 4;
    const seed = opts.seed ?? 0;
    const keep = (key: string, t: tf.Tensor) => {
      this.weights.set(key, tf.variable(t));
      t.dispose();
    };
    const add = (name: string, shape: number[], std: number, s: number) => {
      keep(`${name}.weight`, tf.randomNormal(shape, 0, std, "float32", s));
      keep(`${name}.bias`, tf.zeros([shape[3]!]));
    };
    // PyTorch kaiming_normal_(mode="fan_out", relu): std = sqrt(2 / (k*k*Cout)); biases 0.
    this.layers.forEach((l, i) => {
      if (opts.fcInit === "pytorch" && (l.name === "fc6" || l.name === "fc7")) {
        const bound = 1 / Math.sqrt(9 * l.cin); // kaiming_uniform(a=sqrt(5)) and its bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        keep(`${l.name}.weight`, tf.randomUniform([3, 3, l.cin, l.cout], -bound, bound, "float32", seed + i));
        keep(`${l.name}.bias`, tf.randomUniform([l.cout], -bound, bound, "float32", seed + 500 + i));
      } else add(l.name, [3, 3, l.cin, l.cout], Math.sqrt(2 / (9 * l.cout)), seed + i);
    });
    const head = (prefix: string, cin: number, s: number) => ASPP_DILATIONS.forEach((_, k) => add(`${prefix}.${k}`, [3, 3, cin, opts.numClasses], 0.01, s + k));
    head("classifier", this.featureChannels, seed + 100);
    if (opts.auxHead) head("aux_classifier", this.layers[CONV4_3]!.cout, seed + 200);
    for (const [name, t] of imagenet ?? []) tf.tidy(() => this.weights.get(name)!.assign(tf.tensor(t.data, t.shape)));
  }

  private conv(x: tf.Tensor4D, name: string, dilation: number, padding: number): tf.Tensor4D {
    const w = this.weights.get(`${name}.weight`) as tf.Variable<tf.Rank.R4>;
    const y = dilation === 1 ? tf.conv2d(x, w, 1, "same") : dilatedConv2d(x, w, dilation, padding);
    return tf.add(y, this.weights.get(`${name}.bias`)!);
  }

  private aspp(x: tf.Tensor4D, prefix: string): tf.Tensor4D {
    let out: tf.Tensor4D | undefined;
    for (let k = 0; k < this.branches; k++) {
      const y = this.conv(x, `${prefix}.${k}`, ASPP_DILATIONS[k]!, ASPP_DILATIONS[k]!);
      out = out ? (tf.add(out, y) as tf.Tensor4D) : y;
    }
    return out!;
  }

  apply(x: tf.Tensor4D): SegOutputs {
    return tf.tidy(() => {
      let h = x;
      let conv43: tf.Tensor4D | undefined;
      this.layers.forEach((l, i) => {
        h = tf.relu(this.conv(h, l.name, l.dilation, l.padding));
        if (i === CONV4_3) conv43 = h;
        if (l.pool) h = tf.maxPool(h, 2, 2, this.opts.pool === "floor" ? "valid" : "same");
      });
      const out: SegOutputs = { main: this.aspp(h, "classifier"), features: h };
      if (this.opts.auxHead) out.aux = this.aspp(conv43!, "aux_classifier");
      return out as unknown as tf.TensorContainer;
    }) as unknown as SegOutputs;
  }

  /** The main output as ONNX nodes (Backbone.toOnnx): Conv (OIHW, explicit pads) + Relu, MaxPool (ceil_mode as `pool`), ASPP as a Sum. */
  async toOnnx(input: string): Promise<OnnxNetGraph> {
    const g: OnnxNetGraph = { nodes: [], floatConstants: [], output: "" };
    const conv = async (input: string, name: string, d: number, pad: number, output: string) => {
      const w = this.weights.get(`${name}.weight`)!;
      const [weight, bias] = (await Promise.all([w.data(), this.weights.get(`${name}.bias`)!.data()])) as Float32Array[];
      appendOnnxConv(g, { name, input, output, weight: weight!, shape: w.shape, bias: bias!, pad, dilation: d });
    };
    let h = input;
    for (const l of this.layers) {
      await conv(h, l.name, l.dilation, l.padding, `${l.name}.conv`);
      g.nodes.push({ op: "Relu", inputs: [`${l.name}.conv`], outputs: [`${l.name}.relu`] });
      h = `${l.name}.relu`;
      if (l.pool) {
        g.nodes.push({ op: "MaxPool", inputs: [h], outputs: [`${l.name}.pool`], attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: this.opts.pool === "floor" ? 0 : 1 } });
        h = `${l.name}.pool`;
      }
    }
    const branches: string[] = [];
    for (let k = 0; k < this.branches; k++) {
      await conv(h, `classifier.${k}`, ASPP_DILATIONS[k]!, ASPP_DILATIONS[k]!, `classifier.${k}.conv`);
      branches.push(`classifier.${k}.conv`);
    }
    g.nodes.push({ op: "Sum", inputs: branches, outputs: ["classifier.sum"] });
    g.output = "classifier.sum";
    return g;
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}

@injectable()
export class VggDeeplab implements Backbone {
  readonly name = "vgg16-deeplab";
  readonly options = VggDeeplabOptionsSchema;
  create(options: Record<string, unknown> & { numClasses: number; seed?: number }): SegNetwork {
    return new VggDeeplabNet(options as unknown as VggDeeplabOptions);
  }
  toOnnx(net: SegNetwork, input: string): Promise<OnnxNetGraph> {
    if (!(net instanceof VggDeeplabNet)) throw new Error(`vgg16-deeplab: toOnnx needs a network made by this backbone, got ${net.constructor.name}`);
    return net.toOnnx(input);
  }
}

export const containerModule = new ContainerModule(({ bind }) => {
  bindPlugin(bind, Backbone, VggDeeplab, "vgg16-deeplab");
});
