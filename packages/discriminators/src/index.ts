// FC discriminator (SPEC 1) and the four adaptation strategies (SPEC 2). SOURCE label 0, TARGET label 1.
import * as tf from "@tensorflow/tfjs-core";
import { ContainerModule, injectable } from "inversify";
import { AdaptationStrategy, Discriminator, bindPlugin } from "@adaptseg/core";
import type { AdaptationRun, DiscriminatorNet, LossTerms, SegOutputs } from "@adaptseg/core";

export const SOURCE = 0;
export const TARGET = 1;
export type Gan = "vanilla" | "lsgan";

/** vanilla: sigmoid BCE with logits, mean over the map; lsgan: MSE against the label. */
export function ganLoss(logits: tf.Tensor, label: number, gan: Gan): tf.Scalar {
  return tf.tidy(() => {
    const y = tf.fill(logits.shape, label);
    return gan === "lsgan" ? tf.mean(tf.square(tf.sub(logits, y))) as tf.Scalar : tf.losses.sigmoidCrossEntropy(y, logits) as tf.Scalar;
  });
}

export interface FCOptions { widthMultiplier?: number; upsample?: boolean; seed?: number }

/** Five 4x4 stride-2 convs (explicit pad 1, then valid), C,64,128,256,512,1; LeakyReLU 0.2 after the first four. */
export class FCDiscriminatorNet implements DiscriminatorNet {
  readonly weights = new Map<string, tf.Variable>();
  constructor(inChannels: number, private readonly opts: FCOptions = {}) {
    const m = opts.widthMultiplier ?? 1;
    const ch = [inChannels, ...[64, 128, 256, 512].map((c) => Math.max(1, Math.round(c * m))), 1];
    let seed = opts.seed ?? 0;
    for (let i = 0; i < 5; i++) {
      const fanIn = 16 * ch[i]!;
      const bound = 1 / Math.sqrt(fanIn); // PyTorch Conv2d default init (kaiming_uniform a=sqrt(5))
      // tf.variable shares the initial tensor's data: dispose the initial tensor or it leaks.
      const keep = (key: string, t: tf.Tensor) => { this.weights.set(key, tf.variable(t)); t.dispose(); };
      keep(`conv${i + 1}.weight`, tf.randomUniform([4, 4, ch[i]!, ch[i + 1]!], -bound, bound, "float32", seed++));
      keep(`conv${i + 1}.bias`, tf.randomUniform([ch[i + 1]!], -bound, bound, "float32", seed++));
    }
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [, H, W] = x.shape;
    // Each 4x4/2 conv with padding 1 halves the map: below 32 px the fifth leaves no pixels.
    if (H < 32 || W < 32) throw new Error(`FCDiscriminator: input ${H}x${W} is smaller than 32x32; its five stride-2 convs would leave an empty map (feature-level adaptation needs images of at least 256x256)`);
    return tf.tidy(() => {
      let h = x;
      for (let i = 1; i <= 5; i++) {
        h = tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]]);
        h = tf.add(tf.conv2d(h, this.weights.get(`conv${i}.weight`) as tf.Tensor4D, 2, "valid"), this.weights.get(`conv${i}.bias`)!);
        if (i < 5) h = tf.leakyRelu(h, 0.2);
      }
      return this.opts.upsample ? tf.image.resizeBilinear(h, [x.shape[1], x.shape[2]], true) : h;
    });
  }
  dispose(): void { for (const v of this.weights.values()) v.dispose(); }
}

@injectable()
export class FCDiscriminator implements Discriminator {
  readonly name = "fc";
  create(inChannels: number, options: Record<string, unknown> & { seed?: number } = {}): DiscriminatorNet {
    return new FCDiscriminatorNet(inChannels, options as FCOptions);
  }
}

type Level = "main" | "aux" | "features";
const input = (o: SegOutputs, l: Level): tf.Tensor4D => {
  const t = o[l];
  if (!t) throw new Error(`adaptation: network output "${l}" is missing (enable it in the model config)`);
  return l === "features" ? t : tf.softmax(t);
};

