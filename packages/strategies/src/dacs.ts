// DACS (Tranheden et al., WACV 2021; SPEC section 7): an EMA teacher labels the target image;
// ClassMix pastes half of the source label's classes onto it; the student learns from
// CE(source) + lambdaMix * pixel-weighted CE(mixed), the mixed image colour-jittered and blurred.
// `aug-control` is the same step with the target term weighted 0: the mixed source pass and its
// augmentation alone, no teacher. A method adapts only where it beats that control.
import * as tf from "@tensorflow/tfjs-core";
import { injectable } from "inversify";
import { Type as T } from "@sinclair/typebox";
import { Rng, type AdaptationRun, type AdaptationStrategy, type SegNetwork, type StepBatch, type StepInfo, type StepResult, type StrategyContext } from "@adaptseg/core";
import { classMask, classMix, pickHalf, presentClasses } from "./classmix.js";
import { drawPhotometric, photometric, type PhotometricParams } from "./photometric.js";
import { emaUpdate, teacherPredict } from "./teacher.js";
import { weightedCrossEntropy } from "./losses.js";
import { applyPair, netGrads, optionsOf, sourceSegLoss } from "./step.js";

export const DacsOptions = T.Object(
  {
    lambdaMix: T.Number({ minimum: 0, default: 1, description: "Weight of the mixed-image CE (DACS: 1)." }),
    emaAlpha: T.Number({ minimum: 0, maximum: 1, default: 0.99, description: "Teacher EMA decay (DACS: 0.99)." }),
    threshold: T.Number({ minimum: 0, maximum: 1, default: 0.968, description: "Teacher confidence counted in the target pixels' weight (DACS: 0.968)." }),
    jitter: T.Boolean({ default: true, description: "Colour jitter on the mixed image (probability 0.8)." }),
    blur: T.Boolean({ default: true, description: "Gaussian blur on the mixed image (probability 0.5)." }),
    lambdaSeg: T.Number({ minimum: 0, default: 0, description: "Weight of the aux head's source CE." }),
  },
  { additionalProperties: false },
);
type Options = typeof DacsOptions.static;

class DacsRun implements AdaptationRun {
  readonly needsTarget = true;
  readonly discriminators = new Map();
  readonly networks = new Map<string, SegNetwork>();
  private readonly rng: Rng;
  constructor(
    private readonly o: Options,
    private readonly ctx: StrategyContext,
    private readonly control: boolean,
  ) {
    this.rng = new Rng(ctx.seed + 4242);
    if (!control) this.networks.set("teacher", ctx.cloneNet());
  }
  step(b: StepBatch): StepResult {
    const { net, upsample: up, numClasses } = this.ctx;
    const { x: xs, y: ys, labels } = b.source;
    const xt = b.target!.x;
    const [n, h, w] = ys.shape;
    const terms: Record<string, tf.Scalar> = {};
    // Masks and augmentation parameters, drawn per image in a fixed order (resume replays them).
    const masks: Float32Array[] = [];
    const params: PhotometricParams[] = [];
    for (let i = 0; i < n; i++) {
      const label = labels.subarray(i * h * w, (i + 1) * h * w);
      masks.push(classMask(label, pickHalf(presentClasses(label, numClasses), this.rng)));
      params.push(drawPhotometric(this.rng));
    }
    const all = new Float32Array(n * h * w);
    masks.forEach((m, i) => all.set(m, i * h * w));
    const mask = tf.tensor3d(all, [n, h, w]);
    let pseudo: tf.Tensor3D, targetWeight: tf.Tensor1D;
    if (this.control) {
      pseudo = tf.fill([n, h, w], 255, "int32") as tf.Tensor3D;
      targetWeight = tf.zeros([n]);
    } else {
      const p = teacherPredict(up(this.networks.get("teacher")!.apply(xt).main, h, w));
      pseudo = p.label;
      targetWeight = p.confidence.greaterEqual(this.o.threshold).cast("float32").mean([1, 2]) as tf.Tensor1D;
      terms.confident = tf.keep(targetWeight.mean() as tf.Scalar);
    }
    const mixed = classMix(mask, xs, xt, ys, pseudo, targetWeight);
    const images = tf.unstack(mixed.image).map((im, i) => {
      const p = params[i]!;
      return photometric(im.expandDims(0) as tf.Tensor4D, { jitter: this.o.jitter ? p.jitter : undefined, blur: this.o.blur ? p.blur : undefined });
    });
    const xm = tf.concat(images, 0) as tf.Tensor4D;
    const G = netGrads(net, () => {
      const [os, om] = applyPair(net, xs, xm);
      const loss = sourceSegLoss(os, ys, this.o.lambdaSeg, up, terms);
      terms.mix = tf.keep(weightedCrossEntropy(up(om.main, h, w), mixed.label, mixed.weight));
      return loss.add(terms.mix.mul(this.o.lambdaMix));
    });
    return { terms, grads: { G } };
  }
  afterStep({ iteration }: StepInfo): void {
    const teacher = this.networks.get("teacher");
    if (teacher) emaUpdate(teacher, this.ctx.net, this.o.emaAlpha, iteration);
  }
  state(): Record<string, unknown> {
    return { rng: this.rng.state };
  }
  restore(s: Record<string, unknown>): void {
    this.rng.state = Number(s.rng);
  }
  dispose(): void {
    for (const t of this.networks.values()) t.dispose();
  }
}

@injectable()
export class Dacs implements AdaptationStrategy<Options> {
  readonly name = "dacs";
  readonly options = DacsOptions;
  create(options: Partial<Options>, ctx: StrategyContext): AdaptationRun {
    return new DacsRun(optionsOf(DacsOptions, options), ctx, false);
  }
}

/** DACS's mixed, augmented source pass with the target term weighted 0 and no teacher: the augmentation-only control. */
@injectable()
export class AugControl implements AdaptationStrategy<Options> {
  readonly name = "aug-control";
  readonly options = DacsOptions;
  create(options: Partial<Options>, ctx: StrategyContext): AdaptationRun {
    return new DacsRun(optionsOf(DacsOptions, options), ctx, true);
  }
}
