// The target-side methods' pieces against hand-computed values and finite differences (cpu backend).
import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { Rng, type Network } from "@adaptseg/core";
import {
  classMask,
  classMix,
  classThresholds,
  blurKernelSize,
  emaUpdate,
  entropyLoss,
  entropyMap,
  gaussianBlur,
  pickHalf,
  presentClasses,
  photometric,
  roundPortion,
  selfInformation,
  weightedCrossEntropy,
} from "@adaptseg/strategies";

const close = (a: number, b: number, tol = 1e-5, what = "") => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what} ${a} vs ${b}`);
/** Normalised entropy of one pixel's logits, in float64. */
const entropy64 = (z: number[]) => {
  const m = Math.max(...z),
    e = z.map((v) => Math.exp(v - m)),
    s = e.reduce((a, b) => a + b, 0);
  return -e.map((v) => v / s).reduce((a, p) => a + p * Math.log(p), 0) / Math.log(z.length);
};

describe("strategies: losses", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("entropy and self-information equal hand-computed values", () => {
    // P = [1/4, 3/4]: E = -(1/4 ln 1/4 + 3/4 ln 3/4) / ln 2 = 0.811278; I = [0.5, 0.311278]
    const logits = tf.tensor4d([0, Math.log(3), 0, 0], [1, 1, 2, 2]);
    const e = entropyMap(logits).dataSync();
    close(e[0]!, 0.811278, 1e-5, "E(1/4,3/4)");
    close(e[1]!, 1, 1e-6, "E(1/2,1/2)");
    close(entropyLoss(logits).dataSync()[0]!, (0.811278 + 1) / 2, 1e-5, "mean");
    const i = selfInformation(logits).dataSync();
    [0.5, 0.311278, 0.5, 0.5].forEach((v, k) => close(i[k]!, v, 1e-5, `I[${k}]`));
    logits.dispose();
  });

  it("MinEnt's gradient matches central finite differences in float64", () => {
    const z = [0.3, -1.2, 2.0, 0.7, 0.1, -0.4, 1.5, -2.2, 0.9, 0.0, 0.4, -0.8]; // [1,2,2,3]
    const loss64 = (v: number[]) => [0, 1, 2, 3].reduce((a, p) => a + entropy64(v.slice(3 * p, 3 * p + 3)), 0) / 4;
    const g = tf
      .grad((x: tf.Tensor) => entropyLoss(x as tf.Tensor4D))(tf.tensor4d(z, [1, 2, 2, 3]))
      .dataSync();
    const h = 1e-5;
    z.forEach((_, k) => {
      const up = [...z],
        dn = [...z];
      up[k]! += h;
      dn[k]! -= h;
      close(g[k]!, (loss64(up) - loss64(dn)) / (2 * h), 1e-4, `dE/dz[${k}]`);
    });
  });

  it("pixel-weighted CE: mean over all pixels of weight * CE, ignored pixels 0; gradient by finite differences", () => {
    const z = [2, 0, -1, 1, 0.5, 0.5]; // [1,1,3,2]: three pixels, two classes
    const labels = [0, 255, 1],
      weights = [0.5, 1, 2];
    const ce = (v: number[], p: number, y: number) => Math.log(Math.exp(v[2 * p]!) + Math.exp(v[2 * p + 1]!)) - v[2 * p + y]!;
    const loss64 = (v: number[]) => (weights[0]! * ce(v, 0, 0) + 0 + weights[2]! * ce(v, 2, 1)) / 3;
    const f = (x: tf.Tensor) => weightedCrossEntropy(x as tf.Tensor4D, tf.tensor3d(labels, [1, 1, 3], "int32"), tf.tensor3d(weights, [1, 1, 3]));
    close(f(tf.tensor4d(z, [1, 1, 3, 2])).dataSync()[0]!, loss64(z), 1e-6, "loss");
    const g = tf
      .grad(f)(tf.tensor4d(z, [1, 1, 3, 2]))
      .dataSync();
    z.forEach((_, k) => {
      const up = [...z],
        dn = [...z];
      up[k]! += 1e-5;
      dn[k]! -= 1e-5;
      close(g[k]!, (loss64(up) - loss64(dn)) / 2e-5, 1e-4, `d/dz[${k}]`);
    });
  });
});

describe("strategies: ClassMix, EMA, CBST", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("ClassMix: mask, mixed image, mixed label and pixel weights exact on a hand-built 2x3 example", () => {
    const label = [0, 1, 255, 2, 1, 0]; // classes 0,1,2 (255 ignored)
    assert.deepEqual(presentClasses(label, 3), [0, 1, 2]);
    assert.deepEqual([...classMask(label, [1])], [0, 1, 0, 0, 1, 0]);
    // ceil(3/2) = 2 classes drawn without replacement, each from those present
    const picked = pickHalf([0, 1, 2], new Rng(5));
    assert.equal(picked.length, 2);
    assert.equal(new Set(picked).size, 2);
    assert.deepEqual(pickHalf([0, 1, 2, 3], new Rng(5)).length, 2);
    const mask = tf.tensor3d([0, 1, 0, 0, 1, 0], [1, 2, 3]);
    const src = tf.tensor4d(
      Array.from({ length: 18 }, (_, i) => i),
      [1, 2, 3, 3],
    );
    const tgt = tf.tensor4d(
      Array.from({ length: 18 }, (_, i) => 100 + i),
      [1, 2, 3, 3],
    );
    const pseudo = tf.tensor3d([2, 2, 0, 1, 1, 0], [1, 2, 3], "int32");
    const m = classMix(mask, src, tgt, tf.tensor3d(label, [1, 2, 3], "int32"), pseudo, tf.tensor1d([0.25]));
    const wantImage = Array.from({ length: 18 }, (_, i) => ([1, 4].includes(Math.floor(i / 3)) ? i : 100 + i));
    assert.deepEqual([...m.image.dataSync()], wantImage);
    assert.deepEqual([...m.label.dataSync()], [2, 1, 0, 1, 1, 0]);
    assert.deepEqual([...m.weight.dataSync()], [0.25, 1, 0.25, 0.25, 1, 0.25]);
  });

  it("EMA teacher: exact after 5 steps, alpha' = min(1 - 1/(i+1), alpha)", () => {
    const net = (v: number): Network => ({ weights: new Map([["w", tf.variable(tf.tensor1d([v]))]]), dispose() {} });
    const teacher = net(10),
      student = net(0);
    let want = 10;
    for (let i = 0; i < 5; i++) {
      const s = i * 2 + 1;
      student.weights.get("w")!.assign(tf.tensor1d([s]));
      emaUpdate(teacher, student, 0.6, i);
      const a = Math.min(1 - 1 / (i + 1), 0.6);
      want = a * want + (1 - a) * s;
    }
    close(teacher.weights.get("w")!.dataSync()[0]!, want, 1e-6, "teacher");
    assert.equal(want > 6 && want < 9, true); // the 0.6 cap took effect (0.75, 0.8 would be used otherwise)
  });

  it("CBST thresholds: the confidence at the top portion per class; unpredicted classes get none", () => {
    const pred = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const conf = [0.9, 0.5, 0.7, 0.6, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    // class 0 sorted: .9 .8 .7 .6 .5 -> top 20% of 5 = 1 pixel -> .9; class 1 (10 px) -> 2 -> .9
    assert.deepEqual(classThresholds(pred, conf, 3, 0.2), [0.9, 0.9, Infinity]);
    assert.deepEqual(classThresholds(pred, conf, 3, 0.5), [0.7, 0.6, Infinity]);
    assert.deepEqual(
      [0, 1, 2, 6, 7, 100].map((r) => roundPortion(r, { start: 0.2, step: 0.05, max: 0.5 }).toFixed(2)),
      ["0.20", "0.25", "0.30", "0.50", "0.50", "0.50"],
    );
  });

  it("photometric: identity without jitter and blur; blur keeps a constant image and the mean; kernel sizes as DACS", () => {
    assert.deepEqual([blurKernelSize(120), blurKernelSize(160), blurKernelSize(512)], [11, 15, 51]);
    const x = tf.randomNormal([1, 12, 16, 3], 0, 30, "float32", 3) as tf.Tensor4D;
    assert.deepEqual([...photometric(x, {}).dataSync()], [...x.dataSync()]);
    const flat = tf.fill([1, 12, 16, 3], 7) as tf.Tensor4D;
    for (const v of gaussianBlur(flat, 1).dataSync()) close(v, 7, 1e-5, "blur of a constant");
    const b = gaussianBlur(x, 0.8);
    assert.deepEqual(b.shape, x.shape);
    // a unit brightness/contrast/saturation and zero hue is the identity on in-range pixels
    const y = photometric(tf.fill([1, 2, 2, 3], 0).add(tf.tensor1d([-4, 3, 10])) as tf.Tensor4D, { jitter: { brightness: 1, contrast: 1, saturation: 1, hue: 0 } });
    for (const [k, v] of [...y.dataSync()].entries()) close(v, [-4, 3, 10][k % 3]!, 1e-3, `jitter identity ${k}`);
  });
});
