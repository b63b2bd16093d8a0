// ImageNet weights in: torchvision .safetensors (OIHW) and TF.js layers model.json + shards (HWIO).
// The layout is checked against 3x3 convolutions computed by hand (plain loops over the file's own
// OIHW values) on a 3x4 image, for all 13 convs; a spatially transposed kernel is shown to fail.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { encodeSafetensors, saveWeights, type ExperimentConfig } from "@adaptseg/core";
import { buildExperiment } from "@adaptseg/engine";
import { VggDeeplabNet, readImagenetWeights } from "@adaptseg/models-vgg";
import { itWithData, sharedData, tmp } from "./helpers.js";

// Independent of the package: torchvision index, Keras name, cin, cout of VGG-16's 13 convs.
const CONVS: [number, string, number, number][] = [
  [0, "block1_conv1", 3, 64],
  [2, "block1_conv2", 64, 64],
  [5, "block2_conv1", 64, 128],
  [7, "block2_conv2", 128, 128],
  [10, "block3_conv1", 128, 256],
  [12, "block3_conv2", 256, 256],
  [14, "block3_conv3", 256, 256],
  [17, "block4_conv1", 256, 512],
  [19, "block4_conv2", 512, 512],
  [21, "block4_conv3", 512, 512],
  [24, "block5_conv1", 512, 512],
  [26, "block5_conv2", 512, 512],
  [28, "block5_conv3", 512, 512],
];

/** Deterministic, asymmetric kernel value of conv `l` at (o, i, y, x) and bias value at o. */
const kval = (l: number, o: number, i: number, y: number, x: number) => Math.sin(1.3 * l + 0.71 * o + 0.37 * i + 1.9 * y + 0.53 * x * (y + 2)) * 0.1 + 0.01 * x;
const bval = (l: number, o: number) => Math.cos(0.9 * l + 0.31 * o) * 0.05;

function torchvisionTensors(): Record<string, { shape: number[]; data: Float32Array }> {
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  CONVS.forEach(([n, , ci, co], l) => {
    const w = new Float32Array(co * ci * 9);
    let p = 0;
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) w[p++] = kval(l, o, i, y, x);
    t[`features.${n}.weight`] = { shape: [co, ci, 3, 3], data: w };
    t[`features.${n}.bias`] = { shape: [co], data: Float32Array.from({ length: co }, (_, o) => bval(l, o)) };
  });
  // A torchvision VGG-16 file also holds the ImageNet classifier (shapes shrunk here): skipped.
  for (const k of [0, 3, 6]) t[`classifier.${k}.weight`] = { shape: [2, 3], data: new Float32Array(6) };
  return t;
}

/** Keras-style HWIO tensors in TF.js layers format: two groups, shards of `shardBytes` that split tensors. */
function writeTfjs(dir: string, shardBytes: number, scope = ""): string {
  const groups: { name: string; shape: number[]; data: Float32Array }[][] = [[], []];
  CONVS.forEach(([, name, ci, co], l) => {
    const w = new Float32Array(9 * ci * co);
    let p = 0;
    for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) w[p++] = kval(l, o, i, y, x);
    const g = groups[l < 7 ? 0 : 1]!;
    g.push({ name: `${scope}${name}/kernel${scope && ":0"}`, shape: [3, 3, ci, co], data: w });
    g.push({ name: `${scope}${name}/bias${scope && ":0"}`, shape: [co], data: Float32Array.from({ length: co }, (_, o) => bval(l, o)) });
  });
  groups[1]!.push({ name: `${scope}fc1/kernel`, shape: [4, 2], data: new Float32Array(8) }); // Keras's classifier: skipped
  const manifest = groups.map((ws, g) => {
    const bytes = Buffer.concat(ws.map((w) => Buffer.from(w.data.buffer)));
    const paths: string[] = [];
    for (let s = 0; s * shardBytes < bytes.length; s++) {
      const file = `group${g + 1}-shard${s + 1}of${Math.ceil(bytes.length / shardBytes)}.bin`;
      writeFileSync(join(dir, file), bytes.subarray(s * shardBytes, (s + 1) * shardBytes));
      paths.push(file);
    }
    return { paths, weights: ws.map((w) => ({ name: w.name, shape: w.shape, dtype: "float32" })) };
  });
  const file = join(dir, "model.json");
  writeFileSync(file, JSON.stringify({ format: "layers-model", modelTopology: {}, weightsManifest: manifest }));
  return file;
}

