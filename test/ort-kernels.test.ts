// onnxruntime-node conv kernels on the wasm backend (packages/compute/src/kernels/ort.ts): forward and
// both gradients against the cpu backend and finite differences, a training step of a 1/8-width
// network against wasm without them, and the fallback when onnxruntime-node cannot load.
// Where onnxruntime-node is absent the same tests run on the plain wasm kernels and assert that
// the fallback is reported (simulate it with ADAPTSEG_ORT=0 in the environment).
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { loadOrt, ortKernelStats, setOrtKernelsActive, type BackendChoice } from "@adaptseg/compute";
import { VggDeeplab } from "@adaptseg/models-vgg";
import { FCDiscriminator, ganLoss } from "@adaptseg/discriminators";
import { CONV_CASES, gradCheck, onBackend, relErr, seeded, useWasm, type ConvCase } from "./kernels.helpers.js";

const TOL = 1e-4;

/** loadOrt without ADAPTSEG_ORT in the environment (restored after). */
async function loadOrtIgnoringFlag(module?: string) {
  const flag = process.env.ADAPTSEG_ORT;
  delete process.env.ADAPTSEG_ORT;
  try {
    return await loadOrt(module ? { module } : {});
  } finally {
    if (flag !== undefined) process.env.ADAPTSEG_ORT = flag;
  }
}
const cli = resolve(import.meta.dirname, "../packages/cli/dist/cli.js");

