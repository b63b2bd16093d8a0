// Class spaces: Cityscapes in 19/16/13 classes, SYNTHIA -> CamVid's 11 classes, the config-time check,
// and the SYNTHIA example configs opened through the container and pipeline (no training).
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "fast-png";
import { createContainer, DataPipeline, loadConfigFile, validateConfig, type DatasetConfig, type DatasetMeta } from "@adaptseg/core";
import { CamVidAdapter, CityscapesAdapter, containerModule, SynthiaAdapter } from "@adaptseg/datasets";
import { builtinModules } from "@adaptseg/engine";
import { describeWithData, itWithData, repoRoot, sharedData, tmp } from "./helpers.js";

const PSEUDO = join(sharedData, "cityscapes-pseudo");
const name = (m: DatasetMeta, v: number) => (v === 255 ? "ignore" : m.classes[v]);

/** SYNTHIA id -> class name, SPEC section 3, and the CamVid class each should land in (docs/adding-a-dataset.md). */
const SYNTHIA: [number, string, string][] = [
  [3, "road", "road"],
  [4, "sidewalk", "sidewalk"],
  [2, "building", "building"],
  [21, "wall", "building"],
  [5, "fence", "fence"],
  [7, "pole", "pole"],
  [15, "traffic light", "sign"],
  [9, "traffic sign", "sign"],
  [6, "vegetation", "tree"],
  [1, "sky", "sky"],
  [10, "person", "pedestrian"],
  [17, "rider", "bicyclist"],
  [8, "car", "car"],
  [19, "bus", "car"],
  [12, "motorcycle", "bicyclist"],
  [11, "bicycle", "bicyclist"],
  [0, "ignore", "ignore"],
  [13, "ignore", "ignore"],
  [22, "ignore", "ignore"],
  [300, "ignore", "ignore"],
];

/** A SYNTHIA RAND-CITYSCAPES folder with one frame whose 16-bit label holds `ids` (one per pixel, first channel). */
function synthiaFixture(root: string, ids: number[], width = ids.length, height = 1): void {
  mkdirSync(join(root, "RGB"), { recursive: true });
  mkdirSync(join(root, "GT/LABELS"), { recursive: true });
  const n = width * height,
    lab = new Uint16Array(n * 3),
    rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    lab[3 * i] = ids[i % ids.length]!;
    lab[3 * i + 1] = 1000 + i; // instance channels: must be ignored
    rgb.set([(i * 7) & 255, (i * 13) & 255, (i * 29) & 255], 3 * i);
  }
  writeFileSync(join(root, "GT/LABELS/0000000.png"), encode({ width, height, data: lab, channels: 3, depth: 16 }));
  writeFileSync(join(root, "RGB/0000000.png"), encode({ width, height, data: rgb, channels: 3, depth: 8 }));
}