class Run implements AdaptationRun {
  readonly discriminators = new Map<string, DiscriminatorNet>();
  constructor(private readonly levels: Level[], private readonly lambdas: number[], private readonly gan: Gan) {}
  generatorLoss(target: SegOutputs): LossTerms | undefined {
    if (!this.levels.length) return undefined;
    return tf.tidy(() => {
      const terms: Record<string, tf.Scalar> = {};
      let total = tf.scalar(0);
      this.levels.forEach((l, i) => {
        terms[`adv_${l}`] = ganLoss(this.discriminators.get(l)!.apply(input(target, l)), SOURCE, this.gan);
        total = tf.add(total, tf.mul(this.lambdas[i]!, terms[`adv_${l}`]!));
      });
      return { total, terms };
    });
  }
  discriminatorLoss(source: SegOutputs, target: SegOutputs): LossTerms | undefined {
    if (!this.levels.length) return undefined;
    return tf.tidy(() => {
      const terms: Record<string, tf.Scalar> = {};
      let total = tf.scalar(0);
      for (const l of this.levels) {
        const d = this.discriminators.get(l)!;
        const s = tf.mul(0.5, ganLoss(d.apply(input(source, l)), SOURCE, this.gan)) as tf.Scalar;
        const t = tf.mul(0.5, ganLoss(d.apply(input(target, l)), TARGET, this.gan)) as tf.Scalar;
        terms[`d_${l}_src`] = s;
        terms[`d_${l}_tgt`] = t;
        terms[`d_${l}`] = tf.add(s, t);
        total = tf.add(total, terms[`d_${l}`]!);
      }
      return { total, terms };
    });
  }
  dispose(): void { for (const d of this.discriminators.values()) d.dispose(); }
}

/** Defaults (SPEC 2): lambdaAdv per level, per GAN. */
function strategy(name: string, levels: Level[], vanilla: number[], lsgan: number[]) {
  @injectable()
  class S implements AdaptationStrategy {
    readonly name = name;
    readonly defaults = { gan: "vanilla", lambdaAdv: vanilla, lambdaAdvLsgan: lsgan };
    create(options: Record<string, unknown>, ctx: Parameters<AdaptationStrategy["create"]>[1]): AdaptationRun {
      const gan = (options.gan ?? "vanilla") as Gan;
      if (gan !== "vanilla" && gan !== "lsgan") throw new Error(`adaptation.gan: expected "vanilla" or "lsgan", got ${String(gan)}`);
      const lambdas = (options.lambdaAdv as number[] | undefined) ?? (gan === "lsgan" ? lsgan : vanilla);
      if (lambdas.length !== levels.length) throw new Error(`adaptation.lambdaAdv: ${name} needs ${levels.length} values [${levels}], got ${lambdas.length}`);
      const run = new Run(levels, lambdas, gan);
      levels.forEach((l, i) => run.discriminators.set(l, ctx.discriminator.create(l === "features" ? ctx.featureChannels : ctx.numClasses, { ...(options.discriminator as object), seed: (ctx.seed ?? 0) + 1000 * (i + 1) })));
      return run;
    }
  }
  return S;
}
export const SourceOnly = strategy("source-only", [], [], []);
export const OutputSpace = strategy("output-space", ["main"], [0.001], [0.01]);
export const MultiLevel = strategy("multi-level", ["aux", "main"], [0.0002, 0.001], [0.002, 0.01]);
export const FeatureLevel = strategy("feature-level", ["features"], [0.001], [0.01]);

export const containerModule = new ContainerModule(({ bind }) => {
  bindPlugin(bind, Discriminator, FCDiscriminator, "fc");
  for (const S of [SourceOnly, OutputSpace, MultiLevel, FeatureLevel]) bindPlugin(bind, AdaptationStrategy, S, new S().name);
});
