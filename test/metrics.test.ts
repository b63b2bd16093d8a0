// @adaptseg/metrics: the confusion matrix against hand-worked and brute-force references, the real
// Cityscapes label files, output tables and serialisation.
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { decode } from "fast-png";
import { CITYSCAPES_13, CITYSCAPES_16, ConfusionMatrix, formatTable } from "@adaptseg/metrics";
import { Rng } from "@adaptseg/core";
import { describeWithData, sharedData } from "./helpers.js";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

describe("metrics: confusion matrix", () => {
  it("matches a hand-worked 3-class example (ignore 255, absent class NaN)", () => {
    // pixel:   0  1  2  3  4  5  6    7  8  9
    const gt = [0, 0, 0, 1, 1, 1, 1, 255, 0, 1];
    const pred = [0, 0, 1, 1, 1, 0, 1, 2, 0, 2];
    // Evaluated pixels: all but 7.  gt 0 -> pred {0,0,1,0}: hist[0][0]=3, hist[0][1]=1.
    // gt 1 -> pred {1,1,0,1,2}: hist[1][0]=1, hist[1][1]=3, hist[1][2]=1.  gt 2: none.
    const expected = [3, 1, 0, 1, 3, 1, 0, 0, 0];
    for (const [g, p] of [
      [Uint8Array.from(gt), Uint8Array.from(pred)],
      [Int32Array.from(gt), Int32Array.from(pred)],
      [gt, pred],
    ] as const) {
      const m = new ConfusionMatrix(3).process(g, p);
      assert.deepEqual(Array.from(m.hist), expected);
      const r = m.compute();
      // class 0: inter 3, union rowsum 4 + colsum 4 - 3 = 5.  class 1: inter 3, 5 + 4 - 3 = 6.
      // class 2: inter 0, union 0 + 1 - 0 = 1 -> IoU 0 (predicted but never present: counts).
      close(r.iou[0]!, 3 / 5);
      close(r.iou[1]!, 3 / 6);
      assert.equal(r.iou[2], 0);
      close(r.miou, (3 / 5 + 3 / 6 + 0) / 3);
      close(r.pixelAccuracy, 6 / 9);
      assert.ok(Number.isNaN(r.accuracy[2]!));
      close(r.meanClassAccuracy, (3 / 4 + 3 / 5) / 2); // class 2 absent from gt: left out
      assert.equal(r.pixels, 9);
      // Subset without class 2.
      close(m.compute({ classes: [0, 1] }).miou, (3 / 5 + 3 / 6) / 2);
    }
    // A class that is neither in gt nor predicted has union 0 -> NaN, left out of the mean.
    const r4 = new ConfusionMatrix(4).process(Uint8Array.from(gt), Uint8Array.from(pred)).compute();
    assert.ok(Number.isNaN(r4.iou[3]!));
    close(r4.miou, (3 / 5 + 3 / 6 + 0) / 3);
    assert.ok(Number.isNaN(new ConfusionMatrix(2).compute().miou));
  });

  it("matches a brute-force count on random maps, for every input type, split and merged", () => {
    const rng = new Rng(11);
    const n = 19;
    const len = 50_000;
    const gt = new Uint8Array(len);
    const pred = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const u = rng.next();
      gt[i] = u < 0.1 ? 255 : u < 0.12 ? 19 + rng.int(30) : rng.int(n); // ignore, other out-of-range gt
      pred[i] = rng.int(n);
    }
    // Reference: per class, count intersection and union directly.
    const refIou: number[] = [];
    for (let c = 0; c < n; c++) {
      let inter = 0;
      let union = 0;
      for (let i = 0; i < len; i++) {
        if (gt[i]! >= n) continue;
        const a = gt[i] === c;
        const b = pred[i] === c;
        if (a && b) inter++;
        if (a || b) union++;
      }
      refIou.push(union ? inter / union : NaN);
    }
    const refMiou = refIou.reduce((a, b) => a + b, 0) / n;
    const inputs: [ArrayLike<number>, ArrayLike<number>][] = [
      [gt, pred],
      [Int32Array.from(gt), Int32Array.from(pred)],
      [Float32Array.from(gt), Uint16Array.from(pred)],
      [gt, Int32Array.from(pred)],
    ];
    for (const [g, p] of inputs) {
      const r = new ConfusionMatrix(n).process(g, p).compute();
      r.iou.forEach((v, c) => close(v, refIou[c]!));
      close(r.miou, refMiou);
    }
    // Two halves processed in two matrices and merged == one pass.
    const a = new ConfusionMatrix(n).process(gt.subarray(0, 20_000), pred.subarray(0, 20_000));
    const b = new ConfusionMatrix(n).process(gt.subarray(20_000), pred.subarray(20_000));
    assert.deepEqual(Array.from(a.merge(b).hist), Array.from(new ConfusionMatrix(n).process(gt, pred).hist));
    // Subsets: the 16 and 13 class protocols average exactly those classes.
    const whole = a.compute();
    close(a.compute({ classes: CITYSCAPES_16 }).miou, CITYSCAPES_16.reduce((s, c) => s + whole.iou[c]!, 0) / 16);
    close(a.compute({ classes: CITYSCAPES_13 }).miou, CITYSCAPES_13.reduce((s, c) => s + whole.iou[c]!, 0) / 13);
    assert.deepEqual(CITYSCAPES_13, [0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18]);
  });

  it("Uint8 word path (4 pixels per read) equals the generic path at every alignment and length", () => {
    const rng = new Rng(5);
    const n = 5;
    const len = 103;
    const gt = Uint8Array.from({ length: len + 8 }, () => (rng.next() < 0.2 ? 255 : rng.int(n)));
    const pred = Uint8Array.from({ length: len + 8 }, () => rng.int(n));
    for (const og of [0, 1, 3])
      for (const op of [0, 1, 2])
        for (const l of [0, 1, 3, 4, 7, 64, len]) {
          const g = gt.subarray(og, og + l);
          const p = pred.subarray(op, op + l);
          const ref = new ConfusionMatrix(n).process(Int32Array.from(g), Int32Array.from(p));
          assert.deepEqual(Array.from(new ConfusionMatrix(n).process(g, p).hist), Array.from(ref.hist), `offsets ${og}/${op}, length ${l}`);
        }
    // A bad prediction inside a word (pixel 6, the third byte of the second word) is still found.
    const bad = new Uint8Array(12);
    bad[6] = n;
    assert.throws(() => new ConfusionMatrix(n).process(new Uint8Array(12), bad), new RegExp(`prediction ${n} at pixel 6 `));
  });

  it("rejects a prediction outside [0, n) at an evaluated pixel and stays unchanged", () => {
    for (const T of [Uint8Array, Int32Array]) {
      const m = new ConfusionMatrix(3).process(T.from([0, 1]), T.from([0, 1]));
      const before = Array.from(m.hist);
      assert.throws(() => m.process(T.from([0, 1, 2, 1]), T.from([0, 1, 2, 3])), /prediction 3 at pixel 3 is .*\[0, 3\)/);
      assert.deepEqual(Array.from(m.hist), before);
      // Not checked where the gt is ignored.
      m.process(T.from([255, 0]), T.from([7, 0]));
      assert.equal(m.hist[0], 2);
    }
    assert.throws(() => new ConfusionMatrix(3).process([0, 1], [0, 0.5]), /prediction 0.5 at pixel 1/);
    assert.throws(() => new ConfusionMatrix(3).process([0, 1], [0]), /gt has 2 pixels, pred 1/);
    assert.throws(() => new ConfusionMatrix(0), /class count/);
    assert.throws(() => new ConfusionMatrix(3).compute({ classes: [3] }), /class 3 is not in \[0, 3\)/);
    assert.throws(() => new ConfusionMatrix(3).merge(new ConfusionMatrix(4)), /4 classes vs 3/);
  });

  it("serialises through JSON and rejects a malformed matrix", () => {
    const m = new ConfusionMatrix(3).process([0, 1, 2, 2], [0, 2, 2, 1]);
    const back = ConfusionMatrix.fromJSON(JSON.parse(JSON.stringify(m)));
    assert.equal(back.n, 3);
    assert.deepEqual(Array.from(back.hist), Array.from(m.hist));
    assert.throws(() => ConfusionMatrix.fromJSON({ n: 3, hist: [1, 2] }), /2 entries, 3 classes need 9/);
    assert.throws(() => ConfusionMatrix.fromJSON({ n: 2, hist: [1, -1, 0, 0] }), /hist\[1\] = -1/);
  });

  it("writes console, Markdown, CSV and JSON tables with the class names", () => {
    const m = new ConfusionMatrix(3).process([0, 0, 1, 1], [0, 1, 1, 1]); // IoU 0: 1/2, 1: 2/3, 2: NaN
    const names = ["road", "sidewalk", "building"];
    const json = JSON.parse(formatTable(m, { classNames: names, format: "json" }));
    assert.deepEqual(json.perClass, { road: 50, sidewalk: 66.67, building: null });
    assert.equal(json.miou, 58.33);
    assert.equal(json.pixelAccuracy, 75);
    const csv = formatTable(m, { classNames: names, format: "csv" }).split("\n");
    assert.deepEqual(csv.slice(0, 4), ["class,iou,accuracy", "road,50,50", "sidewalk,66.67,100", "building,,"]);
    assert.equal(csv[4], "mIoU,58.33,");
    const md = formatTable(m, { classNames: names, format: "markdown", classes: [0, 1] }).split("\n");
    assert.equal(md[2], "| road | 50.00 | 50.00 |");
    assert.equal(md[4], "| **mIoU** | **58.33** | |");
    const con = formatTable(m, { classNames: names });
    assert.match(con, /^sidewalk\s+66\.67\s+100\.00$/m);
    assert.match(con, /^building\s+-\s+-$/m);
    // Exact output. IoU: road 1/(2+1-1) = 50%, sidewalk 2/(2+3-2) = 66.67%, building NaN; accuracy 1/2, 2/2;
    // mIoU (50 + 66.667)/2 = 58.33; pixel accuracy 3/4; mean class accuracy (50 + 100)/2 = 75.
    const sp = (k: number) => " ".repeat(k);
    assert.equal(
      con,
      [
        `class${sp(19)}IoU${sp(5)}acc`,
        `road${sp(18)}50.00${sp(3)}50.00`,
        `sidewalk${sp(14)}66.67${sp(2)}100.00`,
        `building${sp(18)}-${sp(7)}-`,
        `mIoU${sp(18)}58.33`,
        `pixel accuracy${sp(8)}75.00`,
        `mean class accuracy${sp(3)}75.00`,
      ].join("\n"),
    );
    assert.equal(
      formatTable(m, { classNames: names, format: "markdown" }),
      "| class | IoU | accuracy |\n|---|---:|---:|\n| road | 50.00 | 50.00 |\n| sidewalk | 66.67 | 100.00 |\n| building | - | - |\n" +
        "| **mIoU** | **58.33** | |\n| **pixel accuracy** | **75.00** | |\n| **mean class accuracy** | **75.00** | |",
    );
    assert.equal(csv.join("\n"), "class,iou,accuracy\nroad,50,50\nsidewalk,66.67,100\nbuilding,,\nmIoU,58.33,\npixel accuracy,75,\nmean class accuracy,75,");
    assert.equal(
      formatTable(m, { classNames: names, format: "json" }),
      '{"perClass":{"road":50,"sidewalk":66.67,"building":null},"miou":58.33,"pixelAccuracy":75,"meanClassAccuracy":75,"classes":[0,1,2],"pixels":4}',
    );
    assert.throws(() => formatTable(m, { classNames: names, format: "xml" as never }), /unknown format "xml"/);
  });
});

