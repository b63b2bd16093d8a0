// resnet101-deeplab (official DeeplabMulti): architecture, PyTorch parity from the fixtures made by
// scripts/make-torch-fixtures.py (torch 1.13), BatchNorm modes, gradients against finite
// differences, and tensor leaks over training steps. cpu backend, 1/32 width: a few seconds.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { Backbone, createContainer, knownNames } from "@adaptseg/core";
import { dilatedConv2d } from "@adaptseg/compute";
import { ResnetDeeplab, ResnetDeeplabNet, atrous3x3, containerModule, readStateDict, resnetOutputSize, type TorchTensor } from "@adaptseg/models-resnet";
import { repoRoot } from "./helpers.js";

const FIX = join(repoRoot, "test/fixtures/torch");
const C = 5,
  W = 1 / 32; // the fixtures' classes and width
const io = readStateDict(join(FIX, "deeplab_multi_io.pth"));
const nchwToNhwc = (t: TorchTensor) => tf.tidy(() => tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D;
const input = () => nchwToNhwc(io.get("input")!);
/** max |a - b| / max(1, max |b|): the error relative to the output's scale. */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1, tf.max(tf.abs(b)).dataSync()[0]!));
}
const values = (net: ResnetDeeplabNet, name: string) => net.weights.get(name)!.dataSync().slice() as Float32Array;

/** Parameters of the official DeeplabMulti from its definition (model/deeplab_multi.py), not from our code. */
function officialParameterCount(classes: number): number {
  const bn = (c: number) => 2 * c; // affine weight + bias (running statistics are buffers)
  let n = 7 * 7 * 3 * 64 + bn(64);
  let cin = 64;
  for (const [planes, blocks] of [
    [64, 3],
    [128, 4],
    [256, 23],
    [512, 3],
  ] as const) {
    for (let i = 0; i < blocks; i++) {
      n += cin * planes + bn(planes) + 9 * planes * planes + bn(planes) + planes * 4 * planes + bn(4 * planes);
      if (i === 0) n += cin * 4 * planes + bn(4 * planes); // every layer's first block has a projection shortcut
      cin = 4 * planes;
    }
  }
  const aspp = (c: number) => 4 * (9 * c * classes + classes);
  return n + aspp(1024) + aspp(2048);
}

