// A training step computes no gradient it does not need (issue #14's first check): kernel counts
// from tf.profile over one iteration. TF.js prunes the tape to the paths from the weights asked
// for, so the first conv of G gets no input gradient, D's weights get no gradient during G's
// adversarial pass, and D's first conv gets no input gradient on detached outputs.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import type { ExperimentConfig, SegNetwork } from "@adaptseg/core";
import { builtinBackends, crossEntropy2d, selectBackend } from "@adaptseg/compute";
import { train } from "@adaptseg/engine";
import { VggDeeplabNet } from "@adaptseg/models-vgg";
import { applyPair, netGrads } from "@adaptseg/strategies";
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
      // G on source and target in one batch-of-2 call (F: applyPair), D on the target in G's
      // adversarial pass (d), D on detached source and target (2d).
      assert.equal(a.Conv2D, F + 3 * d);
      assert.equal(a.Conv2DBackpropFilter, F + 2 * d, "D's weights got gradients in G's pass, or G's in D's");
      assert.equal(a.Conv2DBackpropInput, F - 1 + d + 2 * (d - levels), "an input gradient nobody needs");
    });
});

describe("applyPair: source and target in one call", function () {
  this.timeout(120_000);
  before(async () => void (await selectBackend(builtinBackends(), "wasm")));

  it("equals two calls (G's gradients to float32 round-off) on a batch-independent network, with half the conv calls", async () => {
    const net = new VggDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 16, auxHead: true, seed: 3 });
    const split: SegNetwork = Object.create(net, { batchIndependent: { value: false } });
    const [xs, xt] = [1, 2].map((seed) => tf.randomNormal([1, 40, 56, 3], 0, 50, "float32", seed) as tf.Tensor4D);
    const ys = tf.randomUniform([1, 40, 56], 0, 5, "int32", 3) as tf.Tensor3D;
    const start = tf.memory().numTensors;
    const convs = async (n: SegNetwork) => (await tf.profile(() => tf.tidy(() => void applyPair(n, xs!, xt!)))).kernels.filter((k) => k.name === "Conv2D").length;
    assert.equal(await convs(split), 2 * (await convs(net)));
    // The source CE, and target terms through main and aux (as MinEnt or D's loss reach them).
    const loss = (n: SegNetwork) => () => {
      const [os, ot] = applyPair(n, xs!, xt!);
      return crossEntropy2d(tf.image.resizeBilinear(os.main, [40, 56]), ys)
        .add(tf.mean(tf.square(ot.main)))
        .add(tf.mean(ot.aux!)) as tf.Scalar;
    };
    // netGrads leaves its loss value to the caller's tidy, as the trainer's step does.
    const fused = tf.tidy(() => netGrads(net, loss(net)));
    const sep = tf.tidy(() => netGrads(net, loss(split)));
    for (const k of Object.keys(sep)) {
      const t = tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(fused[k]!, sep[k]!))), tf.max(tf.abs(sep[k]!))]));
      const [d, m] = [...(await t.data())] as [number, number];
      t.dispose();
      assert.ok(d <= 1e-4 * Math.max(m, 1e-3), `${k}: max |diff| ${d} vs max |grad| ${m}`);
    }
    tf.dispose([...Object.values(fused), ...Object.values(sep)]);
    assert.equal(tf.memory().numTensors, start);
    tf.dispose([xs!, xt!, ys]);
    net.dispose();
  });
});
