// The official list files in ../shared/data/lists (without the 25k images): counts, the name -> path
// mapping of each adapter, and a listed file that does not exist (error naming it, or counted skips).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "fast-png";
import { createContainer, DataPipeline, type DatasetConfig } from "@adaptseg/core";
import { CamVidAdapter, CITYSCAPES_ID_LUT, CITYSCAPES_PALETTE, CityscapesAdapter, containerModule, Gta5Adapter, SynthiaAdapter } from "@adaptseg/datasets";
import { describeWithData, sharedData, tmp } from "./helpers.js";

const LISTS = join(sharedData, "lists");
const CS_LISTS = join(LISTS, "advent/dataset/cityscapes_list");
const GTA5_LIST = join(LISTS, "advent/dataset/gta5_list/all.txt");
const SYNTHIA_LIST = join(LISTS, "bdl/dataset/synthia_list/train.txt");
const lines = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean);

/** A tiny labelled frame in the GTA5 encoding (palette PNG of label ids) at `root/images|labels/<name>`. */
function gta5Frame(root: string, name: string): void {
  mkdirSync(join(root, "images"), { recursive: true });
  mkdirSync(join(root, "labels"), { recursive: true });
  const palette = Array.from({ length: 34 }, (_, k) => [k, 255 - k, 7] as [number, number, number]);
  writeFileSync(join(root, "labels", name), encode({ width: 8, height: 8, data: new Uint8Array(64).map((_, i) => [7, 8, 26][i % 3]!), channels: 1, depth: 8, palette }));
  writeFileSync(join(root, "images", name), encode({ width: 8, height: 8, data: new Uint8Array(192).fill(80), channels: 3, depth: 8 }));
}

