import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { AdvEnt, FCDiscriminator, FeatureLevel, MultiLevel, OutputSpace, SourceOnly, ganLoss, type GanRun } from "@adaptseg/discriminators";
import type { StrategyContext } from "@adaptseg/core";

const bce = (z: number, y: number) => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));

describe("discriminators", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("GAN losses equal hand-computed BCE and MSE on a 1x2x2x1 map", () => {
    const z = [0.5, -1, 2, 0];
    const logits = tf.tensor4d(z, [1, 2, 2, 1]);
    for (const y of [0, 1]) {
      const want = z.reduce((a, v) => a + bce(v, y), 0) / 4;
      assert.ok(Math.abs(ganLoss(logits, y, "vanilla").dataSync()[0]! - want) < 1e-6);
      const mse = z.reduce((a, v) => a + (v - y) ** 2, 0) / 4;
      assert.ok(Math.abs(ganLoss(logits, y, "lsgan").dataSync()[0]! - mse) < 1e-6);
    }
    logits.dispose();
  });

  it("FC discriminator: stride 32 logit map, parameter count, optional upsample", () => {
    const d = new FCDiscriminator().create(19, { seed: 1 });
    let n = 0;
    for (const v of d.weights.values()) n += v.size;
    const ch = [19, 64, 128, 256, 512, 1];
    assert.equal(
      n,
      ch.slice(1).reduce((a, c, i) => a + 16 * ch[i]! * c + c, 0),
    );
    const x = tf.zeros([1, 64, 128, 19]) as tf.Tensor4D;
    const y = d.apply(x);
    assert.deepEqual(y.shape, [1, 2, 4, 1]);
    const u = new FCDiscriminator().create(19, { seed: 1, widthMultiplier: 0.125, upsample: true });
    const yu = u.apply(x);
    assert.deepEqual(yu.shape, [1, 64, 128, 1]);
    tf.dispose([x, y, yu]);
    d.dispose();
    u.dispose();
  });

  it("creating and disposing a discriminator leaves no tensors (variables own their initial values)", () => {
    const n0 = tf.memory().numTensors;
    new FCDiscriminator().create(5, { seed: 1, widthMultiplier: 0.125 }).dispose();
    new OutputSpace().create({}, { numClasses: 3, featureChannels: 4, discriminator: new FCDiscriminator(), seed: 3 } as unknown as StrategyContext).dispose();
    assert.equal(tf.memory().numTensors, n0);
  });

  it("strategies: SPEC defaults, picked after gan: lsgan alone gets the LS-GAN weights, multi-level alone lambdaSeg 0.1", () => {
    const ctx = { numClasses: 3, featureChannels: 4, discriminator: new FCDiscriminator(), seed: 3 } as unknown as StrategyContext;
    const made = (S: new () => { create(o: object, c: StrategyContext): unknown }, o: object) => {
      const r = new S().create(o, ctx) as GanRun;
      r.dispose();
      return { lambdas: r.lambdas, lambdaSeg: r.lambdaSeg };
    };
    assert.deepEqual(made(OutputSpace, {}), { lambdas: [0.001], lambdaSeg: 0 });
    assert.deepEqual(made(OutputSpace, { gan: "lsgan" }), { lambdas: [0.01], lambdaSeg: 0 });
    assert.deepEqual(made(MultiLevel, {}), { lambdas: [0.0002, 0.001], lambdaSeg: 0.1 });
    assert.deepEqual(made(MultiLevel, { gan: "lsgan" }), { lambdas: [0.002, 0.01], lambdaSeg: 0.1 });
    assert.deepEqual(made(MultiLevel, { lambdaSeg: 0, lambdaAdv: [1, 2] }), { lambdas: [1, 2], lambdaSeg: 0 });
    assert.deepEqual(made(AdvEnt, {}), { lambdas: [0.001], lambdaSeg: 0 });
  });

  it("strategies: term names, D loss = 0.5 src + 0.5 tgt, no leaks", () => {
    const ctx = { numClasses: 3, featureChannels: 4, discriminator: new FCDiscriminator(), seed: 3 } as unknown as StrategyContext;
    assert.equal((new SourceOnly().create({}, ctx) as GanRun).generatorLoss({ main: tf.zeros([1, 2, 2, 3]) }), undefined);
    const outs = () => ({
      main: tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D,
      aux: tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 2) as tf.Tensor4D,
      features: tf.randomNormal([1, 32, 32, 4], 0, 1, "float32", 3) as tf.Tensor4D,
    });
    for (const [S, levels] of [
      [OutputSpace, ["main"]],
      [MultiLevel, ["aux", "main"]],
      [FeatureLevel, ["features"]],
    ] as const) {
      const run = new S().create({}, ctx) as GanRun;
      const s = outs(),
        t = outs();
      const before = tf.memory().numTensors;
      for (let k = 0; k < 2; k++) {
        const g = run.generatorLoss(t)!;
        const dl = run.discriminatorLoss(s, t)!;
        assert.deepEqual(Object.keys(g.terms).sort(), levels.map((l) => `adv_${l}`).sort());
        for (const l of levels) {
          const [a, b, c] = [dl.terms[`d_${l}`]!, dl.terms[`d_${l}_src`]!, dl.terms[`d_${l}_tgt`]!].map((x) => x.dataSync()[0]!);
          assert.ok(Math.abs(a! - b! - c!) < 1e-6);
          // src half is 0.5*BCE(D(src), 0): recompute by hand from the D logits
          const logits = tf.tidy(() => run.discriminators.get(l)!.apply(l === "features" ? s.features : tf.softmax(s[l]!)));
          const hand = (0.5 * [...logits.dataSync()].reduce((acc, z) => acc + bce(z, 0), 0)) / logits.size;
          assert.ok(Math.abs(b! - hand) < 1e-5, `${l}: ${b} vs ${hand}`);
          logits.dispose();
        }
        tf.dispose([g.total, dl.total, ...Object.values(g.terms), ...Object.values(dl.terms)]);
      }
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([...Object.values(s), ...Object.values(t)]);
      run.dispose();
    }
  });
});
