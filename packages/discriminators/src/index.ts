// FC discriminator (SPEC 1) and the adversarial strategies: AdaptSegNet's four (SPEC 2) and AdvEnt (SPEC 7).
// SOURCE label 0, TARGET label 1.
import * as tf from "@tensorflow/tfjs-core";
import { ContainerModule, injectable } from "inversify";
import { Type as T } from "@sinclair/typebox";
import { AdaptationStrategy, Discriminator, bindPlugin } from "@adaptseg/core";
import type { AdaptationRun, DiscriminatorNet, LossTerms, SegOutputs, StepBatch, StepResult, StrategyContext } from "@adaptseg/core";
import { applyPair, entropyLoss, netGrads, optionsOf, selfInformation, sourceSegLoss, upsampled } from "@adaptseg/strategies";

export const SOURCE = 0;
export const TARGET = 1;
export type Gan = "vanilla" | "lsgan";

/** vanilla: sigmoid BCE with logits, mean over the map; lsgan: MSE against the label. */
export function ganLoss(logits: tf.Tensor, label: number, gan: Gan): tf.Scalar {
  return tf.tidy(() => {
    const y = tf.fill(logits.shape, label);
    return gan === "lsgan" ? (tf.mean(tf.square(tf.sub(logits, y))) as tf.Scalar) : (tf.losses.sigmoidCrossEntropy(y, logits) as tf.Scalar);
  });
}

export interface FCOptions {
  widthMultiplier?: number;
  upsample?: boolean;
  seed?: number;
}

/** Five 4x4 stride-2 convs (explicit pad 1, then valid), C,64,128,256,512,1; LeakyReLU 0.2 after the first four. */
export class FCDiscriminatorNet implements DiscriminatorNet {
  readonly weights = new Map<string, tf.Variable>();
  constructor(
    inChannels: number,
    private readonly opts: FCOptions = {},
  ) {
    const m = opts.widthMultiplier ?? 1;
    const ch = [inChannels, ...[64, 128, 256, 512].map((c) => Math.max(1, Math.round(c * m))), 1];
    let seed = opts.seed ?? 0;
    for (let i = 0; i < 5; i++) {
      const fanIn = 16 * ch[i]!;
      const bound = 1 / Math.sqrt(fanIn); // PyTorch Conv2d default init (kaiming_uniform a=sqrt(5))
      // tf.variable shares the initial tensor's data: dispose the initial tensor or it leaks.
      const keep = (key: string, t: tf.Tensor) => {
        this.weights.set(key, tf.variable(t));
        t.dispose();
      };
      keep(`conv${i + 1}.weight`, tf.randomUniform([4, 4, ch[i]!, ch[i + 1]!], -bound, bound, "float32", seed++));
      keep(`conv${i + 1}.bias`, tf.randomUniform([ch[i + 1]!], -bound, bound, "float32", seed++));
    }
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [, H, W] = x.shape;
    // Each 4x4/2 conv with padding 1 halves the map: below 32 px the fifth leaves no pixels.
    if (H < 32 || W < 32)
      throw new Error(`FCDiscriminator: input ${H}x${W} is smaller than 32x32; its five stride-2 convs would leave an empty map (feature-level adaptation needs images of at least 256x256)`);
    return tf.tidy(() => {
      let h = x;
      for (let i = 1; i <= 5; i++) {
        h = tf.pad(h, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]);
        h = tf.add(tf.conv2d(h, this.weights.get(`conv${i}.weight`) as tf.Tensor4D, 2, "valid"), this.weights.get(`conv${i}.bias`)!);
        if (i < 5) h = tf.leakyRelu(h, 0.2);
      }
      return this.opts.upsample ? tf.image.resizeBilinear(h, [x.shape[1], x.shape[2]], true) : h;
    });
  }
  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}

export const FCOptions = T.Object(
  {
    widthMultiplier: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: "Channel width factor (tests and CPU demos)." }),
    upsample: T.Boolean({ default: false, description: "Upsample D's logit map to its input size (paper) or not (official code)." }),
  },
  { additionalProperties: false },
);

@injectable()
export class FCDiscriminator implements Discriminator {
  readonly name = "fc";
  readonly options = FCOptions;
  create(inChannels: number, options: Record<string, unknown> & { seed?: number } = {}): DiscriminatorNet {
    return new FCDiscriminatorNet(inChannels, options as FCOptions);
  }
}

