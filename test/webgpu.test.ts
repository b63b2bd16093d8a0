// The webgpu backend on Mesa's software Vulkan driver (lavapipe 25, fetched by scripts/mesa.mjs into
// .cache/mesa; `node scripts/setup.mjs --test` does it). The driver's libraries must be on
// LD_LIBRARY_PATH from the process's start, so this file runs itself again in a child mocha with
// the driver's environment (ADAPTSEG_WEBGPU_SUITE=1), where: every network part's forward and
// gradients against the cpu backend to 1e-4 (relative), one training step of each strategy against
// wasm's losses, flat tensor counts, and `adaptseg train --backend webgpu` against `--backend wasm`.
// Where the driver is not there, the suite skips and says why.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, crossEntropy2d, dilatedConv2d, resizeBilinearBackward, resizeBilinearBackwardTensor, selectBackend, upsample, upsampleAlignCorners } from "@adaptseg/compute";
import { parseEvent, type ExperimentConfig, type IterationEvent, type Network, type SegOutputs, type StrategyContext } from "@adaptseg/core";
import { FCDiscriminator, FCDiscriminatorNet, MultiLevel, OutputSpace, type GanRun } from "@adaptseg/discriminators";
import { train } from "@adaptseg/engine";
import { VggDeeplabNet } from "@adaptseg/models-vgg";
import { ResnetDeeplabNet } from "@adaptseg/models-resnet";
import { entropyLoss, selfInformation } from "@adaptseg/strategies";
import { describeWithData, hasSharedData, repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";
import { relErr, seeded } from "./kernels.helpers.js";

const TOL = 1e-4;
const inChild = process.env.ADAPTSEG_WEBGPU_SUITE === "1";
const mesaFile = join(process.env.ADAPTSEG_MESA_DIR ?? join(repoRoot, ".cache/mesa"), "env.json");
type Arrays = Record<string, Float32Array>;

/** The lavapipe environment from scripts/mesa.mjs, or why there is none. */
function mesaEnv(): { env: Record<string, string> } | { why: string } {
  if (!existsSync(mesaFile)) return { why: `Mesa's lavapipe is not set up (${mesaFile} missing: run node scripts/mesa.mjs, which needs apt-get and a Debian apt source)` };
  const env = JSON.parse(readFileSync(mesaFile, "utf8")) as Record<string, string>;
  if (!existsSync(env.VK_ICD_FILENAMES!)) return { why: `${env.VK_ICD_FILENAMES} is missing (run node scripts/mesa.mjs again)` };
  return { env };
}

describe("on-device resizeBilinear gradient (cpu)", () => {
  it("two matrix products equal the JS adjoint, both modes, up and down, to 1e-6", async () => {
    for (const [inSize, outSize] of [
      [
        [5, 7],
        [33, 41],
      ],
      [
        [12, 9],
        [5, 4],
      ],
      [
        [1, 6],
        [3, 6],
      ],
    ] as const)
      for (const [align, half] of [
        [false, true],
        [true, false],
        [false, false],
      ]) {
        const shape = [2, outSize[0], outSize[1], 3];
        const g = seeded(
          shape.reduce((a, b) => a * b),
          3,
          1,
        );
        const want = resizeBilinearBackward(g, shape, [...inSize], align, half);
        const dy = tf.tensor4d(g, shape as [number, number, number, number]);
        const got = resizeBilinearBackwardTensor(dy, [...inSize], align, half);
        assert.deepEqual(got.shape, [2, inSize[0], inSize[1], 3]);
        const e = relErr(await got.data(), want);
        tf.dispose([dy, got]);
        assert.ok(e < 1e-6, `${inSize} <- ${outSize} align ${align} half ${half}: ${e}`);
      }
  });
});

if (!inChild) {
  describe("webgpu on the software driver (lavapipe)", function () {
    this.timeout(600_000);
    it("runs this suite in a child with the driver's environment", function () {
      const m = mesaEnv();
      if ("why" in m) {
        console.log(`      skipped: ${m.why}`);
        this.skip();
      }
      const mocha = join(repoRoot, "node_modules/mocha/bin/mocha.js");
      const r = spawnSync(process.execPath, [mocha, "--no-config", "-n", "import=tsx", "-t", "600000", "test/webgpu.test.ts"], {
        cwd: repoRoot,
        encoding: "utf8",
        env: { ...process.env, ...m.env, LD_LIBRARY_PATH: [m.env.LD_LIBRARY_PATH, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":"), ADAPTSEG_WEBGPU_SUITE: "1" },
      });
      // Dawn's and Mesa's warnings go to stderr; the child's mocha report to stdout.
      console.log(r.stdout.replace(/^/gm, "    "));
      assert.equal(r.status, 0, `the webgpu suite failed (exit ${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
      assert.doesNotMatch(r.stdout, / pending/, "the webgpu suite skipped tests in the child");
    });
  });
} else {
  describe("webgpu vs cpu (software driver)", () => {
    const worst: Record<string, number> = {};
    before(async function () {
      try {
        await selectBackend(builtinBackends(), "webgpu");
        await tf.setBackend("cpu");
      } catch (e) {
        console.log(`      skipped: ${(e as Error).message}`);
        this.skip();
      }
    });
    after(() =>
      console.log(
        `      worst webgpu-vs-cpu relative difference: ${Object.entries(worst)
          .map(([k, v]) => `${k} ${v.toExponential(1)}`)
          .join(", ")}`,
      ),
    );

    /** Runs `f` on `backend`; every tensor it returns, read with data(); asserts nothing leaked. */
    async function on(backend: string, f: () => Record<string, tf.Tensor>): Promise<Arrays> {
      await tf.setBackend(backend);
      const n0 = tf.memory().numTensors;
      const ts = tf.tidy(f);
      const out: Arrays = {};
      for (const [k, t] of Object.entries(ts)) out[k] = (await t.data()) as Float32Array;
      tf.dispose(Object.values(ts));
      assert.equal(tf.memory().numTensors, n0, `${backend} leaked tensors`);
      await tf.setBackend("cpu");
      return out;
    }
    /** `f` on webgpu and on cpu: every named array agrees to TOL (relative to the cpu values' largest). */
    async function parity(what: string, f: () => Record<string, tf.Tensor>): Promise<void> {
      const g = await on("webgpu", f);
      const c = await on("cpu", f);
      assert.deepEqual(Object.keys(g).sort(), Object.keys(c).sort());
      assert.ok(Object.values(c).every((a) => a.length) && Object.values(c).some((a) => a.some((v) => v !== 0)), `${what}: nothing to compare (all zeros on cpu)`);
      for (const k of Object.keys(c)) {
        const e = relErr(g[k]!, c[k]!);
        worst[what] = Math.max(worst[what] ?? 0, e);
        assert.ok(e < TOL, `${what}: ${k} differs between webgpu and cpu by ${e.toExponential(2)} (relative)`);
      }
    }
    /** A network built on cpu, its weights as arrays (every backend then gets the same values). */
    async function weightsOf(make: () => Network): Promise<Arrays> {
      const n = make();
      const out: Arrays = {};
      for (const [k, v] of n.weights) out[k] = (await v.data()) as Float32Array;
      n.dispose();
      return out;
    }
    const load = (n: Network, values: Arrays) => {
      for (const [k, v] of n.weights) tf.tidy(() => v.assign(tf.tensor(values[k]!, v.shape)));
    };
    /** The outputs of `f` and the gradients of sum(outputs * r): wrt the network's weights, else wrt the inputs. */
    function withGrads(net: Network | undefined, inputs: Record<string, tf.Tensor>, f: (xs: tf.Tensor[]) => Record<string, tf.Tensor>): Record<string, tf.Tensor> {
      const names = Object.keys(inputs);
      const xs = names.map((n) => inputs[n]!);
      // The outputs here; the gradient's own forward pass keeps nothing but its value.
      const out: Record<string, tf.Tensor> = f(xs);
      const loss = (a: tf.Tensor[]) => tf.addN(Object.values(f(a)).map((t, i) => tf.sum(tf.mul(t, tf.tensor(seeded(t.size, 50 + i, 1), t.shape))))) as tf.Scalar;
      if (net) {
        const { grads } = tf.variableGrads(() => loss(xs), [...net.weights.values()]);
        for (const [k, v] of net.weights) if (grads[v.name]) out[`grad ${k}`] = grads[v.name]!; // frozen ones have none
      } else {
        const g = tf.grads((...a: tf.Tensor[]) => loss(a))(xs);
        names.forEach((n, i) => (out[`grad ${n}`] = g[i]!));
      }
      return out;
    }

    it("conv2d, dilated conv2d (rates 2, 4), max pool: forward and gradients", async () => {
      const x = seeded(2 * 17 * 19 * 6, 1, 1),
        w = seeded(3 * 3 * 6 * 8, 2, 0.3);
      await parity("conv/dilated/pool", () => {
        const X = tf.tensor4d(x, [2, 17, 19, 6]),
          Wt = tf.tensor4d(w, [3, 3, 6, 8]);
        return withGrads(undefined, { x: X, w: Wt }, ([a, b]) => ({
          conv: tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"),
          d2: dilatedConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2),
          d4: dilatedConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 4),
          pool: tf.maxPool(tf.relu(a as tf.Tensor4D), 3, 2, "same"),
        }));
      });
    });

    it("our resizeBilinear (half-pixel and align-corners) and its gradient, up and down", async () => {
      const x = seeded(2 * 5 * 7 * 3, 4, 1);
      await parity("resize", () =>
        withGrads(undefined, { x: tf.tensor4d(x, [2, 5, 7, 3]) }, ([a]) => ({
          up: upsample(a as tf.Tensor4D, 33, 41),
          upAlign: upsampleAlignCorners(a as tf.Tensor4D, 33, 41),
          down: upsample(a as tf.Tensor4D, 3, 4),
        })),
      );
    });

    it("losses: cross-entropy (ignored pixels), entropy, self-information", async () => {
      const l = seeded(2 * 9 * 11 * 5, 5, 3);
      const labels = Int32Array.from(seeded(2 * 9 * 11, 6, 1), (v) => (v > 0.8 ? 255 : Math.floor((v + 1) * 2.5) % 5));
      await parity("losses", () =>
        withGrads(undefined, { logits: tf.tensor4d(l, [2, 9, 11, 5]) }, ([a]) => ({
          ce: crossEntropy2d(a as tf.Tensor4D, tf.tensor3d(labels, [2, 9, 11], "int32")),
          ent: entropyLoss(a as tf.Tensor4D),
          selfInfo: selfInformation(a as tf.Tensor4D),
        })),
      );
    });

    it("VGG DeepLab (1/16 width, 33x41, aux head): outputs and every weight gradient", async () => {
      const opts = { numClasses: 5, widthMultiplier: 0.0625, auxHead: true, seed: 21 };
      const weights = await weightsOf(() => new VggDeeplabNet(opts));
      const x = seeded(33 * 41 * 3, 5, 60);
      await parity("VGG DeepLab", () => {
        const net = new VggDeeplabNet(opts);
        load(net, weights);
        const r = withGrads(net, { x: tf.tensor4d(x, [1, 33, 41, 3]) }, ([a]) => {
          const o = net.apply(a as tf.Tensor4D);
          return { main: o.main, aux: o.aux!, features: o.features! };
        });
        net.dispose();
        return r;
      });
    });

    it("ResNet-101 DeepLab (1/32 width, 33x41): outputs and every weight gradient", async () => {
      const opts = { numClasses: 3, widthMultiplier: 1 / 32, seed: 5 };
      const weights = await weightsOf(() => new ResnetDeeplabNet(opts));
      const x = seeded(33 * 41 * 3, 7, 60);
      await parity("ResNet DeepLab", () => {
        const net = new ResnetDeeplabNet(opts);
        load(net, weights);
        const r = withGrads(net, { x: tf.tensor4d(x, [1, 33, 41, 3]) }, ([a]) => ({ main: net.apply(a as tf.Tensor4D).main }));
        net.dispose();
        return r;
      });
    });

    it("FC discriminator: logits and gradients wrt input and weights", async () => {
      const weights = await weightsOf(() => new FCDiscriminatorNet(5, { seed: 2, widthMultiplier: 0.125 }));
      const x = seeded(33 * 41 * 5, 9, 1);
      await parity("FC discriminator", () => {
        const d = new FCDiscriminator().create(5, { seed: 2, widthMultiplier: 0.125, upsample: true });
        load(d, weights);
        const r = withGrads(d, { x: tf.tensor4d(x, [1, 33, 41, 5]) }, ([a]) => ({ logits: d.apply(a as tf.Tensor4D) }));
        d.dispose();
        return r;
      });
    });

    it("output-space and multi-level GAN losses (vanilla, lsgan): G and D losses and gradients", async () => {
      const C = 5,
        H = 32,
        W = 40;
      const ctx = { numClasses: C, featureChannels: 8, discriminator: new FCDiscriminator(), discriminatorOptions: { widthMultiplier: 0.125 }, seed: 4 } as unknown as StrategyContext;
      const outs = (seed: number) => ({ main: seeded(H * W * C, seed, 3), aux: seeded(H * W * C, seed + 1, 3) });
      const src = outs(30),
        tgt = outs(40);
      const tensors = (o: typeof src): SegOutputs => ({ main: tf.tensor4d(o.main, [1, H, W, C]), aux: tf.tensor4d(o.aux, [1, H, W, C]) });
      for (const S of [OutputSpace, MultiLevel])
        for (const gan of ["vanilla", "lsgan"] as const) {
          const run0 = new S().create({ gan }, ctx) as GanRun;
          const dWeights: Record<string, Arrays> = {};
          for (const [l, d] of run0.discriminators) {
            dWeights[l] = {};
            for (const [k, v] of d.weights) dWeights[l]![k] = (await v.data()) as Float32Array;
          }
          run0.dispose();
          await parity(`${new S().name} ${gan}`, () => {
            const run = new S().create({ gan }, ctx) as GanRun;
            for (const [l, d] of run.discriminators) load(d, dWeights[l]!);
            const s = tensors(src),
              t = tensors(tgt);
            const out: Record<string, tf.Tensor> = {};
            out["G total"] = run.generatorLoss(t)!.total;
            const [gMain] = tf.grads((m: tf.Tensor) => run.generatorLoss({ ...t, main: m as tf.Tensor4D })!.total)([t.main]);
            out["dG/d main"] = gMain!;
            const { value, grads } = tf.variableGrads(
              () => run.discriminatorLoss(s, t)!.total,
              [...run.discriminators.values()].flatMap((d) => [...d.weights.values()]),
            );
            out["D total"] = value;
            for (const [l, d] of run.discriminators) for (const [k, v] of d.weights) out[`dD/d ${l}/${k}`] = grads[v.name]!;
            run.dispose();
            return out;
          });
        }
    });
  });

  describeWithData("webgpu training steps (software driver)", () => {
    const ITERS = 2;
    const worst: Record<string, number> = {};
    after(() =>
      console.log(
        `      worst webgpu-vs-wasm loss difference (relative): ${Object.entries(worst)
          .map(([k, v]) => `${k} ${v.toExponential(1)}`)
          .join(", ")}`,
      ),
    );
    before(async function () {
      try {
        await selectBackend(builtinBackends(), "webgpu");
      } catch (e) {
        console.log(`      skipped: ${(e as Error).message}`);
        this.skip();
      }
    });

    // Tiny: 1/16-width VGG, 64x48 frames; wasm's losses (the same data and weights) to 1e-4 relative.
    const cfg = (strategy: string): ExperimentConfig => {
      const c = tinyConfig(strategy, ITERS);
      return { ...c, evaluation: { ...c.evaluation!, every: 0 }, training: { ...c.training, snapshotEvery: 100 } };
    };
    for (const strategy of ["source-only", "output-space", "multi-level", "minent", "advent", "self-training", "dacs", "aug-control"]) {
      it(`${strategy}: ${ITERS} steps with wasm's losses, tensor count flat, nothing left behind`, async () => {
        const w = await train(cfg(strategy), { outDir: tmp(), dataRoot: sharedData, backend: "wasm" });
        const before = tf.memory().numTensors;
        const g = await train(cfg(strategy), { outDir: tmp(), dataRoot: sharedData, backend: "webgpu" });
        assert.equal(tf.getBackend(), "webgpu");
        assert.equal(g.lossHistory.length, ITERS);
        assert.ok(
          g.tensorCounts.every((c) => c === g.tensorCounts[0]),
          `numTensors per iteration: ${g.tensorCounts.join(",")}`,
        );
        assert.equal(tf.memory().numTensors, before, "train() on webgpu left tensors behind");
        g.lossHistory.forEach((l, i) => {
          for (const [k, v] of Object.entries(w.lossHistory[i]!)) {
            // Self-training's pseudo-labels keep pixels whose confidence is >= a threshold that is
            // itself some pixel's confidence (CBST): after iteration 1, pixels at exactly the
            // threshold (the teacher's replicated border values) flip on a 1e-7 difference.
            if (strategy === "self-training" && i > 0 && (k === "pl_share" || k === "st")) continue;
            const e = Math.abs(l[k]! - v) / Math.max(1, Math.abs(v));
            worst[strategy] = Math.max(worst[strategy] ?? 0, e);
            assert.ok(e < TOL, `${strategy} iteration ${i + 1} ${k}: webgpu ${l[k]} vs wasm ${v}`);
          }
        });
      });
    }
  });

  describe("adaptseg train --backend webgpu", () => {
    (hasSharedData ? it : it.skip)("a tiny run's loss events equal --backend wasm's to 1e-4", () => {
      const cli = join(repoRoot, "packages/cli/dist/cli.js");
      const cfgFile = join(tmp(), "tiny.json");
      writeFileSync(cfgFile, JSON.stringify({ ...tinyConfig("output-space", 4), backend: "auto" }));
      const losses = (backend: string) =>
        execFileSync(process.execPath, [cli, "train", "--config", cfgFile, "--out", tmp(), "--data", sharedData, "--backend", backend, "--json-events"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        })
          .split("\n")
          .map(parseEvent)
          .filter((e): e is IterationEvent => e?.type === "iteration")
          .map((e) => e.losses);
      const w = losses("wasm"),
        g = losses("webgpu");
      assert.equal(g.length, 4);
      assert.deepEqual(Object.keys(g[0]!).sort(), Object.keys(w[0]!).sort());
      let worst = 0;
      g.forEach((l, i) => {
        for (const [k, v] of Object.entries(w[i]!)) {
          const e = Math.abs(l[k]! - v) / Math.max(1, Math.abs(v));
          worst = Math.max(worst, e);
          assert.ok(e < TOL, `iteration ${i + 1} ${k}: webgpu ${l[k]} vs wasm ${v}`);
        }
      });
      console.log(`      worst loss difference over ${g.length} iterations (relative): ${worst.toExponential(1)}`);
    });
  });
}
