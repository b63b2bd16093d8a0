// No tensor leaks over 50 training iterations, for every strategy, on real CamVid frames with a
// tiny network: tf.memory() (tensor count and bytes) is flat after the first iteration, across
// the interval checkpoints and evaluations inside the run, and back to its start value after it.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import type { ExperimentConfig } from "@adaptseg/core";
import { train } from "@adaptseg/engine";
import { describeWithData, sharedData, tinyConfig, tmp } from "./helpers.js";

const ITERS = 50;

function leakConfig(strategy: string): ExperimentConfig {
  // the tiny experiment has fewer frames than iterations: the loaders wrap into new epochs inside the run
  const c = tinyConfig(strategy, ITERS);
  return { ...c, name: `leaks-${strategy}`, evaluation: { ...c.evaluation!, every: 20 }, training: { ...c.training, snapshotEvery: 20, keepSnapshots: 1 } };
}

describeWithData("trainer: no tensor leaks over 50 iterations (slow)", function () {
  this.timeout(300_000);

  for (const strategy of ["source-only", "output-space", "multi-level", "feature-level", "advent", "minent", "self-training", "dacs", "aug-control"]) {
    it(`${strategy}: numTensors and numBytes flat after iteration 1, through checkpoints and evals`, async () => {
      const before = tf.memory();
      const r = await train(leakConfig(strategy), { outDir: tmp(), dataRoot: sharedData });
      assert.equal(r.lossHistory.length, ITERS);
      assert.equal(r.tensorCounts.length, ITERS);
      // evals at 20 and 40 inside the run, plus the final one
      assert.deepEqual(r.evals.length, 3);
      const counts = r.tensorCounts.slice(1);
      const bytes = r.tensorBytes.slice(1);
      assert.ok(
        counts.every((c) => c === counts[0]),
        `numTensors per iteration: ${r.tensorCounts.join(",")}`,
      );
      assert.ok(
        bytes.every((b) => b === bytes[0]),
        `numBytes per iteration: ${r.tensorBytes.join(",")}`,
      );
      const after = tf.memory();
      assert.equal(after.numTensors, before.numTensors, "train() left tensors behind (networks, optimiser slots)");
      assert.equal(after.numBytes, before.numBytes);
      for (const l of r.lossHistory) for (const v of Object.values(l)) assert.ok(Number.isFinite(v));
    });
  }
});
