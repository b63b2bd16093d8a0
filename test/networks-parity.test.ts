// Every network part on wasm against the cpu backend (reference), to 1e-4 relative: the backbone's
// outputs (main, aux, features) and weight gradients, the FC discriminator, and each strategy's
// G and D losses with their gradients. Same weights on both backends (values copied).
import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { VggDeeplabNet } from "@adaptseg/models-vgg";
import { FCDiscriminator, FCDiscriminatorNet, FeatureLevel, MultiLevel, OutputSpace, SourceOnly, type GanRun } from "@adaptseg/discriminators";
import type { Network, SegOutputs, StrategyContext } from "@adaptseg/core";
import { onBackend, relErr, seeded, useWasm } from "./kernels.helpers.js";

const TOL = 1e-4;
type Arrays = Record<string, Float32Array>;
const worst: Record<string, number> = {};

const snapshot = (n: Network): Arrays => Object.fromEntries([...n.weights].map(([k, v]) => [k, v.dataSync() as Float32Array]));
function load(n: Network, values: Arrays): void {
  for (const [k, v] of n.weights) tf.tidy(() => v.assign(tf.tensor(values[k]!, v.shape)));
}

/** Runs `f` on wasm and on cpu; asserts every named array agrees to TOL and tensors do not leak. */
async function parity(what: string, f: () => Arrays): Promise<Arrays> {
  const run = (backend: string) =>
    onBackend(backend, () => {
      const n0 = tf.memory().numTensors;
      const out = f();
      assert.equal(tf.memory().numTensors, n0, `${what} on ${backend} leaked tensors`);
      return out;
    });
  const w = await run("wasm");
  const c = await run("cpu");
  assert.deepEqual(Object.keys(w).sort(), Object.keys(c).sort());
  for (const k of Object.keys(c)) {
    assert.ok(
      c[k]!.some((v) => v !== 0),
      `${what}: ${k} is all zeros on cpu (nothing to compare)`,
    );
    const e = relErr(w[k]!, c[k]!);
    worst[what] = Math.max(worst[what] ?? 0, e);
    assert.ok(e < TOL, `${what}: ${k} differs between wasm and cpu by ${e.toExponential(2)} (relative)`);
  }
  return c;
}

