import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { VggDeeplab, VggDeeplabNet } from "@adaptseg/models-vgg";

// Independent layer list of DeeplabVGG at full width: [cin, cout] of every 3x3 conv.
const VGG = [
  [3, 64],
  [64, 64],
  [64, 128],
  [128, 128],
  [128, 256],
  [256, 256],
  [256, 256],
  [256, 512],
  [512, 512],
  [512, 512],
  [512, 512],
  [512, 512],
  [512, 512],
  [512, 1024],
  [1024, 1024],
];
const count = (convs: number[][]) => convs.reduce((a, [ci, co]) => a + 9 * ci! * co! + co!, 0);
const w4 = (v: tf.Tensor) => v as tf.Tensor4D;

describe("models-vgg (vgg16-deeplab)", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("full width: parameter count, weight names/order and init statistics", () => {
    const C = 19;
    const net = new VggDeeplab().create({ numClasses: C, seed: 3, auxHead: true });
    const aspp = (cin: number) => Array.from({ length: 4 }, () => [cin, C]);
    let n = 0;
    for (const v of net.weights.values()) n += v.size;
    assert.equal(n, count([...VGG, ...aspp(1024), ...aspp(512)]));
    const idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
    const names = [...idx.map((i) => `features.${i}`), "fc6", "fc7", ...[0, 1, 2, 3].map((k) => `classifier.${k}`), ...[0, 1, 2, 3].map((k) => `aux_classifier.${k}`)];
    assert.deepEqual(
      [...net.weights.keys()],
      names.flatMap((s) => [`${s}.weight`, `${s}.bias`]),
    );
    assert.deepEqual(net.weights.get("features.0.weight")!.shape, [3, 3, 3, 64]); // HWIO
    assert.equal(net.featureChannels, 1024);
    const std = (k: string) => tf.tidy(() => Math.sqrt(tf.moments(net.weights.get(k)!).variance.dataSync()[0]!));
    assert.ok(Math.abs(std("fc6.weight") / Math.sqrt(2 / (9 * 1024)) - 1) < 0.02, "fc6 kaiming fan_out std");
    assert.ok(Math.abs(std("features.0.weight") / Math.sqrt(2 / (9 * 64)) - 1) < 0.1, "conv1_1 kaiming fan_out std");
    assert.ok(Math.abs(std("classifier.0.weight") / 0.01 - 1) < 0.05, "ASPP std 0.01");
    assert.equal(
      tf.tidy(() => tf.sum(tf.abs(net.weights.get("fc7.bias")!)).dataSync()[0]),
      0,
    );
    net.dispose();
  });

  it("1/8 width: output stride 8 at an odd size, aux head, fixed and faithful ASPP sums", () => {
    const base = { numClasses: 5, widthMultiplier: 0.125, seed: 7, auxHead: true };
    const fixed = new VggDeeplabNet({ ...base, aspp: "fixed" });
    const faithful = new VggDeeplabNet({ ...base, aspp: "faithful" });
    const x = tf.randomNormal([2, 65, 97, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const a = fixed.apply(x);
    const b = faithful.apply(x);
    assert.deepEqual(a.main.shape, [2, 9, 13, 5]);
    assert.deepEqual(a.aux!.shape, [2, 9, 13, 5]);
    assert.deepEqual(a.features!.shape, [2, 9, 13, 128]);
    assert.equal(fixed.featureChannels, 128);
    // Same seed -> same weights; features identical, heads differ only in the branches summed.
    assert.equal(
      tf.tidy(() => tf.max(tf.abs(tf.sub(a.features!, b.features!))).dataSync()[0]),
      0,
    );
    // Reference: forward tf.conv2d with its own dilation argument (not dilatedConv2d), summed by hand.
    const manual = (net: VggDeeplabNet, f: tf.Tensor4D, prefix: string, branches: number) =>
      tf.tidy(() => {
        let s: tf.Tensor = tf.zeros([f.shape[0], f.shape[1], f.shape[2], 5]);
        for (let k = 0; k < branches; k++) {
          const d = [6, 12, 18, 24][k]!;
          s = tf.add(s, tf.add(tf.conv2d(f, w4(net.weights.get(`${prefix}.${k}.weight`)!), 1, "same", "NHWC", d), net.weights.get(`${prefix}.${k}.bias`)!));
        }
        return s;
      });
    const maxDiff = (p: tf.Tensor, q: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]!);
    const scale = tf.tidy(() => tf.max(tf.abs(a.main)).dataSync()[0]!);
    assert.ok(scale > 0);
    assert.ok(maxDiff(a.main, manual(fixed, a.features!, "classifier", 4)) < 1e-4 * scale);
    assert.ok(maxDiff(b.main, manual(faithful, b.features!, "classifier", 2)) < 1e-4 * scale);
    assert.ok(maxDiff(a.main, b.main) > 1e-3 * scale, "faithful must differ from fixed");
    for (const o of [a, b]) for (const t of Object.values(o)) (t as tf.Tensor).dispose();
    x.dispose();
    fixed.dispose();
    faithful.dispose();
  });

  it("fc7Padding none shrinks fc7 by 8 px per side; bad options fail clearly", () => {
    const n0 = tf.memory().numTensors;
    const net = new VggDeeplabNet({ numClasses: 3, widthMultiplier: 0.125, fc7Padding: "none" });
    const x = tf.zeros([1, 161, 193, 3]) as tf.Tensor4D;
    const o = net.apply(x);
    assert.deepEqual(o.main.shape, [1, 21 - 8, 25 - 8, 3]);
    assert.equal(o.aux, undefined);
    o.main.dispose();
    o.features!.dispose();
    x.dispose();
    net.dispose();
    assert.equal(tf.memory().numTensors, n0, "create + apply + dispose leaves no tensors");
    assert.throws(() => new VggDeeplabNet({ numClasses: 3, init: "no-such-vgg16.safetensors" }), /model\.init: no-such-vgg16\.safetensors does not exist/);
    assert.throws(() => new VggDeeplabNet({ numClasses: 3, aspp: "bogus" as never }), /model\.aspp/);
    assert.throws(() => new VggDeeplabNet({ numClasses: 3, widthMultiplier: 0 }), /model\.widthMultiplier/);
  });

  it("cpu: gradients flow through every (dilated) weight; no tensor leak over 3 rounds", () => {
    const net = new VggDeeplabNet({ numClasses: 4, widthMultiplier: 0.125, auxHead: true, seed: 11 });
    const x = tf.randomNormal([1, 33, 41, 3], 0, 1, "float32", 2) as tf.Tensor4D;
    const vars = [...net.weights.values()];
    let before = 0;
    for (let r = 0; r < 3; r++) {
      const { value, grads } = tf.variableGrads(() => {
        const o = net.apply(x);
        return tf.add(tf.sum(o.main), tf.sum(o.aux!)) as tf.Scalar;
      }, vars);
      for (const [key, v] of net.weights) {
        const g = grads[v.name];
        assert.ok(g, `gradient for ${key}`);
        assert.deepEqual(g.shape, v.shape);
        assert.ok(tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0]) === 1, `finite gradient for ${key}`);
      }
      // A dilated conv (conv5_3) and fc7 receive non-zero gradient.
      for (const key of ["features.28.weight", "fc7.weight"]) assert.ok(tf.tidy(() => tf.sum(tf.abs(grads[net.weights.get(key)!.name]!)).dataSync()[0]!) > 0, key);
      value.dispose();
      tf.dispose(grads);
      if (r === 0) before = tf.memory().numTensors;
      else assert.equal(tf.memory().numTensors, before);
    }
    x.dispose();
    net.dispose();
  });
});
