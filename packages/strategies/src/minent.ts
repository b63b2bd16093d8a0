// ADVENT's MinEnt (Vu et al., CVPR 2019; SPEC section 7): CE on source + lambdaEnt * mean normalised entropy on target.
import * as tf from "@tensorflow/tfjs-core";
import { injectable } from "inversify";
import { Type as T } from "@sinclair/typebox";
import type { AdaptationRun, AdaptationStrategy, StepBatch, StepResult, StrategyContext } from "@adaptseg/core";
import { entropyLoss } from "./losses.js";
import { applyPair, netGrads, optionsOf, sourceSegLoss } from "./step.js";

export const MinEntOptions = T.Object(
  {
    lambdaEnt: T.Number({ minimum: 0, default: 0.001, description: "Weight of the target entropy term (ADVENT: 0.001)." }),
    lambdaEntAux: T.Number({ minimum: 0, default: 0, description: "Weight of the aux head's target entropy (multi-level MinEnt: 0.0002)." }),
    lambdaSeg: T.Number({ minimum: 0, default: 0, description: "Weight of the aux head's source CE." }),
  },
  { additionalProperties: false },
);

class MinEntRun implements AdaptationRun {
  readonly needsTarget = true;
  readonly discriminators = new Map();
  readonly networks = new Map();
  constructor(
    private readonly o: typeof MinEntOptions.static,
    private readonly ctx: StrategyContext,
  ) {}
  step(b: StepBatch): StepResult {
    const { net, upsample: up } = this.ctx;
    const terms: Record<string, tf.Scalar> = {};
    const G = netGrads(net, () => {
      const [os, ot] = applyPair(net, b.source.x, b.target!.x);
      let loss = sourceSegLoss(os, b.source.y, this.o.lambdaSeg, up, terms);
      const [, h, w] = b.target!.x.shape;
      terms.ent = tf.keep(entropyLoss(up(ot.main, h, w)));
      loss = loss.add(terms.ent.mul(this.o.lambdaEnt));
      if (ot.aux && this.o.lambdaEntAux > 0) {
        terms.ent_aux = tf.keep(entropyLoss(up(ot.aux, h, w)));
        loss = loss.add(terms.ent_aux.mul(this.o.lambdaEntAux));
      }
      return loss;
    });
    return { terms, grads: { G } };
  }
  dispose(): void {}
}

@injectable()
export class MinEnt implements AdaptationStrategy<typeof MinEntOptions.static> {
  readonly name = "minent";
  readonly options = MinEntOptions;
  create(options: Partial<typeof MinEntOptions.static>, ctx: StrategyContext): AdaptationRun {
    return new MinEntRun(optionsOf(MinEntOptions, options), ctx);
  }
}
