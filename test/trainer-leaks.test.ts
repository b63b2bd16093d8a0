// No tensor leaks over 50 training iterations, for every strategy, on real CamVid frames with a
// tiny network: tf.memory() (tensor count and bytes) is flat after the first iteration, across
// the interval checkpoints and evaluations inside the run, and back to its start value after it.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import { train, type ExperimentConfig } from "@adaptseg/core";
import { sharedData, tmp } from "./helpers.js";

const ITERS = 50;

function leakConfig(strategy: string): ExperimentConfig {
  // D's five stride-2 convs need >= 32 px: output-space D sees image-size logits (48x32 is enough),
  // feature-level D sees 1/8-size features (256x256 images).
  const size = strategy === "feature-level" ? { width: 256, height: 256 } : { width: 48, height: 32 };
  const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
  return {
    name: `leaks-${strategy}`,
    seed: 11,
    backend: "wasm",
    model: { type: "vgg16-deeplab", widthMultiplier: 0.0625, auxHead: strategy === "multi-level" },
    discriminator: { type: "fc", widthMultiplier: 0.0625 },
    adaptation: { type: strategy, lambdaSeg: 0.1 },
    // fewer frames than iterations: the loaders wrap into new epochs inside the run
    source: { ...camvid({ excludeSequences: ["0001TP"] }, 7), augment: { mirror: true } },
    target: camvid({ sequences: ["0001TP"] }, 5),
    evaluation: { dataset: camvid({ sequences: ["0001TP"], fraction: [0.95, 1] }, 1), every: 20 },
    training: { maxIters: 1000, stopIter: ITERS, snapshotEvery: 20, keepSnapshots: 1, optimizerG: { lr: 0.01 } },
  };
}

describe("trainer: no tensor leaks over 50 iterations", function () {
  this.timeout(300_000);

  for (const strategy of ["source-only", "output-space", "multi-level", "feature-level"]) {
    it(`${strategy}: numTensors and numBytes flat after iteration 1, through checkpoints and evals`, async () => {
      const before = tf.memory();
      const r = await train(leakConfig(strategy), { outDir: tmp(), dataRoot: sharedData });
      assert.equal(r.lossHistory.length, ITERS);
      assert.equal(r.tensorCounts.length, ITERS);
      // evals at 20 and 40 inside the run, plus the final one
      assert.deepEqual(r.evals.length, 3);
      const counts = r.tensorCounts.slice(1);
      const bytes = r.tensorBytes.slice(1);
      assert.ok(counts.every((c) => c === counts[0]), `numTensors per iteration: ${r.tensorCounts.join(",")}`);
      assert.ok(bytes.every((b) => b === bytes[0]), `numBytes per iteration: ${r.tensorBytes.join(",")}`);
      const after = tf.memory();
      assert.equal(after.numTensors, before.numTensors, "train() left tensors behind (networks, optimiser slots)");
      assert.equal(after.numBytes, before.numBytes);
      for (const l of r.lossHistory) for (const v of Object.values(l)) assert.ok(Number.isFinite(v));
    });
  }
});
