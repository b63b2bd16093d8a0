// A training step computes no gradient it does not need (issue #14's first check): kernel counts
// from tf.profile over one iteration. TF.js prunes the tape to the paths from the weights asked
// for, so the first conv of G gets no input gradient, D's weights get no gradient during G's
// adversarial pass, and D's first conv gets no input gradient on detached outputs.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import type { ExperimentConfig } from "@adaptseg/core";
import { train } from "@adaptseg/engine";
import { describeWithData, sharedData, tinyConfig, tmp } from "./helpers.js";

const D_CONVS = 5; // SPEC section 1: four 4x4 stride-2 convs and the classifier

async function kernelCounts(strategy: string, auxHead: boolean): Promise<Record<string, number>> {
  const c = tinyConfig(strategy, 1);
  const config: ExperimentConfig = { ...c, model: { ...c.model, auxHead }, evaluation: undefined };
  const p = await tf.profile(async () => void (await train(config, { outDir: tmp(), dataRoot: sharedData })));
  const n: Record<string, number> = {};
  for (const k of p.kernels) n[k.name] = (n[k.name] ?? 0) + 1;
  return n;
}

describeWithData("one training step does only the gradient work it needs", function () {
  this.timeout(300_000);

  for (const [strategy, levels, aux] of [
    ["output-space", 1, false],
    ["multi-level", 2, true],
  ] as const)
    it(`${strategy}: conv gradients per step = what G's and D's updates need, no more`, async () => {
      const g = await kernelCounts("source-only", aux);
      const F = g.Conv2D!; // G's convs in one forward
      assert.equal(g.Conv2DBackpropFilter, F, "source-only: one filter gradient per conv");
      assert.equal(g.Conv2DBackpropInput, F - 1, "source-only: no input gradient for the image");
      const a = await kernelCounts(strategy, aux);
      const d = levels * D_CONVS;
      // G on source and target (2F), D on the target in G's adversarial pass (d), D on detached source and target (2d).
      assert.equal(a.Conv2D, 2 * F + 3 * d);
      assert.equal(a.Conv2DBackpropFilter, 2 * F + 2 * d, "D's weights got gradients in G's pass, or G's in D's");
      assert.equal(a.Conv2DBackpropInput, 2 * (F - 1) + d + 2 * (d - levels), "an input gradient nobody needs");
    });
});