describe("datasets: class spaces", () => {
  it('synthia classes "camvid11" maps every SYNTHIA class onto CamVid\'s 11 as documented', async () => {
    const root = tmp();
    synthiaFixture(
      root,
      SYNTHIA.map((r) => r[0]),
    );
    const sy = new SynthiaAdapter();
    const [s] = await sy.list({ root });
    const m16 = sy.meta({}),
      mc = sy.meta({ classes: "camvid11" });
    assert.equal(mc.classSpace, new CamVidAdapter().meta({}).classSpace);
    assert.deepEqual(mc.classes, new CamVidAdapter().meta({}).classes);
    const l16 = await sy.readLabel(s!.label!, {}),
      lc = await sy.readLabel(s!.label!, { classes: "camvid11" });
    assert.deepEqual(
      [...l16.data].map((v) => name(m16, v)),
      SYNTHIA.map((r) => r[1]),
    );
    assert.deepEqual(
      [...lc.data].map((v) => name(mc, v)),
      SYNTHIA.map((r) => r[2]),
    );
    // every CamVid class is reachable from SYNTHIA: the common space is CamVid's whole 11
    assert.deepEqual(new Set(lc.data.filter((v) => v !== 255)).size, 11);
    assert.throws(() => sy.meta({ classes: 19 }), /synthia: options\.classes must be one of 16, 13, "camvid11", got 19/);
  });

  itWithData('cityscapes classes 16, 13 and "camvid11" on the real 256x128 frame agree pixel for pixel with the 19-class map', async () => {
    const cs = new CityscapesAdapter();
    const [s] = await cs.list({ root: PSEUDO, split: "val" });
    const l19 = await cs.readLabel(s!.label!, {});
    const m19 = cs.meta({});
    // what each Cityscapes class becomes, written out by hand (SPEC 3/4 and the CamVid table)
    const drop16 = new Set(["terrain", "truck", "train"]),
      drop13 = new Set([...drop16, "wall", "fence", "pole"]);
    const toCamvid: Record<string, string> = {
      road: "road",
      sidewalk: "sidewalk",
      building: "building",
      wall: "building",
      fence: "fence",
      pole: "pole",
      "traffic light": "sign",
      "traffic sign": "sign",
      vegetation: "tree",
      terrain: "ignore",
      sky: "sky",
      person: "pedestrian",
      rider: "bicyclist",
      car: "car",
      truck: "car",
      bus: "car",
      train: "car",
      motorcycle: "bicyclist",
      bicycle: "bicyclist",
      ignore: "ignore",
    };
    const expect = {
      16: (n: string) => (drop16.has(n) ? "ignore" : n),
      13: (n: string) => (drop13.has(n) ? "ignore" : n),
      camvid11: (n: string) => toCamvid[n]!,
    };
    for (const [c, f] of Object.entries(expect)) {
      const o = { classes: c === "camvid11" ? c : Number(c) };
      const m = cs.meta(o),
        l = await cs.readLabel(s!.label!, o);
      assert.equal(m.classSpace, c === "camvid11" ? "camvid11" : `cityscapes${c}`);
      assert.equal(m.classes.length, c === "camvid11" ? 11 : Number(c));
      let changed = 0;
      for (let i = 0; i < l.data.length; i++) {
        const want = f(name(m19, l19.data[i]!));
        assert.equal(name(m, l.data[i]!), want, `${c}: pixel ${i}`);
        if (want !== name(m19, l19.data[i]!)) changed++;
      }
      if (c !== "16") assert.ok(changed > 0, `${c}: the frame has pixels the mapping changes`);
    }
    assert.throws(() => cs.meta({ classes: 11 }), /cityscapes: options\.classes must be one of 19, 16, 13, "camvid11", got 11/);
  });

  itWithData("checkClassSpaces: an incompatible pair names both datasets and their spaces; a declared mapping passes", async () => {
    const c = await createContainer({}, { modules: [containerModule] });
    const p = c.get<DataPipeline>(DataPipeline);
    const root = tmp();
    synthiaFixture(join(root, "synthia"), [3, 4]);
    const open = (cfg: Partial<DatasetConfig>) => p.open({ split: "train", ...cfg } as DatasetConfig, { dataRoot: root });
    const camvid = await open({ type: "camvid", root: join(sharedData, "camvid/CamVid"), limit: 1 });
    const sy16 = await open({ type: "synthia" });
    const syCv = await open({ type: "synthia", options: { classes: "camvid11" } });
    const cs19 = await open({ type: "cityscapes", root: PSEUDO, split: "val" });
    const cs16 = await open({ type: "cityscapes", root: PSEUDO, split: "val", options: { classes: 16 } });
    assert.throws(
      () => p.checkClassSpaces(sy16.meta, camvid.meta),
      (e: Error) =>
        e.message.includes(`"synthia" is in class space "cityscapes16" (16 classes)`) && e.message.includes(`"camvid" is in class space "camvid11" (11 classes)`) && e.message.includes(`"camvid11"`),
    );
    assert.throws(
      () => p.checkClassSpaces(sy16.meta, cs19.meta),
      (e: Error) => e.message.includes(`"synthia" is in class space "cityscapes16"`) && e.message.includes(`"cityscapes" is in class space "cityscapes19"`),
    );
    p.checkClassSpaces(syCv.meta, camvid.meta);
    p.checkClassSpaces(sy16.meta, cs16.meta);
    await assert.rejects(open({ type: "synthia", options: { classes: 19 } }), /synthia: options\.classes/);
  });
});

