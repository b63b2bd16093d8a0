// @adaptseg/metrics: segmentation metrics with no TF.js and no run-time dependency on core.
import { ContainerModule } from "inversify";
import { ConfusionMatrix, type MetricsResult } from "./confusion.js";

export * from "./confusion.js";

/** Core's `Metric` plugin point: the same global symbol, redeclared so metrics stays standalone. */
export const MetricPoint = Symbol.for("adaptseg.Metric");

/** The "miou" Metric plugin (core's Metric interface): a confusion matrix per accumulator. */
export const miouMetric = {
  name: "miou",
  create(numClasses: number, options: { classes?: readonly number[] } = {}) {
    const m = new ConfusionMatrix(numClasses);
    return {
      matrix: m,
      process(gt: ArrayLike<number>, pred: ArrayLike<number>): void {
        m.process(gt, pred);
      },
      compute(): MetricsResult & Record<string, unknown> {
        return { ...m.compute(options) };
      },
    };
  },
};

export const containerModule = new ContainerModule(({ bind }) => {
  bind(MetricPoint).toConstantValue(miouMetric);
});