describe("onnxruntime conv kernels on wasm", function () {
  this.timeout(300_000);
  let choice: BackendChoice;
  let ort = false;
  before(async () => {
    choice = await useWasm();
    ort = ortKernelStats().active;
  });
  beforeEach(() => ort && setOrtKernelsActive(true));

  it("are active where onnxruntime-node loads; otherwise the fallback says why", async () => {
    const why = await loadOrt();
    assert.equal(ort, why === undefined);
    if (ort) assert.match(choice.kernels ?? "", /onnxruntime-node \(\d+ threads\)/);
    else assert.match(choice.kernels ?? "", new RegExp(`wasm only \\(onnxruntime-node kernels off: .*${why!.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });

  /** Runs f and checks that it went through ORT (when active) as many times as expected. */
  function viaOrt<T>(f: () => Promise<T> | T, minRuns: number): Promise<T> {
    const before = ortKernelStats().runs;
    return Promise.resolve(f()).then((r) => {
      const runs = ortKernelStats().runs - before;
      if (ort) assert.ok(runs >= minRuns, `expected >= ${minRuns} onnxruntime runs, got ${runs}`);
      else assert.equal(runs, 0);
      return r;
    });
  }

  const cases: ConvCase[] = [...CONV_CASES, { n: 1, h: 20, w: 18, ci: 16, co: 24, k: 3, s: 1, pad: "same" }];
  const explicit = (p: ConvCase["pad"]) =>
    typeof p === "number"
      ? ([
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ] as tf.backend_util.ExplicitPadding)
      : p;
  for (const c of cases) {
    it(`conv2d gradients, batch ${c.n} ${c.h}x${c.w}x${c.ci}->${c.co} k${c.k} s${c.s} pad ${c.pad}`, async () => {
      const e = await viaOrt(() => gradCheck((x, w) => tf.conv2d(x, w, c.s, explicit(c.pad)), [c.n, c.h, c.w, c.ci], [c.k, c.k, c.ci, c.co], c.h * 31 + c.k), 3);
      assert.ok(e.cpuX < TOL && e.cpuW < TOL, `wasm vs cpu: ${JSON.stringify(e)}`);
      assert.ok(e.fdX < TOL && e.fdW < TOL, `wasm vs finite differences: ${JSON.stringify(e)}`);
    });
  }

  // The forward conv also takes dilations (TF.js has no gradient for them: training uses
  // dilatedConv2d's space-to-batch, which these kernels serve through plain convs).
  for (const [d, pad, n] of [
    [2, "same", 1],
    [4, "valid", 2],
    [3, "same", 2],
  ] as [number, "same" | "valid", number][]) {
    it(`conv2d forward with dilation ${d}, pad ${pad}, batch ${n} equals cpu`, async () => {
      const xs: [number, number, number, number] = [n, 13, 11, 5];
      const ws: [number, number, number, number] = [3, 3, 5, 7];
      const f = () =>
        tf.tidy(() =>
          tf
            .conv2d(
              tf.tensor4d(
                seeded(
                  xs.reduce((a, b) => a * b),
                  d,
                ),
                xs,
              ),
              tf.tensor4d(
                seeded(
                  ws.reduce((a, b) => a * b),
                  d + 1,
                ),
                ws,
              ),
              1,
              pad,
              "NHWC",
              d,
            )
            .dataSync(),
        );
      const a = await viaOrt(() => onBackend("wasm", f), 1);
      const b = await onBackend("cpu", f);
      assert.ok(relErr(a, b) < TOL, `rel err ${relErr(a, b)}`);
    });
  }

  it("a filter used again and again (inference) is baked into its session; results stay equal to cpu", async () => {
    const xs: [number, number, number, number] = [2, 9, 11, 6];
    const ws: [number, number, number, number] = [3, 3, 6, 5];
    const x = seeded(
      xs.reduce((a, b) => a * b),
      31,
    );
    const results: number[] = [];
    for (const seed of [32, 33]) {
      const wv = seeded(
        ws.reduce((a, b) => a * b),
        seed,
      );
      const ref = await onBackend("cpu", () => tf.tidy(() => tf.conv2d(tf.tensor4d(x, xs), tf.tensor4d(wv, ws), 1, "same").dataSync()));
      // Sessions opened, not held: the cache holds at most 48 and evicts in a long suite.
      const baked0 = ortKernelStats().bakedOpened;
      const got = await viaOrt(
        () =>
          onBackend("wasm", () =>
            tf.tidy(() => {
              const w = tf.tensor4d(wv, ws);
              return Array.from({ length: 6 }, (_, i) =>
                tf
                  .conv2d(
                    tf.tensor4d(
                      x.map((v) => v * (i + 1)),
                      xs,
                    ),
                    w,
                    1,
                    "same",
                  )
                  .dataSync(),
              );
            }),
          ),
        6,
      );
      got.forEach((g, i) =>
        results.push(
          relErr(
            g,
            ref.map((v) => v * (i + 1)),
          ),
        ),
      );
      if (ort) assert.equal(ortKernelStats().bakedOpened, baked0 + 1, "one baked session per filter");
    }
    assert.ok(Math.max(...results) < TOL, `rel errs ${results}`);
  });

  it("a training step of a 1/8-width VGG DeepLab + discriminator equals wasm without them; tensors flat", async () => {
    const C = 5;
    const [H, W] = [64, 64];
    const net = new VggDeeplab().create({ numClasses: C, seed: 3, widthMultiplier: 0.125 });
    const disc = new FCDiscriminator().create(C, { seed: 4, widthMultiplier: 0.125 });
    const vars = [...net.weights.values(), ...disc.weights.values()];
    const img = tf.tensor4d(seeded(2 * H * W * 3, 5, 100), [2, H, W, 3]);
    const labels = tf.tensor3d(
      Int32Array.from(seeded(2 * H * W, 6, 1), (v) => Math.floor((v + 1) * 2.49) % C),
      [2, H, W],
      "int32",
    );
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const logits = tf.image.resizeBilinear(net.apply(img).main, [H, W], true);
          const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), logits);
          const adv = ganLoss(disc.apply(tf.softmax(logits) as tf.Tensor4D), 1, "vanilla");
          return tf.add(ce, tf.mul(adv, 0.01)) as tf.Scalar;
        }, vars);
        return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) };
      });
    try {
      const n0 = tf.memory().numTensors;
      const a = await viaOrt(step, 3 * 20);
      assert.equal(tf.memory().numTensors, n0, "tensors leaked by a step");
      await viaOrt(step, 3 * 20);
      assert.equal(tf.memory().numTensors, n0, "tensors leaked by a second step");
      setOrtKernelsActive(false);
      const b = step();
      assert.ok(Number.isFinite(a.loss) && a.loss > 0, `loss ${a.loss}`);
      assert.ok(Math.abs(a.loss - b.loss) / b.loss < TOL, `loss ${a.loss} vs wasm ${b.loss}`);
      let worst = 0;
      a.grads.forEach((g, i) => (worst = Math.max(worst, relErr(g, b.grads[i]!))));
      assert.ok(worst < TOL, `worst gradient rel err ${worst}`);
    } finally {
      net.dispose();
      for (const v of disc.weights.values()) v.dispose();
      tf.dispose([img, labels]);
    }
  });

  it("a missing onnxruntime-node package is reported as such (simulated: another module name)", async () => {
    const why = await loadOrtIgnoringFlag("onnxruntime-node-not-installed");
    assert.match(why ?? "", /onnxruntime-node-not-installed did not load/);
  });

  let installed = false; // whether onnxruntime-node loads here when not turned off
  before(async () => {
    installed = (await loadOrtIgnoringFlag()) === undefined;
  });

  it("ADAPTSEG_ORT=0 falls back to the wasm kernels and `adaptseg info` says why; without it info names onnxruntime", () => {
    const info = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, [cli, "info", "--json"], { encoding: "utf8", env: { ...process.env, ADAPTSEG_BACKEND: "wasm", ...env } }));
    const off = info({ ADAPTSEG_ORT: "0" });
    assert.equal(off.backend, "wasm");
    assert.equal(off.kernels, "wasm only (onnxruntime-node kernels off: disabled by ADAPTSEG_ORT=0)");
    const on = info({ ADAPTSEG_ORT: "" });
    assert.match(on.kernels, installed ? /in onnxruntime-node/ : /wasm only \(onnxruntime-node kernels off: .*(did not load|cannot run)/);
  });
});
