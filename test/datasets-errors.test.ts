// Bad input names the file (issue #4). Where each case is tested:
//   corrupt PNG ............ here (image and label), datasets.test.ts (Cityscapes label)
//   truncated PNG/JPEG ..... here (PNG label, JPEG image, JPEG through the loader), datasets.test.ts and pipeline.test.ts (PNG image)
//   image/label sizes ...... pipeline.test.ts
//   label outside the map .. datasets.test.ts (CamVid 12), here (Cityscapes id 34 through the loader)
//   listed file missing .... datasets-lists.test.ts (Cityscapes, GTA5 lists; fail and counted skips)
//   empty dataset .......... pipeline.test.ts (empty selection), datasets-lists.test.ts (empty list), here (empty folders)
//   wrong label encoding ... datasets.test.ts (RGB for GTA5 palette, 8-bit for SYNTHIA 16-bit), here (grey for palette,
//                            RGB for Cityscapes grey, 16-bit for CamVid, JPEG label)
//   skip-and-warn counts ... pipeline.test.ts (truncated PNG), datasets-lists.test.ts (missing files), here (JPEG)
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "fast-png";
import { createContainer, DataPipeline, type DatasetConfig } from "@adaptseg/core";
import { CamVidAdapter, CityscapesAdapter, containerModule, Gta5Adapter, ImageFolderAdapter, loadImage, sharp, SynthiaAdapter } from "@adaptseg/datasets";
import { itWithData, sharedData, tmp } from "./helpers.js";

const CAMVID = join(sharedData, "camvid/CamVid");
const FRAME = join(CAMVID, "val/0016E5_07959.png");
const LABEL = join(CAMVID, "valannot/0016E5_07959.png");
const grey = (w: number, h: number, v: number[]) => encode({ width: w, height: h, data: new Uint8Array(w * h).map((_, i) => v[i % v.length]!), channels: 1, depth: 8 });