describe("models-resnet (resnet101-deeplab)", function () {
  this.timeout(60_000);
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("full width: the official DeeplabMulti's parameter count and names; heads and BN split out", () => {
    assert.equal(officialParameterCount(19), 44_601_560); // sum(p.numel() for p in DeeplabMulti(19).parameters()), torch 1.13
    const net = new ResnetDeeplab().create({ numClasses: 19, seed: 1 }) as ResnetDeeplabNet;
    try {
      assert.equal(net.parameterCount(), officialParameterCount(19));
      assert.equal(net.weights.size, 640 - 104); // the official state_dict's 640 entries minus 104 BNs' num_batches_tracked
      const names = [...net.weights.keys()];
      assert.deepEqual(names.slice(0, 7), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "layer1.0.conv1.weight", "layer1.0.bn1.weight"]);
      assert.ok(names.includes("layer3.22.conv3.weight") && names.includes("layer2.0.downsample.1.running_var") && !names.includes("layer2.1.downsample.0.weight"));
      assert.deepEqual(net.weights.get("layer2.0.conv1.weight")!.shape, [1, 1, 256, 128]); // HWIO; the stride sits on this 1x1
      assert.deepEqual(net.weights.get("layer6.conv2d_list.3.weight")!.shape, [3, 3, 2048, 19]);
      assert.deepEqual(net.weights.get("layer5.conv2d_list.0.weight")!.shape, [3, 3, 1024, 19]);
      assert.equal(net.featureChannels, 2048);
      assert.deepEqual([...net.headWeights].sort(), names.filter((n) => /^layer[56]\./.test(n)).sort());
      assert.equal(net.headWeights.size, 16);
      // Trainable: convs and heads. Frozen: BN affine and running statistics.
      for (const [n, v] of net.weights) assert.equal(v.trainable, /(conv\d|downsample\.0|conv2d_list\.\d)\.(weight|bias)$/.test(n), n);
    } finally {
      net.dispose();
    }
  });

  it("output stride 8 with the official ceil-mode max-pool, aux head on layer3, ASPP faithful vs fixed", () => {
    assert.deepEqual([65, 81, 128, 256, 512, 1024, 720, 1280].map(resnetOutputSize), [9, 11, 17, 33, 65, 129, 91, 161]);
    const fixed = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: W, seed: 2 });
    const faithful = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: W, seed: 2, aspp: "faithful" });
    const noAux = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: W, seed: 2, auxHead: false });
    const x = tf.randomNormal([2, 37, 50, 3], 0, 50, "float32", 3) as tf.Tensor4D;
    try {
      const a = fixed.apply(x),
        b = faithful.apply(x),
        c = noAux.apply(x);
      assert.deepEqual(a.main.shape, [2, 5, 7, 3]);
      assert.deepEqual(a.aux!.shape, [2, 5, 7, 3]);
      assert.deepEqual(a.features!.shape, [2, 5, 7, 64]);
      assert.equal(c.aux, undefined);
      assert.ok(![...noAux.weights.keys()].some((k) => k.startsWith("layer5.")));
      assert.equal(relErr(a.features!, b.features!), 0);
      assert.equal(relErr(a.main, c.main), 0);
      assert.ok(relErr(a.main, b.main) > 1e-3, "the two extra branches change the output");
      tf.dispose([a.main, a.aux!, a.features!, b.main, b.aux!, b.features!, c.main, c.features!]);
    } finally {
      [fixed, faithful, noAux, x].forEach((t) => t.dispose());
    }
  });

  it("atrous3x3 drops only taps that read padding: equal to a plain dilated conv, values and gradients", () => {
    for (const [h, w, d] of [
      [9, 11, 6],
      [9, 11, 12],
      [12, 13, 12],
      [13, 12, 12],
      [9, 30, 18],
      [3, 3, 24],
      [1, 5, 1],
    ] as const) {
      const x = tf.randomNormal([2, h, w, 3], 0, 1, "float32", h * w) as tf.Tensor4D;
      const k = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", d) as tf.Tensor4D;
      const ref = (xx: tf.Tensor4D, kk: tf.Tensor4D) =>
        tf.conv2d(
          tf.pad(xx, [
            [0, 0],
            [d, d],
            [d, d],
            [0, 0],
          ]) as tf.Tensor4D,
          kk,
          1,
          "valid",
          "NHWC",
          d,
        );
      const [a, b] = [atrous3x3(x, k, d), ref(x, k)];
      assert.ok(relErr(a, b) < 1e-6, `${h}x${w} d=${d}`);
      const r = tf.randomNormal(b.shape, 0, 1, "float32", 1);
      const g = (f: typeof ref) => tf.grads((xx: tf.Tensor, kk: tf.Tensor) => tf.sum(tf.mul(f(xx as tf.Tensor4D, kk as tf.Tensor4D), r)))([x, k]);
      // TF.js has no gradient for conv2d's own dilation: compute's dilatedConv2d (space-to-batch, FD-tested) is the reference there
      const [ga, gb] = [g((xx, kk) => atrous3x3(xx, kk, d)), g((xx, kk) => dilatedConv2d(xx, kk, d, d))];
      ga.forEach((t, i) => assert.ok(relErr(t, gb[i]!) < 1e-5, `${h}x${w} d=${d}: gradient ${i}`));
      tf.dispose([x, k, a, b, r, ...ga, ...gb]);
    }
  });

  it("matches PyTorch's DeeplabMulti from deeplab_multi.pth: eval outputs, faithful and fixed ASPP, to 1e-4", () => {
    const x = input();
    for (const aspp of ["faithful", "fixed"] as const) {
      const net = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, aspp, weights: join(FIX, "deeplab_multi.pth") });
      const o = net.apply(x);
      const ref = { aux: nchwToNhwc(io.get(`eval_${aspp}_aux`)!), main: nchwToNhwc(io.get(`eval_${aspp}_main`)!) };
      assert.deepEqual(o.main.shape, [1, 9, 11, C]);
      const e = { aux: relErr(o.aux!, ref.aux), main: relErr(o.main, ref.main) };
      assert.ok(e.aux < 1e-4 && e.main < 1e-4, `${aspp}: relative errors ${JSON.stringify(e)}`);
      tf.dispose([o.main, o.aux!, o.features!, ref.aux, ref.main]);
      net.dispose();
    }
    x.dispose();
  });

  it("the legacy-format DeepLab-init copy (Scale. prefix) loads the same weights, as init or weights", () => {
    const a = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, weights: join(FIX, "deeplab_multi.pth") });
    const b = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, weights: join(FIX, "deeplab_multi_legacy.pth") });
    // init: backbone strictly; heads only where they fit (here: both heads of the file fit 5 classes)
    const c = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, init: join(FIX, "deeplab_multi_legacy.pth"), seed: 9 });
    // 7 classes: the file's heads do not fit and stay fresh; the backbone loads
    const d = new ResnetDeeplabNet({ numClasses: 7, widthMultiplier: W, init: join(FIX, "deeplab_multi_legacy.pth"), seed: 9 });
    const fresh = new ResnetDeeplabNet({ numClasses: 7, widthMultiplier: W, seed: 9 });
    try {
      for (const [n] of a.weights) {
        assert.deepEqual(values(b, n), values(a, n), n);
        assert.deepEqual(values(c, n), values(a, n), n);
        assert.deepEqual(values(d, n), /^layer[56]\./.test(n) ? values(fresh, n) : values(a, n), n);
      }
    } finally {
      [a, b, c, d, fresh].forEach((n) => n.dispose());
    }
  });

  it("bn faithful: a training forward uses batch statistics and moves the running ones exactly as PyTorch (momentum 0.1)", () => {
    const x = input();
    const net = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, aspp: "faithful", bn: "faithful", weights: join(FIX, "deeplab_multi.pth") });
    const before = values(net, "layer3.22.bn3.running_var");
    const o = net.apply(x, { training: true });
    const e = { aux: relErr(o.aux!, nchwToNhwc(io.get("train_faithful_aux")!)), main: relErr(o.main, nchwToNhwc(io.get("train_faithful_main")!)) };
    assert.ok(e.aux < 1e-4 && e.main < 1e-4, `train-mode outputs: ${JSON.stringify(e)}`);
    const moved = values(net, "layer3.22.bn3.running_var");
    assert.ok(
      moved.some((v, i) => Math.abs(v - before[i]!) > 1e-3 * Math.abs(before[i]!)),
      "running statistics moved",
    );
    for (const bn of ["bn1", "layer1.0.bn1", "layer3.22.bn3", "layer4.0.downsample.1", "layer4.2.bn3"]) {
      for (const s of ["running_mean", "running_var"]) {
        const ref = io.get(`after.${bn}.${s}`)!;
        const err = relErr(net.weights.get(`${bn}.${s}`)!, tf.tensor(ref.data));
        assert.ok(err < 1e-5, `${bn}.${s}: relative error ${err}`);
      }
    }
    // evaluation forwards use the running statistics and leave them alone
    const snapshot = values(net, "bn1.running_mean");
    tf.dispose(Object.values(net.apply(x)));
    assert.deepEqual(values(net, "bn1.running_mean"), snapshot);
    tf.dispose([x, o.main, o.aux!, o.features!]);
    net.dispose();
  });

  it("bn frozen: a training step (forward, backward, SGD) leaves every BN weight untouched; training forward = eval forward", () => {
    const x = input();
    const net = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, bn: "frozen", weights: join(FIX, "deeplab_multi.pth") });
    const bnNames = [...net.weights.keys()].filter((n) => /(bn\d|downsample\.1)\./.test(n));
    const before = new Map(bnNames.map((n) => [n, values(net, n)]));
    const conv = values(net, "layer3.5.conv2.weight");
    const evalOut = net.apply(x);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const o = net.apply(x, { training: true });
          assert.equal(relErr(o.main, evalOut.main), 0);
          return tf.add(tf.mean(tf.square(o.main)), tf.mean(tf.square(o.aux!))) as tf.Scalar;
        }),
      [...net.weights.values()],
    );
    for (const [n, v] of net.weights) {
      const g = grads[v.name];
      if (g) tf.tidy(() => v.assign(tf.sub(v, tf.mul(g, 1e-3))));
      else assert.ok(bnNames.includes(n), `${n} got no gradient`);
    }
    for (const n of bnNames) assert.deepEqual(values(net, n), before.get(n), n);
    assert.ok(
      values(net, "layer3.5.conv2.weight").some((v, i) => v !== conv[i]),
      "the convs did move",
    );
    tf.dispose([x, value, ...Object.values(grads), evalOut.main, evalOut.aux!, evalOut.features!]);
    net.dispose();
  });

  // The linear loss of the fixture: L = sum(main * r_main) + 0.5 * sum(aux * r_aux).
  const fixtureLoss = (net: ResnetDeeplabNet, x: tf.Tensor4D) => {
    const [rMain, rAux] = [nchwToNhwc(io.get("r_main")!), nchwToNhwc(io.get("r_aux")!)];
    return {
      loss: () =>
        tf.tidy(() => {
          const o = net.apply(x, { training: true });
          return tf.add(tf.sum(tf.mul(o.main, rMain)), tf.mul(tf.sum(tf.mul(o.aux!, rAux)), 0.5)) as tf.Scalar;
        }),
      // in float64 from the float32 outputs: finite differences of a float32 scalar would be noise
      loss64: () =>
        tf.tidy(() => {
          const o = net.apply(x, { training: true });
          const [m, a, rm, ra] = [o.main.dataSync(), o.aux!.dataSync(), rMain.dataSync(), rAux.dataSync()];
          let s = 0;
          for (let i = 0; i < m.length; i++) s += m[i]! * rm[i]! + 0.5 * a[i]! * ra[i]!;
          return s;
        }),
      dispose: () => tf.dispose([rMain, rAux]),
    };
  };
  const GRAD_CHECKS = [
    "conv1.weight",
    "layer1.0.conv2.weight",
    "layer2.0.downsample.0.weight",
    "layer3.11.conv3.weight",
    "layer4.2.conv2.weight",
    "layer5.conv2d_list.1.weight",
    "layer6.conv2d_list.0.bias",
  ];

  for (const [bn, aspp] of [
    ["frozen", "fixed"],
    ["faithful", "faithful"],
  ] as const) {
    it(`gradients equal PyTorch's (bn ${bn}, aspp ${aspp}) for weights from conv1 to the heads, and central finite differences`, () => {
      const net = new ResnetDeeplabNet({ numClasses: C, widthMultiplier: W, bn, aspp, weights: join(FIX, "deeplab_multi.pth") });
      const x = input();
      const f = fixtureLoss(net, x);
      const { value, grads } = tf.variableGrads(f.loss, [...net.weights.values()]);
      const grad = (name: string) => grads[net.weights.get(name)!.name]!;
      try {
        // 1. Against PyTorch's autograd on the same weights, input and loss (OIHW -> HWIO), computed
        // in float64: ours (float32) within 4x PyTorch's own float32 error, or 1e-4. (Train-mode BN at
        // this width is ill-conditioned: PyTorch's float32 gradients are up to 1.3e-2 off there; a BN
        // backward without the batch statistics' gradient is off by 0.4 to 1.9.)
        const hwio = (t: TorchTensor) => tf.tidy(() => (t.shape.length === 4 ? tf.transpose(tf.tensor(t.data, t.shape), [2, 3, 1, 0]) : tf.tensor(t.data, t.shape)));
        for (const name of GRAD_CHECKS) {
          const [ref64, ref32] = [hwio(io.get(`grad64_${bn}.${name}`)!), hwio(io.get(`grad_${bn}.${name}`)!)];
          const [ours, torch32] = [relErr(grad(name), ref64), relErr(ref32, ref64)];
          tf.dispose([ref64, ref32]);
          assert.ok(ours < Math.max(1e-4, 4 * torch32) && ours < 3e-2, `${name}: relative error ${ours.toExponential(2)} (PyTorch float32: ${torch32.toExponential(2)})`);
        }
        assert.equal(io.get(`grad64_${bn}.conv1.weight`)!.torchDtype, "float64");
        // 2. Central finite differences where the loss is smooth at this width (the 2-channel stem's
        // ReLU pattern flips within any measurable step, so conv1 is checked against PyTorch only).
        for (const name of ["layer4.2.conv2.weight", "layer5.conv2d_list.1.weight", "layer6.conv2d_list.1.weight", "layer6.conv2d_list.0.bias"]) {
          const v = net.weights.get(name)!;
          const g = grad(name).dataSync();
          let k = 0;
          for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[k]!)) k = i;
          const w0 = v.dataSync().slice();
          const eps = 1e-3;
          const at = (d: number) => {
            const w1 = w0.slice();
            w1[k]! += d;
            v.assign(tf.tensor(w1, v.shape));
            return f.loss64();
          };
          const fd = (at(eps) - at(-eps)) / (2 * eps);
          v.assign(tf.tensor(w0, v.shape));
          assert.ok(Math.abs(g[k]!) > 1, `${name}: gradient ${g[k]} too small to test`);
          assert.ok(Math.abs(fd - g[k]!) < 1e-2 * Math.abs(g[k]!), `${name}[${k}]: autograd ${g[k]} finite differences ${fd}`);
        }
        // 3. The faithful ASPP's unused branches (d=18, 24) get no gradient, as in PyTorch (grad None).
        for (const k of [2, 3]) assert.equal(!grads[net.weights.get(`layer6.conv2d_list.${k}.weight`)!.name], aspp === "faithful");
        // 4. BN weights are frozen: no gradient at all.
        for (const [n, v] of net.weights) if (!v.trainable) assert.equal(grads[v.name], null, n);
        assert.equal([...net.weights.values()].filter((v) => !v.trainable).length, 104 * 4);
      } finally {
        tf.dispose([x, value, ...Object.values(grads).filter((g): g is tf.Tensor => !!g)]);
        f.dispose();
        net.dispose();
      }
    });
  }

  it("no tensor leaks: tf.memory().numTensors flat over training steps in both BN modes", () => {
    for (const bn of ["faithful", "frozen"] as const) {
      const net = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: W, bn, seed: 4 });
      const x = tf.randomUniform([1, 17, 17, 3], -128, 128, "float32", 6) as tf.Tensor4D;
      const counts: number[] = [];
      for (let it = 0; it < 3; it++) {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            const o = net.apply(x, { training: true });
            return tf.add(tf.mean(tf.square(o.main)), tf.mean(tf.square(o.aux!))) as tf.Scalar;
          }, [...net.weights.values()]);
          for (const v of net.weights.values()) {
            const g = grads[v.name];
            if (g) v.assign(tf.sub(v, tf.mul(g, 1e-4)));
          }
          value.dataSync();
        });
        tf.dispose(Object.values(net.apply(x)));
        counts.push(tf.memory().numTensors);
      }
      assert.deepEqual(
        counts,
        counts.map(() => counts[0]),
        `${bn}: ${counts}`,
      );
      x.dispose();
      net.dispose();
    }
  });

  it("options: schema defaults, errors that name the field; bound in the container as resnet101-deeplab", async () => {
    const net = new ResnetDeeplabNet({ numClasses: 2, widthMultiplier: W });
    assert.deepEqual({ ...net.options }, { widthMultiplier: W, aspp: "fixed", bn: "frozen", auxHead: true });
    net.dispose();
    assert.throws(() => new ResnetDeeplabNet({ numClasses: 2, bn: "train" as never }), /model\.bn/);
    assert.throws(() => new ResnetDeeplabNet({ numClasses: 2, widthMultiplier: 2 }), /model\.widthMultiplier/);
    assert.ok(new ResnetDeeplab().options.properties.aspp);
    const c = await createContainer({}, { modules: [containerModule] });
    assert.deepEqual(knownNames(c, Backbone), ["resnet101-deeplab"]);
  });
});
