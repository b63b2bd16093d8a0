// The architecture of the official `DeeplabMulti` (ResNet-101 DeepLab-v2 with two heads) as data:
// every weight's name (the official state_dict names) and TF.js shape (convs HWIO), for a width
// multiplier. No TF.js here: the network (index.ts) and the checkpoint readers both use it.

/** Bottlenecks per layer (ResNet-101). */
export const RESNET101_BLOCKS = [3, 4, 23, 3] as const;
/** Per layer: bottleneck width (planes; the output is 4x), stride of the first block, dilation. */
export const RESNET_LAYERS = [
  { planes: 64, stride: 1, dilation: 1 },
  { planes: 128, stride: 2, dilation: 1 },
  { planes: 256, stride: 1, dilation: 2 },
  { planes: 512, stride: 1, dilation: 4 },
] as const;
export const ASPP_DILATIONS = [6, 12, 18, 24] as const;
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface BottleneckSpec {
  /** `layer<L>.<i>` */
  prefix: string;
  layer: number;
  cin: number;
  planes: number;
  /** On the first 1x1 conv (Caffe style) and the projection shortcut. */
  stride: number;
  dilation: number;
  /** A projection shortcut (`downsample.0` conv, `downsample.1` BN): every layer's first block. */
  downsample: boolean;
}

export interface ResnetSpec {
  /** conv1 output channels. */
  stem: number;
  blocks: BottleneckSpec[];
  /** Channels of layer3 (aux head input) and layer4 (main head input, `features`). */
  layer3Channels: number;
  layer4Channels: number;
}

/** Channel count scaled by `m`, rounded half up, at least 1. */
export const scaled = (n: number, m: number) => Math.max(1, Math.round(n * m));

export function resnetSpec(widthMultiplier = 1): ResnetSpec {
  const stem = scaled(64, widthMultiplier);
  const blocks: BottleneckSpec[] = [];
  let cin = stem;
  RESNET_LAYERS.forEach((l, li) => {
    const planes = scaled(l.planes, widthMultiplier);
    for (let i = 0; i < RESNET101_BLOCKS[li]!; i++) {
      blocks.push({ prefix: `layer${li + 1}.${i}`, layer: li + 1, cin, planes, stride: i === 0 ? l.stride : 1, dilation: l.dilation, downsample: i === 0 });
      cin = 4 * planes;
    }
  });
  return { stem, blocks, layer3Channels: 4 * scaled(256, widthMultiplier), layer4Channels: 4 * scaled(512, widthMultiplier) };
}

export type WeightKind = "conv" | "bn-affine" | "bn-stat" | "head";

/**
 * Every weight in state_dict order (PyTorch's, without `num_batches_tracked`): name, TF.js shape and
 * kind. The aux head is `layer5` (on layer3), the main head `layer6` (on layer4).
 */
export function resnetWeights(o: { widthMultiplier?: number; numClasses: number; auxHead?: boolean }): { name: string; shape: number[]; kind: WeightKind }[] {
  const s = resnetSpec(o.widthMultiplier ?? 1);
  const out: { name: string; shape: number[]; kind: WeightKind }[] = [];
  const conv = (name: string, k: number, cin: number, cout: number) => out.push({ name: `${name}.weight`, shape: [k, k, cin, cout], kind: "conv" });
  const bn = (name: string, c: number) => {
    out.push({ name: `${name}.weight`, shape: [c], kind: "bn-affine" }, { name: `${name}.bias`, shape: [c], kind: "bn-affine" });
    out.push({ name: `${name}.running_mean`, shape: [c], kind: "bn-stat" }, { name: `${name}.running_var`, shape: [c], kind: "bn-stat" });
  };
  conv("conv1", 7, 3, s.stem);
  bn("bn1", s.stem);
  for (const b of s.blocks) {
    conv(`${b.prefix}.conv1`, 1, b.cin, b.planes);
    bn(`${b.prefix}.bn1`, b.planes);
    conv(`${b.prefix}.conv2`, 3, b.planes, b.planes);
    bn(`${b.prefix}.bn2`, b.planes);
    conv(`${b.prefix}.conv3`, 1, b.planes, 4 * b.planes);
    bn(`${b.prefix}.bn3`, 4 * b.planes);
    if (b.downsample) {
      conv(`${b.prefix}.downsample.0`, 1, b.cin, 4 * b.planes);
      bn(`${b.prefix}.downsample.1`, 4 * b.planes);
    }
  }
  const head = (name: string, cin: number) =>
    ASPP_DILATIONS.forEach((_, k) => {
      out.push({ name: `${name}.conv2d_list.${k}.weight`, shape: [3, 3, cin, o.numClasses], kind: "head" });
      out.push({ name: `${name}.conv2d_list.${k}.bias`, shape: [o.numClasses], kind: "head" });
    });
  if (o.auxHead !== false) head("layer5", s.layer3Channels);
  head("layer6", s.layer4Channels);
  return out;
}

/**
 * Logit size for an input size along one axis: conv1 (7x7/2, pad 3), max-pool 3x3/2 pad 1 with
 * ceil_mode=True (official), layer2's stride 2 on a 1x1 conv.
 */
export function resnetOutputSize(n: number): number {
  const conv1 = Math.floor((n - 1) / 2) + 1;
  const pool = Math.ceil((conv1 - 1) / 2) + 1;
  return Math.ceil(pool / 2);
}
