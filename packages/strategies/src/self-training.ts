// Self-training with class-balanced pseudo-labels (CBST, Zou et al., ECCV 2018; SPEC section 7).
// Each round a teacher (the student frozen at the round's start, or an EMA of the student) predicts
// every target frame; per class c, k_c = the confidence at the top-p portion of the pixels predicted
// as c. Each step the teacher predicts the target batch; a pixel gets pseudo-label c when its argmax
// is c and P_c >= k_c, else it is ignored. Loss = CE(source) + lambdaTarget * CE(target, pseudo-labels).
import * as tf from "@tensorflow/tfjs-core";
import { injectable } from "inversify";
import { Type as T } from "@sinclair/typebox";
import type { AdaptationRun, AdaptationStrategy, SegNetwork, StepBatch, StepInfo, StepResult, StrategyContext } from "@adaptseg/core";
import { classThresholds, roundPortion } from "./cbst.js";
import { copyWeights, emaUpdate, teacherPredict } from "./teacher.js";
import { crossEntropy2d } from "@adaptseg/compute";
import { applyPair, netGrads, optionsOf, sourceSegLoss } from "./step.js";

export const SelfTrainingOptions = T.Object(
  {
    teacher: T.Union([T.Literal("round"), T.Literal("ema")], { default: "round", description: "round: the student frozen at each round's start (CBST); ema: an EMA of the student." }),
    roundLength: T.Integer({ minimum: 0, default: 0, description: "Iterations per round (0: one round, the teacher is the starting model)." }),
    portion: T.Object(
      { start: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.2 }), step: T.Number({ minimum: 0, default: 0.05 }), max: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5 }) },
      { additionalProperties: false, default: {}, description: "Top portion p of each class's pixels pseudo-labelled: start, growth per round, max (CBST: 0.2, 0.05, 0.5)." },
    ),
    lambdaTarget: T.Number({ minimum: 0, default: 1, description: "Weight of the pseudo-labelled target CE." }),
    emaAlpha: T.Number({ minimum: 0, maximum: 1, default: 0.99, description: "EMA decay (teacher: ema)." }),
    lambdaSeg: T.Number({ minimum: 0, default: 0, description: "Weight of the aux head's source CE." }),
  },
  { additionalProperties: false },
);
type Options = typeof SelfTrainingOptions.static;

class SelfTrainingRun implements AdaptationRun {
  readonly needsTarget = true;
  readonly discriminators = new Map();
  readonly networks = new Map<string, SegNetwork>();
  private thresholds?: number[];
  private round = -1;
  constructor(
    private readonly o: Options,
    private readonly ctx: StrategyContext,
  ) {
    this.networks.set("teacher", ctx.cloneNet());
  }
  private get teacher(): SegNetwork {
    return this.networks.get("teacher")!;
  }
  async beforeStep({ iteration }: StepInfo): Promise<void> {
    const len = this.o.roundLength;
    const round = len > 0 ? Math.floor(iteration / len) : 0;
    if (this.thresholds && round === this.round) return;
    if (this.o.teacher === "round" && iteration > 0) copyWeights(this.teacher, this.ctx.net);
    this.round = round;
    this.thresholds = await this.computeThresholds(roundPortion(round, this.o.portion));
  }
  /** k_c over every target frame, from the teacher. */
  private async computeThresholds(portion: number): Promise<number[]> {
    const preds: Int32Array[] = [];
    const confs: Float32Array[] = [];
    for await (const { x } of this.ctx.targetFrames()) {
      const { label, confidence } = tf.tidy(() => teacherPredict(this.ctx.upsample(this.teacher.apply(x).main, x.shape[1], x.shape[2])));
      preds.push((await label.data()) as Int32Array);
      confs.push((await confidence.data()) as Float32Array);
      tf.dispose([label, confidence, x]);
    }
    const cat = <A extends Int32Array | Float32Array>(parts: A[], C: new (n: number) => A) => {
      const out = new C(parts.reduce((s, p) => s + p.length, 0));
      parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
      return out;
    };
    return classThresholds(cat(preds, Int32Array), cat(confs, Float32Array), this.ctx.numClasses, portion);
  }
  step(b: StepBatch): StepResult {
    const { net, upsample: up } = this.ctx;
    const terms: Record<string, tf.Scalar> = {};
    const [, h, w] = b.target!.x.shape;
    const pseudo = tf.tidy(() => {
      const { label, confidence } = teacherPredict(up(this.teacher.apply(b.target!.x).main, h, w));
      const k = tf.gather(tf.tensor1d(this.thresholds!.map((v) => (Number.isFinite(v) ? v : 2))), label);
      return tf.where(confidence.greaterEqual(k), label, tf.fill(label.shape, 255, "int32")) as tf.Tensor3D;
    });
    terms.pl_share = tf.keep(pseudo.less(255).cast("float32").mean() as tf.Scalar);
    const G = netGrads(net, () => {
      const [os, ot] = applyPair(net, b.source.x, b.target!.x);
      const loss = sourceSegLoss(os, b.source.y, this.o.lambdaSeg, up, terms);
      // Mean over the pseudo-labelled pixels (255 ignored); 0 when none is labelled.
      terms.st = tf.keep(crossEntropy2d(up(ot.main, h, w), pseudo));
      return loss.add(terms.st.mul(this.o.lambdaTarget));
    });
    return { terms, grads: { G } };
  }
  afterStep({ iteration }: StepInfo): void {
    if (this.o.teacher === "ema") emaUpdate(this.teacher, this.ctx.net, this.o.emaAlpha, iteration);
  }
  state(): Record<string, unknown> {
    return { round: this.round, thresholds: this.thresholds?.map((v) => (Number.isFinite(v) ? v : null)) };
  }
  restore(s: Record<string, unknown>): void {
    this.round = Number(s.round ?? -1);
    this.thresholds = (s.thresholds as (number | null)[] | undefined)?.map((v) => v ?? Infinity);
  }
  dispose(): void {
    this.teacher.dispose();
  }
}

@injectable()
export class SelfTraining implements AdaptationStrategy<Options> {
  readonly name = "self-training";
  readonly options = SelfTrainingOptions;
  create(options: Partial<Options>, ctx: StrategyContext): AdaptationRun {
    return new SelfTrainingRun(optionsOf(SelfTrainingOptions, options), ctx);
  }
}
