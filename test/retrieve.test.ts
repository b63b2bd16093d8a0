// Cross-domain retrieval helpers of @adaptseg/core: the mixing score on hand-made embeddings,
// global average pooling, and the contact sheet's exact pixels.
import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { decode } from "fast-png";
import { DOMAIN_COLORS, contactSheet, domainMixing, poolFeatures, type Domain, type SheetImage } from "@adaptseg/core";

const rad = (deg: number) => (deg * Math.PI) / 180;
/** A 3-d vector at `deg` degrees in the xy plane with length `len` (cosine ignores the length). */
const at = (deg: number, len = 1) => Float32Array.from([len * Math.cos(rad(deg)), len * Math.sin(rad(deg)), 0]);

describe("eval: cross-domain retrieval", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });

  // Source at 0, 10, 50 degrees; target at 40, 95. Cosine order = angular distance order.
  const emb = [at(0, 2), at(10, 0.5), at(50, 3), at(40), at(95, 7)];
  const dom: Domain[] = ["source", "source", "source", "target", "target"];

  it("k = 2: neighbours and other-domain shares worked by hand", () => {
    // s0 (0):  s1 10, t0 40, s2 50, t1 95   -> s1, t0 : 1 other
    // s1 (10): s0 10, t0 30, s2 40, t1 85   -> s0, t0 : 1 other
    // s2 (50): t0 10, s1 40, t1 45, s0 50   -> t0, s1 : 1 other
    // t0 (40): s2 10, s1 30, s0 40, t1 55   -> s2, s1 : 2 other
    // t1 (95): s2 45, t0 55, s1 85, s0 95   -> s2, t0 : 1 other
    const r = domainMixing(emb, dom, 2);
    assert.deepEqual(
      r.neighbours.map((ns) => ns.map((x) => x.index)),
      [
        [1, 3],
        [0, 3],
        [3, 1],
        [2, 1],
        [2, 3],
      ],
    );
    assert.equal(r.sourceToTarget, 3 / 6);
    assert.equal(r.targetToSource, 3 / 4);
    assert.equal(r.overall, 6 / 10);
    assert.ok(Math.abs(r.neighbours[4]![1]!.similarity - Math.cos(rad(55))) < 1e-6);
    assert.equal(r.neighbours[4]![1]!.domain, "target");
  });

  it("k = 1, separated clusters score 0, mixed pairs score 1", () => {
    // s0 -> s1, s1 -> s0, s2 -> t0, t0 -> s2, t1 -> s2
    const r = domainMixing(emb, dom, 1);
    assert.equal(r.sourceToTarget, 1 / 3);
    assert.equal(r.targetToSource, 1);
    const sep = domainMixing([at(0), at(5), at(90), at(85)], ["source", "source", "target", "target"], 1);
    assert.deepEqual([sep.sourceToTarget, sep.targetToSource, sep.overall], [0, 0, 0]);
    const mixed = domainMixing([at(0), at(2), at(90), at(92)], ["source", "target", "source", "target"], 1);
    assert.deepEqual([mixed.sourceToTarget, mixed.targetToSource], [1, 1]);
    assert.ok(Number.isNaN(domainMixing([at(0), at(1)], ["target", "target"], 1).sourceToTarget));
  });

  it("rejects bad input with a clear message", () => {
    assert.throws(() => domainMixing(emb, dom, 5), /k must be an integer in 1\.\.4/);
    assert.throws(() => domainMixing(emb, dom.slice(1), 1), /5 embeddings but 4 domains/);
    assert.throws(() => domainMixing([at(0), new Float32Array(2)], dom.slice(0, 2), 1), /embedding 1 has 2 values/);
    assert.throws(() => domainMixing([at(0), new Float32Array(3)], dom.slice(0, 2), 1), /embedding 1 has norm 0/);
    assert.throws(() => domainMixing([at(0), at(1)], ["source", "other" as Domain], 1), /domain 1 is "other"/);
  });

  it("poolFeatures averages over H and W per image and leaks no tensor", () => {
    const before = tf.memory().numTensors;
    // [2,2,1,2]: image 0 channels (1,10),(3,30) -> (2,20); image 1 (-1,0),(5,4) -> (2,2)
    const x = tf.tensor4d([1, 10, 3, 30, -1, 0, 5, 4], [2, 2, 1, 2]);
    const p = poolFeatures(x);
    assert.deepEqual(p.map((v) => Array.from(v)), [
      [2, 20],
      [2, 2],
    ]);
    x.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it("contactSheet: thumbnails framed in domain colours at the documented positions", () => {
    const px = (...v: number[]) => Uint8Array.from(v);
    const A = [10, 11, 12];
    const B = [20, 21, 22];
    const C = [30, 31, 32];
    const D = [40, 41, 42];
    const E = [50, 51, 52];
    const F = [60, 61, 62];
    // The neighbour is 4x2 and gets resized to 2x1: nearest source pixels (1, 1) and (3, 1).
    const big = new Uint8Array(4 * 2 * 3).fill(99);
    big.set(C, (1 * 4 + 1) * 3);
    big.set(D, (1 * 4 + 3) * 3);
    const img = (rgb: Uint8Array, width: number, height: number, domain: Domain): SheetImage => ({ rgb, width, height, domain });
    const png = contactSheet(
      [
        { query: img(px(...A, ...B), 2, 1, "source"), neighbours: [img(big, 4, 2, "target")] },
        { query: img(px(...E, ...F), 2, 1, "target"), neighbours: [] },
      ],
      { thumbWidth: 2, thumbHeight: 1, border: 1, gap: 1 },
    );
    const grid = [
      "............",
      ".oooo..bbbb.",
      ".oABo..bCDb.",
      ".oooo..bbbb.",
      "............",
      ".bbbb.......",
      ".bEFb.......",
      ".bbbb.......",
      "............",
    ];
    const key: Record<string, readonly number[]> = { ".": [255, 255, 255], o: DOMAIN_COLORS.source, b: DOMAIN_COLORS.target, A, B, C, D, E, F };
    const p = decode(png);
    assert.deepEqual([p.width, p.height, p.channels], [12, 9, 3]);
    assert.deepEqual(Array.from(p.data), grid.flatMap((row) => [...row].flatMap((ch) => [...key[ch]!])));
    assert.throws(() => contactSheet([{ query: img(px(1, 2), 1, 1, "source"), neighbours: [] }]), /row 0 image 0 has 2 bytes, not 1x1x3/);
  });
});