type Level = "main" | "aux" | "features";
/** What D sees: softmax of the logits (AdaptSegNet), their self-information map (AdvEnt), or the features. */
type Input = "softmax" | "self-information";
const input = (o: SegOutputs, l: Level, kind: Input): tf.Tensor4D => {
  const t = o[l];
  if (!t) throw new Error(`adaptation: network output "${l}" is missing (enable it in the model config)`);
  return l === "features" ? t : kind === "softmax" ? tf.softmax(t) : selfInformation(t);
};

/** Upsampled copies of the logits (and the raw features) that outlive the gradient tape. */
function keepOutputs(o: SegOutputs): SegOutputs {
  return { main: tf.keep(o.main.clone()), aux: o.aux && tf.keep(o.aux.clone()), features: o.features && tf.keep(o.features.clone()) };
}

export const GanOptions = T.Object(
  {
    gan: T.Union([T.Literal("vanilla"), T.Literal("lsgan")], { default: "vanilla", description: "vanilla: BCE with logits; lsgan: MSE." }),
    lambdaAdv: T.Optional(T.Array(T.Number({ minimum: 0 }), { description: "One weight per adversarial level (default: SPEC's for the chosen gan)." })),
    lambdaSeg: T.Optional(T.Number({ minimum: 0, description: "Weight of the aux head's source CE (multi-level: 0.1; else 0)." })),
    lambdaEnt: T.Number({ minimum: 0, default: 0, description: "Adds ADVENT's MinEnt on the target main output with this weight (AdvEnt + MinEnt: 0.001)." }),
  },
  { additionalProperties: false },
);
type GanOpts = typeof GanOptions.static;

/** AdaptSegNet's step (SPEC section 2) on `levels`; with no level, source-only. */
export class GanRun implements AdaptationRun {
  readonly discriminators = new Map<string, DiscriminatorNet>();
  readonly networks = new Map();
  readonly needsTarget: boolean;
  constructor(
    private readonly levels: Level[],
    /** lambda_adv per level. */
    readonly lambdas: number[],
    private readonly gan: Gan,
    private readonly kind: Input,
    /** Weight of the aux head's source CE. */
    readonly lambdaSeg: number,
    readonly lambdaEnt: number,
    private readonly ctx: Pick<StrategyContext, "net" | "upsample">,
  ) {
    this.needsTarget = levels.length > 0 || lambdaEnt > 0;
  }
  /** Step 2: the adversarial loss for G on target outputs (upsampled logits), labelled SOURCE. */
  generatorLoss(target: SegOutputs): LossTerms | undefined {
    if (!this.levels.length) return undefined;
    return tf.tidy(() => {
      const terms: Record<string, tf.Scalar> = {};
      let total = tf.scalar(0);
      this.levels.forEach((l, i) => {
        terms[`adv_${l}`] = ganLoss(this.discriminators.get(l)!.apply(input(target, l, this.kind)), SOURCE, this.gan);
        total = tf.add(total, tf.mul(this.lambdas[i]!, terms[`adv_${l}`]!));
      });
      return { total, terms };
    });
  }
  /** Step 3: D on DETACHED source (SOURCE) and target (TARGET) outputs; each half weighted 0.5. */
  discriminatorLoss(source: SegOutputs, target: SegOutputs): LossTerms | undefined {
    if (!this.levels.length) return undefined;
    return tf.tidy(() => {
      const terms: Record<string, tf.Scalar> = {};
      let total = tf.scalar(0);
      for (const l of this.levels) {
        const d = this.discriminators.get(l)!;
        const s = tf.mul(0.5, ganLoss(d.apply(input(source, l, this.kind)), SOURCE, this.gan)) as tf.Scalar;
        const t = tf.mul(0.5, ganLoss(d.apply(input(target, l, this.kind)), TARGET, this.gan)) as tf.Scalar;
        terms[`d_${l}_src`] = s;
        terms[`d_${l}_tgt`] = t;
        terms[`d_${l}`] = tf.add(s, t);
        total = tf.add(total, terms[`d_${l}`]!);
      }
      return { total, terms };
    });
  }
  step(b: StepBatch): StepResult {
    const { net, upsample: up } = this.ctx;
    const terms: Record<string, tf.Scalar> = {};
    let keptS: SegOutputs | undefined, keptT: SegOutputs | undefined;
    // Steps 1 and 2: L_seg on source + L_adv on target, gradients into G only (D frozen).
    const G = netGrads(net, () => {
      const [os, otRaw] = b.target ? applyPair(net, b.source.x, b.target.x) : [net.apply(b.source.x, { training: true })];
      let loss = sourceSegLoss(os, b.source.y, this.lambdaSeg, up, terms);
      if (!b.target || !otRaw) return loss;
      const [, hs, ws] = b.source.y.shape;
      const [, ht, wt] = b.target.x.shape;
      const ot = upsampled(otRaw, ht, wt, up);
      if (this.levels.length) {
        keptS = keepOutputs(upsampled(os, hs, ws, up));
        keptT = keepOutputs(ot);
        const adv = this.generatorLoss(ot)!;
        for (const [k, v] of Object.entries(adv.terms)) terms[k] = tf.keep(v);
        loss = tf.add(loss, adv.total);
      }
      if (this.lambdaEnt > 0) {
        terms.ent = tf.keep(entropyLoss(ot.main));
        loss = tf.add(loss, tf.mul(terms.ent, this.lambdaEnt));
      }
      return loss;
    });
    if (!keptS || !keptT) return { terms, grads: { G } };
    // Step 3: D on detached source and target outputs.
    const dVars = [...this.discriminators.values()].flatMap((d) => [...d.weights.values()]);
    try {
      const { grads: D } = tf.variableGrads(() => {
        const dl = this.discriminatorLoss(keptS!, keptT!)!;
        for (const [k, v] of Object.entries(dl.terms)) terms[k] = tf.keep(v);
        return dl.total;
      }, dVars);
      return { terms, grads: { G, D } };
    } finally {
      for (const o of [keptS, keptT]) tf.dispose([o.main, o.aux, o.features].filter((t): t is tf.Tensor4D => !!t));
    }
  }
  dispose(): void {
    for (const d of this.discriminators.values()) d.dispose();
  }
}

