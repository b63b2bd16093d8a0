// ConfusionMatrix (SPEC section 4) against hand-worked numbers, a naive reference and real Cityscapes frames.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { decode } from "fast-png";
import { ConfusionMatrix, formatTable, MetricPoint, miouMetric } from "@adaptseg/metrics";
import { Metric } from "@adaptseg/core";
import { sharedData } from "./helpers.js";

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ""} ${a} vs ${b}`);

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("metrics: ConfusionMatrix", () => {
  it("matches a hand-worked example (255 ignored, absent class NaN and left out of mIoU)", () => {
    //        gt:   0 0 0 1 1 2 2 2 255 255
    //        pred: 0 0 1 1 1 2 0 2   3   3   (pred on ignored pixels does not count)
    // hist (rows gt): gt0 [2 1 0 0], gt1 [0 2 0 0], gt2 [1 0 2 0], gt3 [0 0 0 0]
    // row sums 3 2 3 0; column sums 3 3 2 0; diagonal 2 2 2 0
    // IoU0 = 2/(3+3-2) = 1/2; IoU1 = 2/(2+3-2) = 2/3; IoU2 = 2/(3+2-2) = 2/3; IoU3 = 0/0 -> NaN
    // mIoU = (1/2 + 2/3 + 2/3)/3 = 11/18; pixel acc = 6/8 = 3/4
    // recall: 2/3, 2/2, 2/3 -> mean class acc = (2/3 + 1 + 2/3)/3 = 7/9
    const gt = Uint8Array.from([0, 0, 0, 1, 1, 2, 2, 2, 255, 255]);
    const pred = Uint8Array.from([0, 0, 1, 1, 1, 2, 0, 2, 3, 3]);
    const m = new ConfusionMatrix(4).process(gt, pred);
    assert.deepEqual(Array.from(m.hist), [2, 1, 0, 0, 0, 2, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0]);
    const r = m.compute();
    close(r.iou[0]!, 1 / 2);
    close(r.iou[1]!, 2 / 3);
    close(r.iou[2]!, 2 / 3);
    assert.ok(Number.isNaN(r.iou[3]));
    close(r.miou, 11 / 18);
    close(r.pixelAccuracy, 3 / 4);
    close(r.meanClassAccuracy, 7 / 9);
    // class subsets: {0, 1} -> (1/2 + 2/3)/2 = 7/12; {0, 3} -> 1/2 (NaN skipped); recall {0,1} -> (2/3+1)/2 = 5/6
    const s = m.compute({ classes: [0, 1] });
    close(s.miou, 7 / 12);
    close(s.meanClassAccuracy, 5 / 6);
    close(m.compute({ classes: [0, 3] }).miou, 1 / 2);
    assert.ok(Number.isNaN(m.compute({ classes: [3] }).miou));
  });

  it("rejects bad input with clear errors", () => {
    assert.throws(() => new ConfusionMatrix(0), /class count/);
    assert.throws(() => new ConfusionMatrix(2).process([0, 1], [0]), /gt has 2 pixels, pred 1/);
    assert.throws(() => new ConfusionMatrix(2).process([0, 1], [0, 2]), /prediction 2 at pixel 1/);
    assert.throws(() => new ConfusionMatrix(2).process([0], [0.5]), /prediction 0.5/);
    assert.throws(() => new ConfusionMatrix(2).compute({ classes: [2] }), /class 2/);
    assert.throws(() => new ConfusionMatrix(2).merge(new ConfusionMatrix(3)), /3 classes vs 2/);
    assert.throws(() => ConfusionMatrix.fromJSON({ n: 2, hist: [1, 2, 3] }), /3 entries for 2 classes/);
  });

  it("equals a naive per-class intersection/union count on random arrays; merge of halves equals the whole", () => {
    const n = 7;
    const len = 5000;
    const rand = rng(42);
    const gt = new Uint8Array(len);
    const pred = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      gt[i] = rand() < 0.1 ? 255 : Math.floor(rand() * (n - 1)); // class n-1 never in gt
      pred[i] = Math.floor(rand() * (n - 1)); // ... nor in pred: NaN
    }
    const whole = new ConfusionMatrix(n).process(gt, pred);
    const r = whole.compute();
    const sub = [0, 2, 5, 6];
    let sumSub = 0;
    let cntSub = 0;
    for (let c = 0; c < n; c++) {
      let inter = 0;
      let union = 0;
      for (let i = 0; i < len; i++) {
        if (gt[i] === 255) continue;
        if (gt[i] === c && pred[i] === c) inter++;
        if (gt[i] === c || pred[i] === c) union++;
      }
      if (union === 0) assert.ok(Number.isNaN(r.iou[c]), `class ${c}`);
      else {
        close(r.iou[c]!, inter / union, `class ${c}`);
        if (sub.includes(c)) (sumSub += inter / union), cntSub++;
      }
    }
    assert.ok(Number.isNaN(r.iou[n - 1]));
    close(whole.compute({ classes: sub }).miou, sumSub / cntSub);
    let correct = 0;
    let valid = 0;
    for (let i = 0; i < len; i++) if (gt[i] !== 255) valid++, (correct += +(gt[i] === pred[i]));
    close(r.pixelAccuracy, correct / valid);

    const h = len / 2;
    const a = new ConfusionMatrix(n).process(gt.subarray(0, h), pred.subarray(0, h));
    const b = new ConfusionMatrix(n).process(gt.subarray(h), pred.subarray(h));
    assert.deepEqual(Array.from(a.merge(b).hist), Array.from(whole.hist));
    // JSON round trip; plain number arrays give the same as typed arrays
    assert.deepEqual(Array.from(ConfusionMatrix.fromJSON(JSON.parse(JSON.stringify(whole))).hist), Array.from(whole.hist));
    assert.deepEqual(Array.from(new ConfusionMatrix(n).process(Array.from(gt), Array.from(pred)).hist), Array.from(whole.hist));
  });

  it("formatTable: console, markdown, csv and json", () => {
    // gt 0 0 0 0 1 1 255, pred 0 0 0 1 1 1 2: hist gt0 [3 1 0], gt1 [0 2 0], class 2 absent
    // IoU0 = 3/(4+3-3) = 75%, IoU1 = 2/(2+3-2) = 66.67%, IoU2 NaN; mIoU = (75 + 66.667)/2 = 70.83%
    // pixel acc 5/6 = 83.33%, mean class acc (3/4 + 1)/2 = 87.5%
    const m = new ConfusionMatrix(3).process([0, 0, 0, 0, 1, 1, 255], [0, 0, 0, 1, 1, 1, 2]);
    const classNames = ["road", "sidewalk", "building"];
    assert.equal(formatTable(m, { classNames }), ["road       75.00", "sidewalk   66.67", "building       -", "mIoU       70.83"].join("\n"));
    assert.equal(
      formatTable(m, { classNames, format: "markdown" }),
      ["| class | IoU |", "|---|---:|", "| road | 75.00 |", "| sidewalk | 66.67 |", "| building | - |", "| **mIoU** | **70.83** |"].join("\n"),
    );
    assert.equal(formatTable(m, { classNames, format: "csv" }), "class,iou\nroad,75\nsidewalk,66.67\nbuilding,\nmIoU,70.83");
    assert.equal(
      formatTable(m, { classNames, format: "json" }),
      '{"perClass":{"road":75,"sidewalk":66.67,"building":null},"miou":70.83,"pixelAccuracy":83.33,"meanClassAccuracy":87.5}',
    );
    assert.equal(formatTable(m, { classNames, classes: [1], format: "csv" }), "class,iou\nsidewalk,66.67\nmIoU,66.67");
  });

  it("MetricPoint is core's Metric symbol; miouMetric accumulates", () => {
    assert.equal(MetricPoint, Symbol.for("adaptseg.Metric"));
    assert.equal(MetricPoint, Metric);
    const acc = miouMetric.create(3, { classes: [0, 1] });
    acc.process([0, 0, 0, 0], [0, 0, 0, 1]);
    acc.process([1, 1, 255], [1, 1, 2]);
    close(acc.compute().miou, (3 / 4 + 2 / 3) / 2);
  });
});

describe("metrics: real Cityscapes frames", () => {
  // SPEC section 3: label id -> train id; everything else 255. Written out here independently of @adaptseg/datasets.
  const map = new Uint8Array(256).fill(255);
  [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33].forEach((id, t) => (map[id] = t));
  const root = join(sharedData, "cityscapes-sample/gtFine");
  const find = (dir: string, suffix: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? find(join(dir, e.name), suffix) : e.name.endsWith(suffix) ? [join(dir, e.name)] : [],
    );
  const read = (f: string) => {
    const p = decode(readFileSync(f));
    assert.equal(p.channels, 1, f);
    assert.equal(p.depth, 8, f);
    return p.data as Uint8Array;
  };
  const files = find(root, "_gtFine_labelTrainIds.png").sort().slice(0, 2);

  it("labelTrainIds vs itself: IoU 1 on present classes, NaN on absent ones", () => {
    assert.ok(files.length > 0, `no *_gtFine_labelTrainIds.png under ${root}`);
    for (const f of files) {
      const t = read(f);
      const present = new Set(Array.from(t).filter((v) => v < 19));
      const r = new ConfusionMatrix(19).process(t, t).compute();
      for (let c = 0; c < 19; c++) {
        if (present.has(c)) assert.equal(r.iou[c], 1, `${f} class ${c}`);
        else assert.ok(Number.isNaN(r.iou[c]), `${f} class ${c}`);
      }
      assert.equal(r.miou, 1);
      assert.ok(present.size >= 5, `${f}: only ${present.size} classes`);
    }
  });

  it("mapped labelIds: diagonal matrix of class counts, and > 99% pixel accuracy against shipped labelTrainIds", () => {
    for (const f of files) {
      const ids = read(f.replace("_labelTrainIds.png", "_labelIds.png"));
      const mapped = ids.map((v) => map[v]!);
      const counts = new Array(19).fill(0);
      for (const v of mapped) if (v < 19) counts[v]++;
      const m = new ConfusionMatrix(19).process(mapped, mapped);
      for (let i = 0; i < 19; i++) for (let j = 0; j < 19; j++) assert.equal(m.hist[i * 19 + j], i === j ? counts[i] : 0, `${f} [${i},${j}]`);
      // The shipped labelTrainIds differ from mapped labelIds on a few border pixels (the mapping matches
      // gtFine_color.png instead). Measured pixel accuracy (shipped as gt, mapped as prediction): 0.99596 for
      // aachen_000000_000019 and 0.99762 for aachen_000003_000019.
      // Predictions must lie in [0, n): mapped 255 becomes an extra class 19 (always wrong) in a 20-class matrix.
      const pred = mapped.map((v) => (v === 255 ? 19 : v));
      const acc = new ConfusionMatrix(20).process(read(f), pred).compute().pixelAccuracy;
      assert.ok(acc > 0.99, `${f}: pixel accuracy ${acc}`);
    }
  });
});