describe("datasets: bad input names the file", () => {
  itWithData("corrupt PNG image and label", async () => {
    const dir = tmp();
    const f = join(dir, "corrupt.png");
    const bytes = readFileSync(FRAME);
    writeFileSync(f, Buffer.concat([bytes.subarray(0, 100), Buffer.alloc(5000, 0x55), bytes.subarray(5100)])); // header fine, data garbage
    await assert.rejects(loadImage(f), (e: Error) => e.message.startsWith(f));
    const l = join(dir, "corrupt-label.png");
    const lb = readFileSync(LABEL);
    writeFileSync(l, Buffer.concat([lb.subarray(0, 60), Buffer.alloc(lb.length - 60, 0x55)]));
    await assert.rejects(new CamVidAdapter().readLabel(l), (e: Error) => e.message.startsWith(l));
  });

  itWithData("truncated PNG label; truncated JPEG image", async () => {
    const dir = tmp();
    const l = join(dir, "trunc-label.png");
    const lb = readFileSync(LABEL);
    writeFileSync(l, lb.subarray(0, lb.length >> 1));
    await assert.rejects(new CamVidAdapter().readLabel(l), (e: Error) => e.message.startsWith(l));
    const j = join(dir, "trunc.jpg");
    const jpeg = await sharp(FRAME).jpeg({ quality: 90 }).toBuffer();
    writeFileSync(join(dir, "whole.jpg"), jpeg);
    assert.equal((await loadImage(join(dir, "whole.jpg"))).width, 480);
    writeFileSync(j, jpeg.subarray(0, jpeg.length >> 1));
    await assert.rejects(loadImage(j), (e: Error) => e.message.startsWith(j));
  });

  it("wrong label encodings: grey where a palette is expected, RGB where grey ids are, 16-bit for CamVid, a JPEG label", async () => {
    const dir = tmp();
    const g = join(dir, "grey.png");
    writeFileSync(g, grey(4, 2, [7, 8]));
    await assert.rejects(new Gta5Adapter().readLabel(g), (e: Error) => e.message.startsWith(g) && /palette/.test(e.message));
    const rgb = join(dir, "rgb.png");
    writeFileSync(rgb, encode({ width: 4, height: 2, data: new Uint8Array(24).fill(7), channels: 3, depth: 8 }));
    await assert.rejects(new CityscapesAdapter().readLabel(rgb), (e: Error) => e.message.startsWith(rgb) && /single-channel.*got 3 channel/.test(e.message));
    const deep = join(dir, "deep.png");
    writeFileSync(deep, encode({ width: 4, height: 2, data: new Uint16Array(8).fill(3), channels: 1, depth: 16 }));
    await assert.rejects(new CamVidAdapter().readLabel(deep), (e: Error) => e.message.startsWith(deep) && /8-bit.*16 bits/.test(e.message));
    const jl = join(dir, "label.png");
    writeFileSync(
      jl,
      await sharp(grey(4, 2, [3]), {})
        .jpeg()
        .toBuffer(),
    );
    await assert.rejects(new CamVidAdapter().readLabel(jl), (e: Error) => e.message.startsWith(jl) && /PNG/.test(e.message));
  });

  it("empty dataset folders", async () => {
    const root = tmp();
    mkdirSync(join(root, "images"));
    mkdirSync(join(root, "RGB"));
    mkdirSync(join(root, "leftImg8bit/val"), { recursive: true });
    await assert.rejects(new Gta5Adapter().list({ root }), (e: Error) => e.message.includes(join(root, "images")));
    await assert.rejects(new SynthiaAdapter().list({ root }), (e: Error) => e.message.includes(join(root, "RGB")));
    await assert.rejects(new CityscapesAdapter().list({ root, split: "val" }), (e: Error) => e.message.includes(join(root, "leftImg8bit/val")));
    await assert.rejects(new ImageFolderAdapter().list({ root }), (e: Error) => e.message.includes(root));
  });

  describe("through the loader", () => {
    let p: DataPipeline;
    before(async () => {
      const c = await createContainer({}, { modules: [containerModule] });
      p = c.get<DataPipeline>(DataPipeline);
    });

    it("a Cityscapes label id outside 0..33 fails naming the label, or is a counted skip", async () => {
      const root = tmp();
      for (const [city, ids] of [
        ["a", [7, 26]],
        ["b", [7, 34]],
      ] as const) {
        mkdirSync(join(root, "leftImg8bit/val", city), { recursive: true });
        mkdirSync(join(root, "gtFine/val", city), { recursive: true });
        writeFileSync(join(root, "leftImg8bit/val", city, `${city}_0_0_leftImg8bit.png`), encode({ width: 32, height: 16, data: new Uint8Array(32 * 16 * 3).fill(90), channels: 3, depth: 8 }));
        writeFileSync(join(root, "gtFine/val", city, `${city}_0_0_gtFine_labelIds.png`), grey(32, 16, [...ids]));
      }
      const cfg = { type: "cityscapes", root, split: "val", size: { width: 32, height: 16 } } as DatasetConfig;
      const ds = await p.open(cfg, {});
      const bad = join(root, "gtFine/val/b/b_0_0_gtFine_labelIds.png");
      const f = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, shuffle: false });
      await assert.rejects(f.next(), (e: Error) => e.message.startsWith(bad) && /value 34/.test(e.message));
      f.close();
      const warns: string[] = [];
      const l = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, shuffle: false, prefetch: 0, onError: "skip", onWarn: (m) => warns.push(m) });
      const b = await l.next();
      l.close();
      assert.deepEqual(b.ids, ["a_0_0", "a_0_0"]);
      assert.deepEqual([...new Set(b.labels)].sort(), [0, 13]);
      assert.equal(l.skipped, 1);
      assert.ok(warns[0]!.includes(bad), warns[0]);
    });

    itWithData("a truncated JPEG frame in an image-folder target is a counted skip", async () => {
      const root = tmp();
      const jpeg = await sharp(FRAME).jpeg().toBuffer();
      writeFileSync(join(root, "a.jpg"), jpeg);
      writeFileSync(join(root, "b.jpg"), jpeg.subarray(0, jpeg.length >> 1));
      copyFileSync(FRAME, join(root, "c.png"));
      const cfg = { type: "image-folder", root, size: { width: 48, height: 36 } } as DatasetConfig;
      const ds = await p.open(cfg, {});
      const warns: string[] = [];
      const l = p.loader(ds, cfg, { batchSize: 2, seed: 1, shuffle: false, prefetch: 0, onError: "skip", onWarn: (m) => warns.push(m) });
      const b = await l.next();
      l.close();
      assert.deepEqual(b.ids, ["a", "c"]);
      assert.equal(l.skipped, 1);
      assert.ok(warns[0]!.includes(join(root, "b.jpg")), warns[0]);
    });
  });
});
