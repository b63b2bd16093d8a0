// Cross-domain retrieval: the domain-mixing score on hand-made embeddings (fractions worked out by
// hand below), global average pooling, the contact sheet's layout and domain borders, and the CLI.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { decode } from "fast-png";
import type { ExperimentConfig } from "@adaptseg/core";
import { contactSheet, domainMixing, embedDataset, poolFeatures, Predictor, train, type Domain, type Thumb } from "@adaptseg/engine";
import { itWithData, repoRoot, sharedData, tmp } from "./helpers.js";

const v = (...xs: number[]) => Float32Array.from(xs);
const S: Domain = "source",
  T: Domain = "target";

describe("retrieve", function () {
  this.timeout(300_000);
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("two well-separated clusters: no neighbour crosses domains (score 0)", () => {
    // Source points hug the x axis, target points the y axis; with k=2 each point's two nearest are
    // the other two of its own cluster, so every fraction is 0/2.
    const e = [v(1, 0), v(1, 0.1), v(1, -0.1), v(0, 1), v(0.1, 1), v(-0.1, 1)];
    const m = domainMixing(e, [S, S, S, T, T, T], 2);
    assert.deepEqual(
      m.neighbours.map((n) => [...n].sort()),
      [
        [1, 2],
        [0, 2],
        [0, 1],
        [4, 5],
        [3, 5],
        [3, 4],
      ],
    );
    assert.equal(m.source, 0);
    assert.equal(m.target, 0);
    assert.equal(m.overall, 0);
  });

  it("interleaved domains on an arc: hand-worked fractions", () => {
    // Unit vectors at 0,10,...,50 degrees, domains S,T,S,T,S,T; k=2 takes the two angular neighbours.
    //   0 (S): 10°,20° -> T,S = 1/2     1 (T): 0°,20° -> S,S = 1     2 (S): 10°,30° -> T,T = 1
    //   3 (T): 20°,40° -> S,S = 1       4 (S): 30°,50° -> T,T = 1    5 (T): 40°,30° -> S,T = 1/2
    // source = (1/2+1+1)/3 = 5/6, target = (1+1+1/2)/3 = 5/6, overall = 5/6.
    const e = [0, 10, 20, 30, 40, 50].map((d) => v(Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)));
    const m = domainMixing(e, [S, T, S, T, S, T], 2);
    assert.deepEqual(m.neighbours[0], [1, 2]);
    assert.deepEqual(m.neighbours[5], [4, 3]);
    for (const x of [m.source, m.target, m.overall]) assert.ok(Math.abs(x - 5 / 6) < 1e-12, String(x));
  });

  it("cosine, not euclidean (a scaled copy is nearest); ties go to the lower index", () => {
    // 0 S (1,0)   1 T (10,0)   2 S (0.6,0.6)   3 T (0,1);  k=1.
    // 0: cos to 1 = 1 (euclidean would pick 2, at 0.72 vs 9) -> [1] T: 1
    // 1: cos to 0 = 1 -> [0] S: 1
    // 2: cos to 0, 1 and 3 all = 1/sqrt2 (exact tie) -> lowest index 0, S: 0
    // 3: cos 0 to 0 and 1, 1/sqrt2 to 2 -> [2] S: 1
    // source = (1+0)/2 = 0.5, target = (1+1)/2 = 1, overall = 3/4.
    const m = domainMixing([v(1, 0), v(10, 0), v(0.6, 0.6), v(0, 1)], [S, T, S, T], 1);
    assert.deepEqual(m.neighbours, [[1], [0], [0], [2]]);
    assert.equal(m.source, 0.5);
    assert.equal(m.target, 1);
    assert.equal(m.overall, 0.75);
  });

  it("rejects bad input with a clear error", () => {
    assert.throws(() => domainMixing([v(1, 0), v(0, 1)], [S], 1), /2 embeddings but 1 domains/);
    assert.throws(() => domainMixing([v(1, 0), v(0, 1)], [S, T], 2), /k=2 needs at least 3 items/);
    assert.throws(() => domainMixing([v(1, 0), v(0, 1, 0)], [S, T], 1), /embedding 1 has length 3/);
  });

  it("poolFeatures averages over H and W per batch item, leaking no tensors", async () => {
    // [2,2,2,3] holding 0..23: item 0 channel c averages c, c+3, c+6, c+9 -> 4.5+c; item 1 adds 12.
    const x = tf.tensor4d(
      Array.from({ length: 24 }, (_, i) => i),
      [2, 2, 2, 3],
    );
    const before = tf.memory().numTensors;
    const p = await poolFeatures(x);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    assert.deepEqual(
      p.map((a) => [...a]),
      [
        [4.5, 5.5, 6.5],
        [16.5, 17.5, 18.5],
      ],
    );
  });

  it("contactSheet: grid size, domain-coloured borders, resized thumbnails", () => {
    const solid = (rgb: number[], domain: Domain, w = 8, h = 6): Thumb => ({ rgb: Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]!), width: w, height: h, domain });
    const rows = [
      { query: solid([10, 20, 30], S), neighbours: [solid([40, 50, 60], T, 5, 5), solid([70, 80, 90], S)] },
      { query: solid([1, 2, 3], T), neighbours: [solid([4, 5, 6], T)] },
    ];
    // cell 4x3 + 1px border = 6x5 per tile, 2px gaps: width 2+3*(6+2) = 26, height 2+2*(5+2) = 16.
    const s = contactSheet(rows, { cell: { width: 4, height: 3 }, border: 1, gap: 2 });
    assert.equal(s.width, 26);
    assert.equal(s.height, 16);
    const img = decode(s.png);
    assert.equal(img.width, 26);
    assert.equal(img.channels, 3);
    const px = (x: number, y: number) => [...img.data.slice((y * 26 + x) * 3, (y * 26 + x) * 3 + 3)];
    const orange = [255, 140, 0],
      blue = [30, 144, 255],
      white = [255, 255, 255];
    assert.deepEqual(px(0, 0), white);
    assert.deepEqual(px(2, 2), orange); // row 0 query (source) border
    assert.deepEqual(px(3, 3), [10, 20, 30]); // its thumbnail
    assert.deepEqual(px(6, 5), [10, 20, 30]); // last thumbnail pixel (2+1+3, 2+1+2)
    assert.deepEqual(px(6, 6), orange); // bottom border under it
    assert.deepEqual(px(7, 6), orange); // bottom-right border corner (2+6-1, 2+5-1)
    assert.deepEqual(px(8, 7), white);
    assert.deepEqual(px(8, 2), white); // gap between tiles
    assert.deepEqual(px(10, 2), blue); // row 0, neighbour 1 (target)
    assert.deepEqual(px(11, 3), [40, 50, 60]);
    assert.deepEqual(px(18, 2), orange); // row 0, neighbour 2 (source)
    assert.deepEqual(px(2, 9), blue); // row 1 query (target): y0 = 2 + 7
    assert.deepEqual(px(3, 10), [1, 2, 3]);
    assert.deepEqual(px(18, 9), white); // row 1 has only one neighbour
    assert.throws(() => contactSheet([{ query: { ...solid([0, 0, 0], S), width: 9 }, neighbours: [] }]), /row 0 cell 0: rgb has 144 bytes, expected 9x6x3/);
  });

  itWithData("CLI: retrieve on a tiny checkpoint writes retrieval.json and contact-sheet.png", async () => {
    const size = { width: 64, height: 48 };
    const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
    const config: ExperimentConfig = {
      name: "tiny-retrieve",
      seed: 7,
      backend: "wasm",
      model: { type: "vgg16-deeplab", widthMultiplier: 0.0625 },
      discriminator: { type: "fc", widthMultiplier: 0.125 },
      adaptation: { type: "output-space", lambdaSeg: 0.1 },
      source: camvid({ excludeSequences: ["0001TP"] }, 5),
      target: camvid({ sequences: ["0001TP"] }, 5),
      training: { maxIters: 100, stopIter: 2, snapshotEvery: 2, keepSnapshots: 10, optimizerG: { lr: 0.01 } },
    };
    const dir = tmp();
    const r = await train(config, { outDir: join(dir, "run"), dataRoot: sharedData });
    assert.ok(r.checkpoint && existsSync(r.checkpoint));
    // Library call: one pooled featureChannels-vector per image, no tensors left behind.
    const p = await Predictor.open(r.checkpoint!, { backend: "cpu" });
    try {
      const ds = await p.pipeline.open(config.target, { dataRoot: sharedData });
      const before = tf.memory().numTensors;
      const e = await embedDataset(p, ds, size, { limit: 2 });
      assert.equal(tf.memory().numTensors, before);
      assert.equal(e.embeddings.length, 2);
      for (const x of e.embeddings) assert.ok(x.length === p.net.featureChannels && x.every(Number.isFinite));
      assert.ok(e.thumbs.every((t) => t.width <= 160 && t.rgb.length === t.width * t.height * 3));
    } finally {
      p.dispose();
    }
    const cfgFile = join(dir, "exp.json");
    writeFileSync(cfgFile, JSON.stringify(config));
    const out = join(dir, "retrieve");
    const cli = join(repoRoot, "packages/cli/dist/cli.js");
    const stdout = execFileSync(process.execPath, [cli, "retrieve", "--config", cfgFile, "--checkpoint", r.checkpoint!, "--k", "2", "--limit", "3", "--out", out, "--data", sharedData], {
      encoding: "utf8",
    });
    assert.match(stdout, /embedded 3 source and 3 target images, k=2/);
    assert.match(stdout, /source->target \d\.\d{3}\s+target->source \d\.\d{3}/);
    const json = JSON.parse(readFileSync(join(out, "retrieval.json"), "utf8"));
    assert.equal(json.k, 2);
    assert.equal(json.items.length, 6);
    for (const it of json.items) assert.equal(it.neighbours.length, 2);
    for (const d of ["source", "target", "overall"]) assert.ok(json.mixing[d] >= 0 && json.mixing[d] <= 1, d);
    const png = decode(readFileSync(join(out, "contact-sheet.png")));
    // 6 query rows (3 per domain) of 1 + k tiles: default cell 96x72, border 3, gap 4.
    assert.equal(png.width, 4 + 3 * (102 + 4));
    assert.equal(png.height, 4 + 6 * (78 + 4));
  });
});
