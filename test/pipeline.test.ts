// The data pipeline (@adaptseg/datasets Pipeline behind core's DataPipeline) on the real CamVid frames.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createContainer, DataPipeline, type Batch, type DatasetConfig, type Loader, type OpenedDataset } from "@adaptseg/core";
import { containerModule, ensureCamVid, resolveDataRoot, sharp } from "@adaptseg/datasets";
import { describeWithData, itWithData, sharedData, tmp } from "./helpers.js";

const CAMVID = join(sharedData, "camvid/CamVid");
const SIZE = { width: 96, height: 72 };
const cfgOf = (extra: Partial<DatasetConfig> = {}): DatasetConfig =>
  ({ type: "camvid", root: "camvid/CamVid", split: "train", size: SIZE, options: { sequences: ["0001TP"] }, ...extra }) as DatasetConfig;

const sum = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};
const digest = (b: Batch) => ({ ids: b.ids, img: sum(b.images), lab: b.labels ? sum(b.labels) : -1 });
async function take(l: Loader, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(digest(await l.next()));
  return out;
}

/** A CamVid-layout copy of the first `n` train frames of the shared data (list in SegNet form). */
function camvidCopy(n: number): { root: string; dir: string; ids: string[] } {
  const root = tmp();
  const dir = join(root, "camvid", "CamVid");
  mkdirSync(join(dir, "train"), { recursive: true });
  mkdirSync(join(dir, "trainannot"), { recursive: true });
  const lines = readFileSync(join(CAMVID, "train.txt"), "utf8").split("\n").filter(Boolean).slice(0, n);
  const ids = lines.map((l) => l.split(" ")[0]!.split("/").pop()!.replace(".png", ""));
  for (const id of ids) for (const d of ["train", "trainannot"]) copyFileSync(join(CAMVID, d, `${id}.png`), join(dir, d, `${id}.png`));
  writeFileSync(join(dir, "train.txt"), lines.join("\n") + "\n");
  return { root, dir, ids };
}