describeWithData("metrics: real Cityscapes label files", () => {
  // SPEC section 3: label id -> train id; everything else 255.
  const ID_TO_TRAIN: Record<number, number> = { 7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18 };
  const root = join(sharedData, "cityscapes-sample/gtFine/train");
  const frames = readdirSync(root).flatMap((city) =>
    readdirSync(join(root, city))
      .filter((f) => f.endsWith("_gtFine_labelTrainIds.png"))
      .map((f) => join(root, city, f.replace("_labelTrainIds.png", ""))),
  );
  const grey = (file: string) => {
    const png = decode(readFileSync(file));
    assert.ok(png.channels === 1 && png.depth === 8, `${file}: expected 8-bit grey`);
    assert.equal(png.data.length, 2048 * 1024, file);
    return png.data as Uint8Array;
  };

  it("labelTrainIds against itself: 100 IoU on the present classes, NaN elsewhere", () => {
    assert.equal(frames.length, 4);
    const m = new ConfusionMatrix(19);
    const present = new Set<number>();
    for (const f of frames) {
      const t = grey(`${f}_labelTrainIds.png`);
      m.process(t, t);
      for (const v of t) if (v < 19) present.add(v);
    }
    const r = m.compute();
    assert.ok(present.size >= 10, `only ${present.size} classes present`);
    r.iou.forEach((v, c) => (present.has(c) ? assert.equal(v, 1, `class ${c}`) : assert.ok(Number.isNaN(v), `class ${c}`)));
    assert.equal(r.miou, 1);
    assert.equal(r.pixelAccuracy, 1);
  });

  // The shipped labelTrainIds.png differ from labelIds mapped through the SPEC table on a few pixels
  // (the mapping matches gtFine_color.png exactly instead), so they are compared by pixel accuracy only.
  it("labelIds mapped to train ids: diagonal self-matrix of the class counts; > 99% agreement with labelTrainIds", () => {
    const lut = new Uint8Array(256).fill(255);
    for (const [id, train] of Object.entries(ID_TO_TRAIN)) lut[Number(id)] = train;
    for (const f of frames) {
      const ids = grey(`${f}_labelIds.png`).map((v) => lut[v]!);
      const counts = new Array<number>(19).fill(0);
      for (const v of ids) if (v < 19) counts[v]!++;
      const m = new ConfusionMatrix(19).process(ids, ids);
      for (let g = 0; g < 19; g++) for (let p = 0; p < 19; p++) assert.equal(m.hist[g * 19 + p], g === p ? counts[g] : 0, `${f} [${g}, ${p}]`);
      // Shipped labelTrainIds as gt, mapped ids as prediction; a mapped 255 becomes class 19 (always wrong)
      // of a 20-class matrix, since predictions must lie in [0, n). Measured: aachen_000000_000019 0.99596,
      // aachen_000003_000019 0.99762, bochum_000000_000313 0.99672, bochum_000000_000885 0.99580.
      const acc = new ConfusionMatrix(20)
        .process(
          grey(`${f}_labelTrainIds.png`),
          ids.map((v) => Math.min(v, 19)),
        )
        .compute().pixelAccuracy;
      assert.ok(acc > 0.99, `${f}: pixel accuracy ${acc}`);
    }
  });
});