describeWithData("datasets: the SYNTHIA example configs resolve (validated, opened through the container, class spaces agree)", () => {
  let dataRoot: string;
  before(() => {
    // A data root in the examples' layout: a SYNTHIA fixture, the shared Cityscapes frames (train: the
    // four full-size frames, val: the 256x128 frame) and the shared CamVid (its val frames stand in for test).
    dataRoot = tmp();
    synthiaFixture(
      join(dataRoot, "synthia"),
      SYNTHIA.map((r) => r[0]),
      40,
      24,
    );
    for (const [split, from] of [
      ["train", "cityscapes-sample"],
      ["val", "cityscapes-pseudo"],
    ])
      for (const d of ["leftImg8bit", "gtFine"]) {
        mkdirSync(join(dataRoot, "cityscapes", d), { recursive: true });
        symlinkSync(join(sharedData, from!, d, split!), join(dataRoot, "cityscapes", d, split!), "dir");
      }
    const cv = join(dataRoot, "camvid/CamVid"),
      shared = join(sharedData, "camvid/CamVid");
    mkdirSync(cv, { recursive: true });
    for (const d of ["train", "trainannot", "val", "valannot"]) symlinkSync(join(shared, d), join(cv, d), "dir");
    copyFileSync(join(shared, "train.txt"), join(cv, "train.txt"));
    symlinkSync(join(shared, "val"), join(cv, "test"), "dir");
    symlinkSync(join(shared, "valannot"), join(cv, "testannot"), "dir");
    writeFileSync(join(cv, "test.txt"), readFileSync(join(shared, "val.txt"), "utf8").replace(/\/val(annot)?\//g, "/test$1/"));
  });

  for (const [file, space, n] of [
    ["synthia2cityscapes-16.json", "cityscapes16", 16],
    ["synthia2cityscapes-13.json", "cityscapes13", 13],
    ["synthia2camvid.json", "camvid11", 11],
  ] as const) {
    it(`${file}: every dataset opens in "${space}" and yields labels in 0..${n - 1} or 255`, async () => {
      const path = join(repoRoot, "examples", file);
      const config = validateConfig(loadConfigFile(path).config, path);
      const c = await createContainer(config, { baseDir: join(repoRoot, "examples"), modules: builtinModules() });
      const p = c.get<DataPipeline>(DataPipeline);
      const ctx = { dataRoot, baseDir: join(repoRoot, "examples") };
      const source = await p.open(config.source, ctx),
        target = await p.open(config.target, ctx);
      const evalSet = await p.open(config.evaluation!.dataset!, ctx);
      // what buildExperiment does before the network is made
      p.checkClassSpaces(source.meta, target.meta);
      p.checkClassSpaces(source.meta, evalSet.meta);
      for (const ds of [source, target, evalSet]) assert.equal(ds.meta.classSpace, space);
      assert.equal(source.meta.classes.length, n);
      for (const [ds, cfg] of [
        [source, config.source],
        [evalSet, config.evaluation!.dataset!],
      ] as const) {
        const l = p.loader(ds, { ...cfg, size: { width: 64, height: 32 } }, { batchSize: 1, seed: 1, labels: true, shuffle: false, prefetch: 0 });
        const b = await l.next();
        l.close();
        const seen = new Set(b.labels);
        assert.ok(
          [...seen].every((v) => v < n || v === 255),
          `${ds.adapter.name}: labels ${[...seen]}`,
        );
        assert.ok(seen.size >= 3, `${ds.adapter.name}: several classes`);
      }
      // without the declared mapping (on the Cityscapes target / the SYNTHIA source) it is rejected, naming both sides
      if (space === "camvid11") {
        const plain = await p.open({ ...config.source, options: {} }, ctx);
        assert.throws(
          () => p.checkClassSpaces(plain.meta, target.meta),
          (e: Error) => e.message.includes(`"synthia" is in class space "cityscapes16"`) && e.message.includes(`"camvid" is in class space "camvid11"`),
        );
      } else {
        const plain = await p.open({ ...config.target, options: {} }, ctx);
        assert.throws(
          () => p.checkClassSpaces(source.meta, plain.meta),
          (e: Error) => e.message.includes(`"synthia" (options.classes ${n}) is in class space "${space}"`) && e.message.includes(`"cityscapes" is in class space "cityscapes19"`),
        );
      }
    });
  }
});