describe("wasm vs cpu parity of the networks", function () {
  this.timeout(600_000);
  before(useWasm);
  after(() =>
    console.log(
      `      worst wasm-vs-cpu relative difference: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toExponential(1)}`)
        .join(", ")}`,
    ),
  );

  it("backbone (1/8 width, 33x41, aux head): main, aux, features and every weight gradient", async () => {
    const opts = { numClasses: 5, widthMultiplier: 0.125, auxHead: true, seed: 21 };
    const weights = await onBackend("cpu", () => {
      const n = new VggDeeplabNet(opts);
      const s = snapshot(n);
      n.dispose();
      return s;
    });
    const x = seeded(33 * 41 * 3, 5, 60); // mean-subtracted BGR range
    const r = { main: seeded(5 * 6 * 5, 6, 1), aux: seeded(5 * 6 * 5, 7, 1), features: seeded(5 * 6 * 128, 8, 1) };
    const out = await parity("backbone", () => {
      const net = new VggDeeplabNet(opts);
      load(net, weights);
      const res = tf.tidy(() => {
        const input = tf.tensor4d(x, [1, 33, 41, 3]);
        const o = net.apply(input);
        const arrays: Arrays = { main: o.main.dataSync() as Float32Array, aux: o.aux!.dataSync() as Float32Array, features: o.features!.dataSync() as Float32Array };
        const { grads } = tf.variableGrads(() => {
          const p = net.apply(input);
          return tf.addN((["main", "aux", "features"] as const).map((k) => tf.sum(tf.mul(p[k]!, tf.tensor(r[k], p[k]!.shape))))) as tf.Scalar;
        }, [...net.weights.values()]);
        for (const [k, v] of net.weights) arrays[`grad ${k}`] = grads[v.name]!.dataSync() as Float32Array;
        return arrays;
      });
      net.dispose();
      return res;
    });
    assert.equal(out.main!.length, 5 * 6 * 5); // ceil(33/8) x ceil(41/8) x C
    assert.equal(out.features!.length, 5 * 6 * 128);
  });

  it("FC discriminator forward (logit map and upsampled) and gradients", async () => {
    const x = seeded(33 * 41 * 5, 9, 1);
    for (const upsample of [false, true]) {
      const weights = await onBackend("cpu", () => {
        const d = new FCDiscriminatorNet(5, { seed: 2, widthMultiplier: 0.125 });
        const s = snapshot(d);
        d.dispose();
        return s;
      });
      const out = await parity(`FC discriminator (upsample ${upsample})`, () => {
        const d = new FCDiscriminator().create(5, { seed: 2, widthMultiplier: 0.125, upsample });
        load(d, weights);
        const res = tf.tidy(() => {
          const input = tf.tensor4d(x, [1, 33, 41, 5]);
          const r = (t: tf.Tensor) => tf.tensor(seeded(t.size, 10, 1), t.shape);
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(d.apply(input), r(d.apply(input)))) as tf.Scalar, [...d.weights.values()]);
          const arrays: Arrays = { logits: d.apply(input).dataSync() as Float32Array, projection: value.dataSync() as Float32Array };
          for (const [k, v] of d.weights) arrays[`grad ${k}`] = grads[v.name]!.dataSync() as Float32Array;
          return arrays;
        });
        d.dispose();
        return res;
      });
      assert.equal(out.logits!.length, upsample ? 33 * 41 : 1); // 33x41 -> 16x20 -> 8x10 -> 4x5 -> 2x2 -> 1x1
    }
  });

  // Strategy losses on synthetic network outputs (the D needs >= 32x32 maps; feature-level's
  // features come from 256x256 images in practice, far too slow for the cpu backend here).
  const C = 5,
    F = 16,
    H = 32,
    W = 40;
  const outs = (seed: number) => ({ main: seeded(H * W * C, seed, 3), aux: seeded(H * W * C, seed + 1, 3), features: seeded(H * W * F, seed + 2, 2) });
  const src = outs(30),
    tgt = outs(40);
  const tensors = (o: typeof src): SegOutputs => ({ main: tf.tensor4d(o.main, [1, H, W, C]), aux: tf.tensor4d(o.aux, [1, H, W, C]), features: tf.tensor4d(o.features, [1, H, W, F]) });
  const ctx = { numClasses: C, featureChannels: F, discriminator: new FCDiscriminator(), discriminatorOptions: { widthMultiplier: 0.25 }, seed: 4 } as unknown as StrategyContext;
  for (const [S, levels] of [
    [OutputSpace, ["main"]],
    [MultiLevel, ["aux", "main"]],
    [FeatureLevel, ["features"]],
  ] as const) {
    for (const gan of ["vanilla", "lsgan"] as const) {
      it(`${new S().name} (${gan}): G loss and its gradient wrt the target outputs, D loss and its gradient wrt D`, async () => {
        const options = { gan };
        const dWeights = await onBackend("cpu", () => {
          const run = new S().create(options, ctx) as GanRun;
          const s = Object.fromEntries([...run.discriminators].map(([l, d]) => [l, snapshot(d)]));
          run.dispose();
          return s;
        });
        const out = await parity(`${new S().name} ${gan}`, () => {
          const run = new S().create(options, ctx) as GanRun;
          for (const [l, d] of run.discriminators) load(d, dWeights[l]!);
          const res = tf.tidy(() => {
            const s = tensors(src),
              t = tensors(tgt);
            const arrays: Arrays = {};
            const keys = levels.map((l) => l as keyof SegOutputs);
            const g = tf.grads((...xs: tf.Tensor[]) => {
              const o: SegOutputs = { ...t };
              keys.forEach((k, i) => (o[k] = xs[i] as tf.Tensor4D));
              const lt = run.generatorLoss(o)!;
              arrays["G total"] = lt.total.dataSync() as Float32Array;
              for (const [k, v] of Object.entries(lt.terms)) arrays[`G ${k}`] = v.dataSync() as Float32Array;
              return lt.total;
            })(keys.map((k) => t[k]!));
            keys.forEach((k, i) => (arrays[`dG/d target ${k}`] = g[i]!.dataSync() as Float32Array));
            const dVars = [...run.discriminators.values()].flatMap((d) => [...d.weights.values()]);
            const { grads } = tf.variableGrads(() => {
              const lt = run.discriminatorLoss(s, t)!;
              arrays["D total"] = lt.total.dataSync() as Float32Array;
              for (const [k, v] of Object.entries(lt.terms)) arrays[`D ${k}`] = v.dataSync() as Float32Array;
              return lt.total;
            }, dVars);
            for (const [l, d] of run.discriminators) for (const [k, v] of d.weights) arrays[`dD/d ${l}/${k}`] = grads[v.name]!.dataSync() as Float32Array;
            return arrays;
          });
          run.dispose();
          return res;
        });
        assert.deepEqual(
          Object.keys(out)
            .filter((k) => k.startsWith("G adv_"))
            .sort(),
          levels.map((l) => `G adv_${l}`).sort(),
        );
      });
    }
  }

  it("source-only has no discriminator and no adversarial losses on either backend", async () => {
    for (const backend of ["wasm", "cpu"]) {
      await onBackend(backend, () => {
        const run = new SourceOnly().create({}, ctx) as GanRun;
        const s = tensors(src);
        assert.equal(run.discriminators.size, 0);
        assert.equal(run.generatorLoss(s), undefined);
        assert.equal(run.discriminatorLoss(s, s), undefined);
        tf.dispose(Object.values(s) as tf.Tensor[]);
        run.dispose();
      });
    }
  });
});