describeWithData("datasets: official list files", () => {
  let p: DataPipeline;
  before(async () => {
    const c = await createContainer({}, { modules: [containerModule] });
    p = c.get<DataPipeline>(DataPipeline);
  });

  it("cityscapes info.json: our label id -> train id map and palette are the official ones", () => {
    const info = JSON.parse(readFileSync(join(CS_LISTS, "info.json"), "utf8")) as { classes: number; label2train: [number, number][]; label: string[]; palette: number[][] };
    assert.equal(info.classes, 19);
    let mapped = 0;
    for (const [id, train] of info.label2train) {
      if (id < 0) continue; // license plate: not a value of the 8-bit labelIds PNG
      assert.equal(CITYSCAPES_ID_LUT[id], train, `label id ${id}`);
      if (train !== 255) mapped++;
    }
    assert.equal(mapped, 19);
    assert.deepEqual(info.palette.slice(0, 19), CITYSCAPES_PALETTE);
    assert.equal(new CityscapesAdapter().meta({}).classes.length, info.label.length);
  });

  it("cityscapes val.txt: 500 frames; image and label paths under the split folder; label.txt gives the same pairs", async () => {
    const cs = new CityscapesAdapter();
    const root = "/data/cityscapes";
    const val = await cs.list({ root, split: "val", list: join(CS_LISTS, "val.txt") });
    assert.equal(val.length, 500);
    assert.deepEqual(val[0], {
      id: "frankfurt_000001_007973",
      image: "/data/cityscapes/leftImg8bit/val/frankfurt/frankfurt_000001_007973_leftImg8bit.png",
      label: "/data/cityscapes/gtFine/val/frankfurt/frankfurt_000001_007973_gtFine_labelIds.png",
    });
    assert.deepEqual(new Set(val.map((s) => s.id.split("_")[0])), new Set(["frankfurt", "lindau", "munster"]));
    const byLabels = await cs.list({ root, split: "val", list: join(CS_LISTS, "label.txt") });
    assert.deepEqual(byLabels, val);
    const train = await cs.list({ root, split: "train", list: join(CS_LISTS, "train.txt"), cities: ["aachen"] });
    assert.equal((await cs.list({ root, split: "train", list: join(CS_LISTS, "train.txt") })).length, 2975);
    assert.equal(train.length, 174); // aachen's frame count in the official train split
    assert.equal(train[0]!.label, "/data/cityscapes/gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png");
    const bad = join(tmp(), "bad.txt");
    writeFileSync(bad, "frankfurt/frankfurt_000001_007973_leftImg8bit.png\nfrankfurt/oops.jpg\n");
    await assert.rejects(cs.list({ root, split: "val", list: bad }), (e: Error) => e.message.includes(bad) && e.message.includes("frankfurt/oops.jpg"));
  });

  it("cityscapes val.txt against the 256x128 frame: only its one file exists; fail names a missing file, skip counts 499", async () => {
    const cfg = { type: "cityscapes", root: "cityscapes-pseudo", split: "val", list: "lists/advent/dataset/cityscapes_list/val.txt", size: { width: 64, height: 32 } } as DatasetConfig;
    const ds = await p.open(cfg, { dataRoot: sharedData }); // the list resolves against the data root like root does
    assert.equal(ds.options.list, join(CS_LISTS, "val.txt"));
    assert.equal(ds.samples.length, 500);
    assert.throws(
      () => p.loader(ds, cfg, { batchSize: 1, seed: 1, labels: true }),
      (e: Error) =>
        e.message.startsWith(join(sharedData, "cityscapes-pseudo/leftImg8bit/val/frankfurt/frankfurt_000001_007973_leftImg8bit.png")) &&
        e.message.includes("does not exist") &&
        e.message.includes(join(CS_LISTS, "val.txt")) &&
        e.message.includes("499 of 500"),
    );
    const warns: string[] = [];
    const l = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, onError: "skip", onWarn: (m) => warns.push(m) });
    assert.equal(l.skipped, 499);
    assert.equal(l.size, 1);
    assert.equal(warns.length, 1);
    assert.match(warns[0]!, /skipped 499 samples whose files do not exist/);
    const b = await l.next();
    l.close();
    assert.deepEqual(b.ids, ["frankfurt_000000_000294", "frankfurt_000000_000294"]);
    assert.ok(b.labels!.some((v) => v === 0) && b.labels!.some((v) => v === 13), "road and car in the frame");
    await assert.rejects(p.open({ ...cfg, list: "lists/nope.txt" }, { dataRoot: sharedData }), (e: Error) => e.message.includes(join(sharedData, "lists/nope.txt")));
  });

  it("gta5 all.txt: 24,966 names -> images/ and labels/; fixtures for two of them: the loader names the first missing file or skips 24,964", async () => {
    const names = lines(GTA5_LIST);
    assert.equal(names.length, 24966);
    const root = tmp();
    const g = new Gta5Adapter();
    const all = await g.list({ root, list: GTA5_LIST });
    assert.equal(all.length, 24966);
    assert.deepEqual(all[24965], { id: "24966", image: join(root, "images/24966.png"), label: join(root, "labels/24966.png") });
    gta5Frame(root, names[0]!);
    gta5Frame(root, names[24965]!);
    const cfg = { type: "gta5", root, list: GTA5_LIST } as DatasetConfig;
    const ds = await p.open(cfg, {});
    assert.throws(
      () => p.loader(ds, cfg, { batchSize: 1, seed: 1, labels: true }),
      (e: Error) => e.message.startsWith(join(root, "images/00002.png")) && /24964 of 24966/.test(e.message),
    );
    const warns: string[] = [];
    const l = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, shuffle: false, onError: "skip", onWarn: (m) => warns.push(m) });
    assert.equal(l.skipped, 24964);
    assert.equal(warns.length, 1);
    const b = await l.next();
    l.close();
    assert.deepEqual(b.ids, ["00001", "24966"]);
    assert.deepEqual([...b.labels!.subarray(0, 3)], [0, 1, 13]); // ids 7, 8, 26 -> road, sidewalk, car
    // a listed label (not the image) missing is named too
    const noLabel = tmp();
    gta5Frame(noLabel, "00001.png");
    writeFileSync(join(noLabel, "list.txt"), "00001.png\n");
    rmSync(join(noLabel, "labels/00001.png"));
    const ds2 = await p.open({ type: "gta5", root: noLabel, list: join(noLabel, "list.txt") } as DatasetConfig, {});
    assert.throws(
      () => p.loader(ds2, cfg, { batchSize: 1, seed: 1, labels: true }),
      (e: Error) => e.message.startsWith(join(noLabel, "labels/00001.png")),
    );
    // an unlabelled (target) use does not need the label
    p.loader(ds2, cfg, { batchSize: 1, seed: 1, labels: false }).close();
  });

  it('synthia train.txt: 9,400 names "RGB/0000000.png" -> RGB/ and GT/LABELS/ (the RGB/ prefix is not doubled)', async () => {
    assert.equal(lines(SYNTHIA_LIST).length, 9400);
    const s = await new SynthiaAdapter().list({ root: "/data/synthia", list: SYNTHIA_LIST });
    assert.equal(s.length, 9400);
    assert.deepEqual(s[0], { id: "0000000", image: "/data/synthia/RGB/0000000.png", label: "/data/synthia/GT/LABELS/0000000.png" });
    assert.equal(s[9399]!.image, "/data/synthia/RGB/0009399.png");
  });

  it("camvid options.list replaces <split>.txt; an empty list file is an error naming it", async () => {
    const root = join(sharedData, "camvid/CamVid");
    const f = join(tmp(), "two.txt");
    writeFileSync(f, lines(join(root, "val.txt")).slice(3, 5).join("\n") + "\n");
    const s = await new CamVidAdapter().list({ root, split: "train", list: f });
    assert.deepEqual(
      s.map((x) => x.image),
      lines(join(root, "val.txt"))
        .slice(3, 5)
        .map((l) => join(root, "val", l.split(" ")[0]!.split("/").pop()!)),
    );
    const empty = join(tmp(), "empty.txt");
    writeFileSync(empty, "\n\n");
    await assert.rejects(new CamVidAdapter().list({ root, list: empty }), (e: Error) => e.message.includes(empty) && /empty/.test(e.message));
    await assert.rejects(new Gta5Adapter().list({ root, list: empty }), (e: Error) => e.message.includes(empty) && /empty/.test(e.message));
  });
});