/** A strategy on `levels` with SPEC's default weights per GAN (SPEC 2; AdvEnt: SPEC 7). */
function strategy(name: string, levels: Level[], vanilla: number[], lsgan: number[], lambdaSeg = 0, kind: Input = "softmax") {
  @injectable()
  class S implements AdaptationStrategy<GanOpts> {
    readonly name = name;
    readonly options = GanOptions;
    create(options: Partial<GanOpts>, ctx: StrategyContext): AdaptationRun {
      const o = optionsOf(GanOptions, options);
      // lambdaAdv's default depends on gan: picked here, after gan is known, not merged beforehand.
      const lambdas = o.lambdaAdv ?? (o.gan === "lsgan" ? lsgan : vanilla);
      if (lambdas.length !== levels.length) throw new Error(`adaptation.lambdaAdv: ${name} needs ${levels.length} values [${levels}], got ${lambdas.length}`);
      const run = new GanRun(levels, lambdas, o.gan, kind, o.lambdaSeg ?? lambdaSeg, o.lambdaEnt, ctx);
      levels.forEach((l, i) =>
        run.discriminators.set(l, ctx.discriminator.create(l === "features" ? ctx.featureChannels : ctx.numClasses, { ...ctx.discriminatorOptions, seed: (ctx.seed ?? 0) + 1000 * (i + 1) })),
      );
      return run;
    }
  }
  return S;
}
export const SourceOnly = strategy("source-only", [], [], []);
export const OutputSpace = strategy("output-space", ["main"], [0.001], [0.01]);
export const MultiLevel = strategy("multi-level", ["aux", "main"], [0.0002, 0.001], [0.002, 0.01], 0.1);
export const FeatureLevel = strategy("feature-level", ["features"], [0.001], [0.01]);
export const AdvEnt = strategy("advent", ["main"], [0.001], [0.01], 0, "self-information");

export const containerModule = new ContainerModule(({ bind }) => {
  bindPlugin(bind, Discriminator, FCDiscriminator, "fc");
  for (const S of [SourceOnly, OutputSpace, MultiLevel, FeatureLevel, AdvEnt]) bindPlugin(bind, AdaptationStrategy, S, new S().name);
});
