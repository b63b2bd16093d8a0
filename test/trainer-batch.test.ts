// Batch size > 1: one iteration with batch 2 sees the same two frames that two batch-1 iterations
// see, and its losses are the right averages of theirs. Learning rates of 1e-30 keep the weights
// fixed (to float32 precision), so the batch-1 and batch-2 runs evaluate the same networks.
import { strict as assert } from "node:assert";
import { createContainer, DataPipeline, type ExperimentConfig } from "@adaptseg/core";
import { builtinModules, train } from "@adaptseg/engine";
import { describeWithData, sharedData, tmp } from "./helpers.js";

function frozenConfig(batchSize: number, iters: number): ExperimentConfig {
  const size = { width: 48, height: 32 };
  const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
  return {
    name: `batch-${batchSize}`,
    seed: 5,
    backend: "wasm",
    model: { type: "vgg16-deeplab", widthMultiplier: 0.0625 },
    discriminator: { type: "fc", widthMultiplier: 0.0625 },
    adaptation: { type: "output-space", lambdaAdv: [0.01] },
    source: { ...camvid({ excludeSequences: ["0001TP"] }, 6), augment: { mirror: true } },
    target: camvid({ sequences: ["0001TP"] }, 4),
    training: { maxIters: 100, stopIter: iters, batchSize, snapshotEvery: 100, optimizerG: { lr: 1e-30 }, optimizerD: { lr: 1e-30 } },
  };
}

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs expected ${expected}`);

describeWithData("trainer: batch size 2", function () {
  this.timeout(300_000);

  it("a batch-2 iteration's losses are the averages of the two matching batch-1 iterations", async () => {
    const one = await train(frozenConfig(1, 4), { outDir: tmp(), dataRoot: sharedData });
    const two = await train(frozenConfig(2, 2), { outDir: tmp(), dataRoot: sharedData });
    assert.equal(two.lossHistory.length, 2);
    assert.deepEqual(new Set(two.tensorCounts.slice(1)).size, 1, `tensor counts grew: ${two.tensorCounts}`);
    // The seg loss is a mean over valid (non-void) pixels: weight each frame by its valid-pixel count,
    // read from the same source loader the trainer uses (same seed, same order, same mirroring).
    const cfg = frozenConfig(1, 4);
    const pipeline = (await createContainer(cfg, { modules: builtinModules() })).get<DataPipeline>(DataPipeline);
    const ds = await pipeline.open(cfg.source, { dataRoot: sharedData });
    const loader = pipeline.loader(ds, cfg.source, { batchSize: 1, seed: cfg.seed!, labels: true });
    const valid: number[] = [];
    for (let i = 0; i < 4; i++) valid.push((await loader.next()).labels!.filter((v) => v < ds.meta.classes.length).length);
    loader.close();
    for (let k = 0; k < 2; k++) {
      const [a, b] = [one.lossHistory[2 * k]!, one.lossHistory[2 * k + 1]!];
      const [na, nb] = [valid[2 * k]!, valid[2 * k + 1]!];
      assert.notEqual(a.seg, b.seg, "the two frames should differ");
      close(two.lossHistory[k]!.seg!, (na * a.seg! + nb * b.seg!) / (na + nb), `iteration ${k + 1} seg`);
      // D's output maps have the same size for every frame: plain means over the batch.
      for (const term of ["adv_main", "d_main_src", "d_main_tgt", "d_main"]) close(two.lossHistory[k]![term]!, (a[term]! + b[term]!) / 2, `iteration ${k + 1} ${term}`);
    }
  });
});