/** "same" 3x3 conv by hand from the OIHW value function: img [H][W][ci] -> [H][W][co] (flat HWC). */
function handConv(l: number, img: Float32Array, H: number, W: number, ci: number, co: number, transposed = false): Float64Array {
  const out = new Float64Array(H * W * co);
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++)
      for (let o = 0; o < co; o++) {
        let s = bval(l, o);
        for (let y = 0; y < 3; y++)
          for (let x = 0; x < 3; x++) {
            const rr = r + y - 1,
              cc = c + x - 1;
            if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
            for (let i = 0; i < ci; i++) s += img[(rr * W + cc) * ci + i]! * (transposed ? kval(l, o, i, x, y) : kval(l, o, i, y, x));
          }
        out[(r * W + c) * co + o] = s;
      }
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("ImageNet weights in (models-vgg)", function () {
  this.timeout(300_000);
  let dir: string;
  let stFile: string;
  let jsonFile: string;
  before(async () => {
    await tf.setBackend("cpu");
    dir = tmp();
    stFile = join(dir, "vgg16.safetensors");
    saveWeights(stFile, torchvisionTensors());
    mkdirSync(join(dir, "tfjs"));
    jsonFile = writeTfjs(join(dir, "tfjs"), 4 << 20); // tfjs-converter's default 4 MiB shards
  });

  for (const format of ["safetensors", "tfjs"] as const) {
    it(`${format}: all 13 convs equal hand-computed convolutions; fresh layers keep their init; no leaks`, () => {
      const n0 = tf.memory().numTensors;
      const plain = new VggDeeplabNet({ numClasses: 3, seed: 5 });
      const net = new VggDeeplabNet({ numClasses: 3, seed: 5, init: format === "tfjs" ? jsonFile : stFile });
      const H = 3,
        W = 4;
      CONVS.forEach(([n, , ci, co], l) => {
        const img = Float32Array.from({ length: H * W * ci }, (_, k) => Math.sin(0.7 * k + l) + 0.2);
        const got = tf.tidy(() => {
          const x = tf.tensor4d(img, [1, H, W, ci]);
          return tf.add(tf.conv2d(x, net.weights.get(`features.${n}.weight`) as tf.Tensor4D, 1, "same"), net.weights.get(`features.${n}.bias`)!).dataSync();
        });
        const want = handConv(l, img, H, W, ci, co);
        const scale = Math.max(...want.map(Math.abs));
        assert.ok(maxAbsDiff(got, want) < 1e-5 * scale, `features.${n}: conv differs from the hand-computed one by ${maxAbsDiff(got, want)} (scale ${scale})`);
        // The check can fail: a kernel with H and W swapped gives a clearly different result.
        assert.ok(maxAbsDiff(got, handConv(l, img, H, W, ci, co, true)) > 1e-2 * scale, "transposed kernel not detected");
      });
      // fc6, fc7 and the heads are fresh (SPEC 1): identical to a network built without init.
      for (const k of ["fc6.weight", "fc7.weight", "classifier.0.weight", "classifier.3.bias"]) {
        assert.equal(
          tf.tidy(() => tf.max(tf.abs(tf.sub(net.weights.get(k)!, plain.weights.get(k)!))).dataSync()[0]),
          0,
          k,
        );
      }
      net.dispose();
      plain.dispose();
      assert.equal(tf.memory().numTensors, n0);
    });
  }

  it("both formats give the same tensors (tfjs: two groups, tensors split across 1 MiB shards, scoped names)", () => {
    mkdirSync(join(dir, "small-shards"));
    const a = readImagenetWeights(stFile);
    const b = readImagenetWeights(writeTfjs(join(dir, "small-shards"), 1 << 20, "vgg16/")); // vgg16/block1_conv1/kernel:0
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    assert.equal(a.size, 26);
    for (const [k, t] of a) {
      assert.deepEqual(b.get(k)!.shape, t.shape, k);
      assert.equal(maxAbsDiff(b.get(k)!.data, t.data), 0, k);
    }
  });

  itWithData("config model.init (relative to the config's folder) reaches the backbone through buildExperiment", async () => {
    const camvid = { type: "camvid", root: "camvid/CamVid", split: "train", size: { width: 64, height: 48 }, limit: 1 };
    const cfg: ExperimentConfig = { backend: "cpu", model: { type: "vgg16-deeplab", init: "vgg16.safetensors" }, adaptation: { type: "source-only" }, source: camvid, target: camvid };
    const exp = await buildExperiment(cfg, { baseDir: dir, dataRoot: sharedData });
    const want = readImagenetWeights(stFile);
    for (const k of ["features.0.weight", "features.28.bias"]) assert.equal(maxAbsDiff(exp.net.weights.get(k)!.dataSync(), want.get(k)!.data), 0, k);
    exp.net.dispose();
    await assert.rejects(
      buildExperiment({ ...cfg, model: { ...cfg.model, widthMultiplier: 0.5 } }, { baseDir: dir, dataRoot: sharedData }),
      /model\.init: ImageNet VGG-16 weights fit only widthMultiplier 1/,
    );
  });

  it("missing, mis-shaped and unexpected tensors are named in one error", () => {
    const f = join(dir, "bad.safetensors");
    const t = torchvisionTensors();
    delete t["features.28.bias"];
    t["features.5.weight"] = { shape: [3, 3, 64, 128], data: t["features.5.weight"]!.data }; // HWIO instead of OIHW
    t["features.1.running_mean"] = { shape: [64], data: new Float32Array(64) }; // e.g. a VGG-16-BN file
    writeFileSync(f, encodeSafetensors(t));
    assert.throws(
      () => new VggDeeplabNet({ numClasses: 3, init: f }),
      (e: Error) =>
        e.message.includes(f) &&
        /missing features\.28\.bias;/.test(e.message) &&
        e.message.includes("mis-shaped features.5.weight [3,3,64,128] (expected [128,64,3,3])") &&
        e.message.includes("unexpected features.1.running_mean") &&
        !e.message.includes("classifier.0"),
      "one error naming every problem",
    );
  });

  it("bad inputs fail clearly, naming the file or field", () => {
    const n0 = tf.memory().numTensors;
    assert.throws(
      () => new VggDeeplabNet({ numClasses: 3, widthMultiplier: 0.125, init: stFile }),
      /model\.init: ImageNet VGG-16 weights fit only widthMultiplier 1; with widthMultiplier 0\.125 .*conv1_1: 8 instead of 64/,
    );
    assert.throws(() => new VggDeeplabNet({ numClasses: 3, init: join(dir, "nope.safetensors") }), /model\.init: .*nope\.safetensors does not exist/);
    assert.throws(() => new VggDeeplabNet({ numClasses: 3, init: join(dir, "vgg16.pth") }), /expected a \.safetensors file .* or a TF\.js model\.json/);
    const tj = join(dir, "tfjs-bad");
    mkdirSync(tj);
    const json = (m: unknown) => {
      writeFileSync(join(tj, "model.json"), JSON.stringify(m));
      return join(tj, "model.json");
    };
    writeFileSync(join(tj, "s1.bin"), Buffer.alloc(16));
    assert.throws(() => readImagenetWeights(json({ modelTopology: {} })), /has no "weightsManifest" array/);
    assert.throws(() => readImagenetWeights(json({ weightsManifest: [{ paths: ["s1.bin", "s2.bin"], weights: [] }] })), /weightsManifest\[0\]: weight shard .*s2\.bin does not exist/);
    assert.throws(() => readImagenetWeights(json({ weightsManifest: [{ paths: ["s1.bin"], weights: [{ name: "a", shape: [5], dtype: "float32" }] }] })), /shards hold 16 bytes, too few for "a" \[5\]/);
    assert.throws(
      () => readImagenetWeights(json({ weightsManifest: [{ paths: ["s1.bin"], weights: [{ name: "a", shape: [3], dtype: "float32" }] }] })),
      /shards hold 16 bytes but the manifest describes 12/,
    );
    assert.throws(() => readImagenetWeights(json({ weightsManifest: [{ paths: ["s1.bin"], weights: [{ name: "a", shape: [8], dtype: "float16" }] }] })), /"a" has dtype float16; only float32/);
    assert.throws(
      () => readImagenetWeights(json({ weightsManifest: [{ paths: ["s1.bin"], weights: [{ name: "block1_conv1/kernel", shape: [4], dtype: "float32" }] }] })),
      /missing block1_conv1\/bias, .*block5_conv3\/bias; mis-shaped block1_conv1\/kernel \[4\] \(expected \[3,3,3,64\]\)/,
    );
    writeFileSync(join(tj, "broken.json"), "{");
    assert.throws(() => readImagenetWeights(join(tj, "broken.json")), /broken\.json is not valid JSON/);
    assert.equal(tf.memory().numTensors, n0);
  });
});
