// ONNX export and onnxruntime inference (issue 14): `adaptseg export` of tiny VGG and ResNet Gs loaded
// by plain onnxruntime-node (no AdaptSeg code) with logits equal to TF.js's to 1e-4 and its metadata
// present; predict and eval (library and CLI) through onnxruntime equal to the TF.js path; and the done-when, a briefly
// trained checkpoint at the demo's architecture and size giving the same masks in both runtimes on
// all the demo's evaluation frames. Skipped, saying why, where onnxruntime-node does not load.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { decode, encode } from "fast-png";
import { readOnnxMetadata, upsample, upsampleAlignCorners, type OnnxRuntime } from "@adaptseg/compute";
import { Predictor, evaluate, saveCheckpoint, train } from "@adaptseg/engine";
import { VggDeeplabNet } from "@adaptseg/models-vgg";
import { ResnetDeeplabNet } from "@adaptseg/models-resnet";
import { demoConfig, DEMO } from "../packages/cli/src/cli/demo.js";
import { itWithData, repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");
/** onnxruntime-node itself, resolved where the workspace installs it (beside @adaptseg/compute). */
function plainOrt(): OnnxRuntime | undefined {
  try {
    return createRequire(join(repoRoot, "packages/compute/package.json"))("onnxruntime-node");
  } catch {
    return undefined;
  }
}

type ModelType = "vgg16-deeplab" | "resnet101-deeplab";

/** A checkpoint of a fresh tiny G (seeded) with `upsample` in its config. */
async function tinyCheckpoint(dir: string, type: ModelType, opts: Record<string, unknown>, upsampleMode: "half-pixel" | "align-corners", size: { width: number; height: number }) {
  const numClasses = 5;
  const net = type === "vgg16-deeplab" ? new VggDeeplabNet({ numClasses, seed: 3, ...opts }) : new ResnetDeeplabNet({ numClasses, seed: 3, ...opts });
  tf.tidy(() => {
    let s = 10;
    const u = (v: tf.Variable, lo: number, hi: number) => v.assign(tf.randomUniform(v.shape, lo, hi, "float32", s++));
    for (const [n, v] of net.weights) {
      // VGG: larger weights than the init's 0.01 head, so that logits are O(1) and ties in argmax are rare.
      if (n.startsWith("classifier.")) v.assign(tf.mul(v, 30));
      // BatchNorm that is not the identity, so that folding it into the convs is tested
      else if (/(bn\d|downsample\.1)\.weight$/.test(n)) u(v, 0.5, 1.5);
      else if (/(bn\d|downsample\.1)\.(bias|running_mean)$/.test(n)) u(v, -0.2, 0.2);
      else if (n.endsWith(".running_var")) u(v, 0.5, 2);
    }
  });
  const model = { type, numClasses, ...opts };
  const file = await saveCheckpoint(
    dir,
    { G: net, D: new Map(), optimizers: {} },
    {
      iteration: 7,
      config: { model: { ...model, upsample: upsampleMode }, target: { size } },
      model,
      classes: ["a", "b", "c", "d", "e"],
      palette: [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [10, 11, 12],
        [13, 14, 15],
      ],
      loaders: {},
    },
  );
  return { file, net };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const agreement = (a: Uint8Array, b: Uint8Array) => {
  assert.equal(a.length, b.length);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

describe("ONNX export and onnxruntime inference", function () {
  this.timeout(300_000);
  const ort = plainOrt();
  before(async function () {
    if (!ort) this.skip();
    await tf.setBackend("cpu");
  });

  const cases: { type: ModelType; name: string; opts: Record<string, unknown>; up: "half-pixel" | "align-corners"; size: { width: number; height: number } }[] = [
    { type: "vgg16-deeplab", name: "defaults (ceil pools, all four ASPP branches, half-pixel)", opts: { widthMultiplier: 0.0625 }, up: "half-pixel", size: { width: 67, height: 45 } },
    {
      type: "vgg16-deeplab",
      name: "faithful options (floor pools, ASPP d=6,12, fc7 unpadded, align-corners), odd size",
      opts: { widthMultiplier: 0.0625, pool: "floor", aspp: "faithful", fc7Padding: "none" },
      up: "align-corners",
      size: { width: 97, height: 83 },
    },
    { type: "resnet101-deeplab", name: "BatchNorm folded, aux head left out, odd size", opts: { widthMultiplier: 0.0625, auxHead: true }, up: "half-pixel", size: { width: 71, height: 53 } },
  ];
  for (const c of cases)
    it(`export of a tiny ${c.type} G, ${c.name}: plain onnxruntime-node loads it, logits equal TF.js's to 1e-4, metadata present`, async () => {
      const dir = tmp();
      const { file, net } = await tinyCheckpoint(dir, c.type, c.opts, c.up, c.size);
      const out = join(dir, "g.onnx");
      const log = execFileSync(process.execPath, [cli, "export", "--checkpoint", file, "--out", out, "--backend", "cpu"], { encoding: "utf8" });
      assert.match(log, /check at \d+x\d+: max \|onnxruntime - TF\.js\|/);
      const session = await ort!.InferenceSession.create(out);
      assert.deepEqual([...session.inputNames], ["image"]);
      assert.deepEqual([...session.outputNames].sort(), ["coarse_logits", "logits", "mask"]);
      const { width: W, height: H } = c.size;
      const x = tf.randomUniform([1, H, W, 3], -120, 120, "float32", 5) as tf.Tensor4D;
      const r = await session.run({ image: new ort!.Tensor("float32", x.dataSync() as Float32Array, [1, H, W, 3]) });
      const up = c.up === "align-corners" ? upsampleAlignCorners : upsample;
      const [coarse, logits, ids] = tf.tidy(() => {
        const m = net.apply(x).main;
        const l = up(m, H, W);
        return [m.transpose([0, 3, 1, 2]).dataSync(), l.transpose([0, 3, 1, 2]).dataSync(), Uint8Array.from(l.argMax(-1).dataSync())];
      });
      assert.deepEqual(r.logits!.dims, [1, 5, H, W]);
      assert.deepEqual(r.mask!.dims, [1, H, W]);
      const dc = maxDiff(r.coarse_logits!.data as Float32Array, coarse!);
      const dl = maxDiff(r.logits!.data as Float32Array, logits!);
      const scale = Math.max(1, ...Array.from(coarse!, Math.abs));
      assert.ok(dc <= 1e-4 && dl <= 1e-4, `max |ORT - TF.js|: coarse ${dc}, upsampled ${dl}; max |logit| ${scale}`);
      assert.ok(agreement(r.mask!.data as Uint8Array, ids as Uint8Array) >= 0.999);
      const meta = readOnnxMetadata(readFileSync(out));
      assert.deepEqual(JSON.parse(meta.classes!), ["a", "b", "c", "d", "e"]);
      assert.deepEqual(JSON.parse(meta.palette!)[4], [13, 14, 15]);
      assert.deepEqual(JSON.parse(meta.input_size!), c.size);
      assert.equal(meta.upsample, c.up);
      assert.deepEqual(JSON.parse(meta.preprocessing!).channels, "BGR");
      assert.equal(JSON.parse(meta.model!).type, c.type);
      await session.release();
      x.dispose();
      net.dispose();
    });

  it("Predictor: onnxruntime (checkpoint converted in memory, or the .onnx file) gives TF.js's masks at the input size and at another size", async () => {
    const dir = tmp();
    const size = { width: 64, height: 48 };
    const { file, net } = await tinyCheckpoint(dir, "vgg16-deeplab", { widthMultiplier: 0.0625 }, "half-pixel", size);
    net.dispose();
    // a 96x72 image: predict's output size (its own) is not the 64x48 input size
    const rgb = new Uint8Array(96 * 72 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + (i >> 7) * 11) % 256;
    const image = join(dir, "img.png");
    writeFileSync(image, encode({ width: 96, height: 72, data: rgb, channels: 3, depth: 8 }));
    const onnxFile = join(dir, "g.onnx");
    execFileSync(process.execPath, [cli, "export", "--checkpoint", file, "--out", onnxFile, "--backend", "cpu"]);
    const tfjs = await Predictor.open(file, { backend: "cpu", runtime: "tfjs" });
    const inMemory = await Predictor.open(file, { backend: "cpu" }); // default: onnx where it loads
    const fromFile = await Predictor.open(onnxFile, { backend: "cpu" });
    try {
      assert.equal(tfjs.runtime, "tfjs");
      assert.equal(inMemory.runtime, "onnx");
      assert.equal(fromFile.runtime, "onnx");
      assert.deepEqual(fromFile.inputSize, size);
      assert.deepEqual(fromFile.palette, tfjs.palette);
      const img = await tfjs.pipeline.readImage(image, size);
      for (const [h, w] of [
        [48, 64], // the model's mask output
        [72, 96], // coarse logits upsampled in TF.js
      ] as const) {
        const ref = await tfjs.predictIds(img, h, w);
        for (const p of [inMemory, fromFile]) assert.ok(agreement(await p.predictIds(img, h, w), ref) >= 0.999, `${p.runtime} at ${w}x${h}`);
      }
      const a = await tfjs.segment(image);
      const b = await fromFile.segment(image);
      assert.ok(agreement(a.ids, b.ids) >= 0.999);
      assert.deepEqual(
        b.legend.map((e) => e.id),
        a.legend.map((e) => e.id),
      );
    } finally {
      for (const p of [tfjs, inMemory, fromFile]) p.dispose();
    }
    await assert.rejects(Predictor.open(onnxFile, { runtime: "tfjs" }), /runs in onnxruntime only/);
  });

  itWithData("CLI: eval with --runtime tfjs, --runtime onnx and the exported .onnx file write the same metrics and masks", async () => {
    const dir = tmp();
    const config = tinyConfig("output-space", 2);
    const cfgFile = join(dir, "exp.json");
    writeFileSync(cfgFile, JSON.stringify(config));
    const r = await train(config, { outDir: join(dir, "run"), dataRoot: sharedData });
    const onnxFile = join(dir, "g.onnx");
    execFileSync(process.execPath, [cli, "export", "--checkpoint", r.checkpoint!, "--out", onnxFile]);
    const runs = [
      ["--checkpoint", r.checkpoint!, "--runtime", "tfjs"],
      ["--checkpoint", r.checkpoint!, "--runtime", "onnx"],
      ["--checkpoint", onnxFile],
    ].map((args, k) => {
      const out = join(dir, `eval${k}`);
      const log = execFileSync(process.execPath, [cli, "eval", "--config", cfgFile, ...args, "--data", sharedData, "--out", out], { encoding: "utf8" });
      assert.match(log, k === 0 ? /\(TF\.js / : /\(onnxruntime\)/);
      const m = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")) as { miou: number; images: number };
      return {
        m,
        masks: readdirSync(join(out, "predictions"))
          .filter((f) => f.endsWith("_trainIds.png"))
          .map((f) => decode(readFileSync(join(out, "predictions", f))).data as Uint8Array),
      };
    });
    for (const run of runs.slice(1)) {
      assert.equal(run.m.images, runs[0]!.m.images);
      assert.ok(Math.abs(run.m.miou - runs[0]!.m.miou) < 0.05, `mIoU ${run.m.miou} vs TF.js ${runs[0]!.m.miou}`);
      run.masks.forEach((m, i) => assert.ok(agreement(m, runs[0]!.masks[i]!) >= 0.999));
    }
  });

  itWithData("done-when: a briefly trained checkpoint at the demo's architecture and size gives TF.js's masks and mIoU in onnxruntime on every demo evaluation frame", async () => {
    const config = { ...demoConfig("source-only", { seed: 1, warmup: 20, iters: 20, width: DEMO.width, height: DEMO.height, lr: DEMO.lr }), backend: "wasm" };
    const r = await train(config, { outDir: join(tmp(), "run"), dataRoot: sharedData });
    assert.ok(r.checkpoint && existsSync(r.checkpoint));
    const tfjs = await Predictor.open(r.checkpoint!, { runtime: "tfjs" });
    const onnx = await Predictor.open(r.checkpoint!, { runtime: "onnx" });
    try {
      const ds = await tfjs.pipeline.open(config.evaluation!.dataset!, { dataRoot: sharedData });
      const opts = { size: { width: DEMO.width, height: DEMO.height } };
      const masks: Uint8Array[][] = [[], []];
      const results = [];
      for (const [k, p] of [tfjs, onnx].entries())
        results.push(
          await evaluate(
            async (img, h, w) => {
              const ids = await p.predictIds(img, h, w);
              masks[k]!.push(ids);
              return ids;
            },
            p.pipeline,
            ds,
            opts,
          ),
        );
      assert.ok(results[0]!.images >= 20, `${results[0]!.images} evaluation frames`);
      let same = 0,
        total = 0;
      masks[0]!.forEach((m, i) => {
        same += agreement(m, masks[1]![i]!) * m.length;
        total += m.length;
      });
      assert.ok(same / total >= 0.999, `argmax agreement ${same / total}`);
      assert.ok(Math.abs(results[0]!.miou - results[1]!.miou) < 0.05, `mIoU TF.js ${results[0]!.miou}, onnxruntime ${results[1]!.miou}`);
    } finally {
      tfjs.dispose();
      onnx.dispose();
    }
  });
});