describe("datasets: pipeline", () => {
  let p: DataPipeline;
  before(async () => {
    const c = await createContainer({}, { modules: [containerModule] });
    p = c.get<DataPipeline>(DataPipeline);
  });
  const open = (extra: Partial<DatasetConfig> = {}, dataRoot = sharedData) => p.open(cfgOf(extra), { dataRoot });

  describeWithData("open", () => {
    it("counts the samples (0001TP: 62, limit 5)", async () => {
      assert.equal((await open()).samples.length, 62);
      const ds = await open({ limit: 5 });
      assert.equal(ds.samples.length, 5);
      assert.equal(ds.meta.classSpace, "camvid11");
      assert.equal(ds.options.root, CAMVID);
    });
    it("unknown type lists the known names", async () => {
      await assert.rejects(open({ type: "nope" }), (e: Error) => /"nope" is unknown/.test(e.message) && /camvid/.test(e.message) && /cityscapes/.test(e.message));
    });
    it("missing root names both paths tried", async () => {
      const base = tmp();
      await assert.rejects(
        p.open(cfgOf({ root: "no/such" }), { dataRoot: sharedData, baseDir: base }),
        (e: Error) => e.message.includes(join(sharedData, "no/such")) && e.message.includes(join(base, "no/such")),
      );
    });
    it("an empty selection is a clear error naming the list", async () => {
      await assert.rejects(open({ options: { sequences: ["0001TP"], fraction: [0.999, 1] } }), /no samples in .*train\.txt/);
    });
  });

  describeWithData("loader", () => {
    let small: OpenedDataset;
    before(async () => {
      small = await open({ limit: 3 });
    });

    it("same seed gives the identical batch sequence over several epochs; another seed another order", async () => {
      const run = async (seed: number, ds = small) => {
        const l = p.loader(ds, cfgOf(), { batchSize: 2, seed, labels: true });
        const r = await take(l, 5); // 10 samples: > 3 epochs of 3
        l.close();
        return r;
      };
      const a = await run(7);
      assert.deepEqual(await run(7), a);
      // every epoch is a permutation of the 3 samples
      const ids = a.flatMap((d) => d.ids);
      for (let e = 0; e < 3; e++) assert.deepEqual([...ids.slice(3 * e, 3 * e + 3)].sort(), small.samples.map((s) => s.id).sort());
      const six = await open({ limit: 6 });
      const order = async (seed: number) => (await run(seed, six)).flatMap((d) => d.ids).join();
      assert.notEqual(await order(1), await order(2));
    });

    it("batchSize 2 gives [2,72,96,3] BGR-mean images and labels in 0..10 or 255; shuffle false keeps list order", async () => {
      const l = p.loader(small, cfgOf(), { batchSize: 2, seed: 1, labels: true, shuffle: false });
      const b = await l.next();
      l.close();
      assert.equal(b.batchSize, 2);
      assert.deepEqual([b.width, b.height], [96, 72]);
      assert.equal(b.images.length, 2 * 72 * 96 * 3);
      assert.equal(b.labels!.length, 2 * 72 * 96);
      assert.deepEqual(
        b.ids,
        small.samples.slice(0, 2).map((s) => s.id),
      );
      assert.ok(b.labels!.every((v) => v <= 10 || v === 255));
      assert.ok(new Set(b.labels).size >= 4, "a street scene has several classes");
      // the same frame via readImage (same resize path)
      const ref = await p.readImage(small.samples[0]!.image, SIZE);
      assert.deepEqual(b.images.subarray(0, ref.input.length), ref.input);
      assert.equal(l.size, 3);
    });

    it("augment.mirror flips image and label left-right", async () => {
      const one = await open({ limit: 1 });
      const plain = await p.loader(one, cfgOf(), { batchSize: 1, seed: 3, labels: true }).next();
      const l = p.loader(one, cfgOf({ augment: { mirror: true } }), { batchSize: 1, seed: 3, labels: true });
      let same = 0,
        flipped = 0;
      const W = 96,
        H = 72;
      for (let i = 0; i < 12; i++) {
        const b = await l.next();
        if (b.images.every((v, k) => v === plain.images[k])) {
          assert.deepEqual(b.labels, plain.labels);
          same++;
          continue;
        }
        for (let y = 0; y < H; y += 7)
          for (let x = 0; x < W; x += 5) {
            for (let c = 0; c < 3; c++) assert.equal(b.images[(y * W + x) * 3 + c], plain.images[(y * W + W - 1 - x) * 3 + c]);
            assert.equal(b.labels![y * W + x], plain.labels![y * W + W - 1 - x]);
          }
        flipped++;
      }
      l.close();
      assert.ok(same > 0 && flipped > 0, `same ${same}, flipped ${flipped}`);
    });

    it("augment.crop gives the crop size, a window of the uncropped image and label", async () => {
      const one = await open({ limit: 1 });
      const plain = await p.loader(one, cfgOf(), { batchSize: 1, seed: 3, labels: true }).next();
      const l = p.loader(one, cfgOf({ augment: { crop: { width: 40, height: 30 } } }), { batchSize: 2, seed: 3, labels: true });
      const b = await l.next();
      l.close();
      assert.deepEqual([b.width, b.height, b.images.length, b.labels!.length], [40, 30, 2 * 40 * 30 * 3, 2 * 40 * 30]);
      const W = 96;
      const at = (x0: number, y0: number) => {
        for (let y = 0; y < 30; y++)
          for (let x = 0; x < 40; x++) {
            if (b.labels![y * 40 + x] !== plain.labels![(y0 + y) * W + x0 + x]) return false;
            for (let c = 0; c < 3; c++) if (b.images[(y * 40 + x) * 3 + c] !== plain.images[((y0 + y) * W + x0 + x) * 3 + c]) return false;
          }
        return true;
      };
      let found = 0;
      for (let y0 = 0; y0 <= 72 - 30; y0++) for (let x0 = 0; x0 <= 96 - 40; x0++) if (at(x0, y0)) found++;
      assert.ok(found >= 1, "the crop is a window of the image");
      await assert.rejects(p.loader(one, cfgOf({ augment: { crop: { width: 200, height: 30 } } }), { batchSize: 1, seed: 1 }).next(), /crop 200x30 is larger/);
    });

    it("state()/restore(): a new loader restored from the state yields the same next batches", async () => {
      const ds = await open({ limit: 5 });
      const cfg = cfgOf({ augment: { mirror: true } });
      const opts = { batchSize: 2, seed: 11, labels: true };
      const a = p.loader(ds, cfg, opts);
      await take(a, 3);
      const st = JSON.parse(JSON.stringify(a.state()));
      const rest = await take(a, 4); // crosses epochs (5 samples each)
      a.close();
      const b = p.loader(ds, cfg, opts);
      b.restore(st);
      assert.deepEqual(await take(b, 4), rest);
      // restoring the same loader (batches already prefetched ahead) rewinds it too
      b.restore(st);
      assert.deepEqual(await take(b, 4), rest);
      assert.deepEqual(b.state(), { batches: 7 });
      b.close();
    });
  });

  describeWithData("bad input", () => {
    it('onError "skip" counts and warns about a truncated PNG; "fail" throws naming it', async () => {
      const { root, dir, ids } = camvidCopy(3);
      const bad = join(dir, "train", `${ids[1]}.png`);
      const bytes = readFileSync(bad);
      writeFileSync(bad, bytes.subarray(0, bytes.length >> 1));
      const cfg = cfgOf({ options: {} });
      const ds = await p.open(cfg, { dataRoot: root });
      const warns: string[] = [];
      const l = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, shuffle: false, prefetch: 0, onError: "skip", onWarn: (m) => warns.push(m) });
      const b = await l.next();
      l.close();
      assert.deepEqual(b.ids, [ids[0], ids[2]]);
      assert.equal(l.skipped, 1);
      assert.equal(warns.length, 1);
      assert.ok(warns[0]!.includes(bad), warns[0]);
      const f = p.loader(ds, cfg, { batchSize: 2, seed: 1, labels: true, shuffle: false });
      await assert.rejects(f.next(), (e: Error) => e.message.includes(bad));
      f.close();
    });

    it("a label of another size than its image is an error naming the label file", async () => {
      const { root, dir, ids } = camvidCopy(1);
      const lab = join(dir, "trainannot", `${ids[0]}.png`);
      const small = await sharp(readFileSync(lab)).resize(240, 180, { kernel: "nearest" }).toColourspace("b-w").png().toBuffer();
      writeFileSync(lab, small);
      const cfg = cfgOf({ options: {} });
      const ds = await p.open(cfg, { dataRoot: root });
      await assert.rejects(p.loader(ds, cfg, { batchSize: 1, seed: 1, labels: true }).next(), (e: Error) => e.message.startsWith(lab) && /240x180/.test(e.message));
    });
  });

  itWithData("checkClassSpaces: camvid vs cityscapes throws naming both spaces; camvid vs camvid passes", async () => {
    const cv = (await open({ limit: 1 })).meta;
    const cs = (await p.open({ type: "cityscapes", root: "cityscapes-sample", split: "train", limit: 1 } as DatasetConfig, { dataRoot: sharedData })).meta;
    assert.throws(
      () => p.checkClassSpaces(cv, cs),
      (e: Error) => e.message.includes(`"${cv.classSpace}"`) && e.message.includes(`"${cs.classSpace}"`),
    );
    assert.notEqual(cv.classSpace, cs.classSpace);
    p.checkClassSpaces(cv, cv);
  });

  itWithData("readImage: network input at the requested size, rgb at the original 480x360", async () => {
    const f = join(CAMVID, "val", readFileSync(join(CAMVID, "val.txt"), "utf8").split(" ")[0]!.split("/").pop()!);
    const im = await p.readImage(f, SIZE);
    assert.deepEqual([im.width, im.height, im.input.length], [96, 72, 96 * 72 * 3]);
    assert.deepEqual([im.origWidth, im.origHeight, im.rgb.length], [480, 360, 480 * 360 * 3]);
    const px = await sharp(f).removeAlpha().raw().toBuffer();
    assert.deepEqual(Buffer.from(im.rgb), px);
    const full = await p.readImage(f);
    assert.equal(full.input.length, 480 * 360 * 3);
    await assert.rejects(p.readImage(join(CAMVID, "nope.png")), /nope\.png/);
  });

  describeWithData("data root", () => {
    let server: Server;
    let base: string;
    let src: ReturnType<typeof camvidCopy>;
    before(async () => {
      src = camvidCopy(2);
      server = createServer((req, res) => {
        const rel = decodeURIComponent(req.url!).replace(/^\/CamVid\//, "");
        const file = join(src.dir, rel);
        if (!req.url!.startsWith("/CamVid/") || rel.includes("..") || !existsSync(file)) {
          res.writeHead(404).end("not found");
          return;
        }
        res.writeHead(200).end(readFileSync(file));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/CamVid`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it("ensureCamVid downloads lists, frames and labels into the data root; then open() reads them", async () => {
      const root = tmp();
      const logs: string[] = [];
      const dir = await ensureCamVid(root, { baseUrl: base, splits: ["train"], log: (m) => logs.push(m) });
      assert.equal(dir, join(root, "camvid", "CamVid"));
      for (const id of src.ids) for (const d of ["train", "trainannot"]) assert.deepEqual(readFileSync(join(dir, d, `${id}.png`)), readFileSync(join(CAMVID, d, `${id}.png`)));
      assert.equal(readFileSync(join(dir, "train.txt"), "utf8"), readFileSync(join(src.dir, "train.txt"), "utf8"));
      assert.equal(logs.length, 1);
      const ds = await p.open(cfgOf({ options: {} }), { dataRoot: root });
      assert.deepEqual(
        ds.samples.map((s) => s.id),
        src.ids,
      );
      // present: no second download
      await ensureCamVid(root, { baseUrl: `${base}/gone`, splits: ["train"] });
    });

    it("a 404 is an error naming the URL, and leaves no list behind", async () => {
      const root = tmp();
      await assert.rejects(ensureCamVid(root, { baseUrl: `${base}/gone`, splits: ["train"] }), (e: Error) => e.message.includes(`${base}/gone/train.txt`) && /404/.test(e.message));
      assert.ok(!existsSync(join(root, "camvid", "CamVid", "train.txt")));
      // a listed frame that is missing on the server
      writeFileSync(join(src.dir, "val.txt"), "/SegNet/CamVid/val/missing.png /SegNet/CamVid/valannot/missing.png\n");
      await assert.rejects(ensureCamVid(root, { baseUrl: base, splits: ["val"] }), (e: Error) => e.message.includes(`${base}/val/missing.png`));
      assert.ok(!existsSync(join(root, "camvid", "CamVid", "val.txt")));
    });

    it("resolveDataRoot: the option wins, then ADAPTSEG_DATA", async () => {
      const saved = process.env.ADAPTSEG_DATA;
      try {
        process.env.ADAPTSEG_DATA = "/tmp/from-env";
        assert.equal(resolveDataRoot("/tmp/from-option"), "/tmp/from-option");
        assert.equal(resolveDataRoot(), "/tmp/from-env");
        assert.equal(await p.dataRoot("/tmp/from-option"), "/tmp/from-option");
        assert.equal(await p.dataRoot(), "/tmp/from-env");
        delete process.env.ADAPTSEG_DATA;
        assert.notEqual(resolveDataRoot(), "/tmp/from-env");
      } finally {
        if (saved === undefined) delete process.env.ADAPTSEG_DATA;
        else process.env.ADAPTSEG_DATA = saved;
      }
    });
  });
});
