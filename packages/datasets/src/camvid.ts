import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { IGNORE, lut, readIndexPng } from "./labels.js";

export const CAMVID11 = ["sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car", "pedestrian", "bicyclist"] as const;
export const CAMVID_PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
  [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]] as const;
/** 0..10 stay, 11 (void) -> 255; anything else is out of the map and also ignored. */
const CAMVID_LUT = lut(Object.fromEntries(CAMVID11.map((_, i) => [i, i])), 256);

/** Frame number of a SegNet CamVid name like 0001TP_006690 or 0016E5_08159. */
const frameNo = (id: string) => Number(id.split("_").pop());

@injectable()
export class CamVidAdapter implements DatasetAdapter {
  readonly name = "camvid";
  meta(): DatasetMeta {
    return { classes: CAMVID11, palette: CAMVID_PALETTE, ignoreIndex: IGNORE, classSpace: "camvid11" };
  }
  async list(o: Record<string, unknown> & { root: string; split?: string }): Promise<Sample[]> {
    const split = o.split ?? "train";
    const listFile = join(o.root, `${split}.txt`);
    const text = await readFile(listFile, "utf8").catch(() => { throw new Error(`camvid: list file ${listFile} does not exist`); });
    let out: Sample[] = text.split(/\r?\n/).filter((l) => l.trim()).map((line) => {
      const [img, ann] = line.trim().split(/\s+/);
      // List paths are absolute on the SegNet machine (/SegNet/CamVid/train/x.png): keep the last two parts.
      const rel = (p: string) => join(o.root, ...p.split("/").slice(-2));
      const s = { image: rel(img), label: ann ? rel(ann) : undefined, id: basename(img, ".png") };
      if (!existsSync(s.image)) throw new Error(`camvid: ${listFile} lists ${s.image}, which does not exist`);
      return s;
    });
    const seqs = o.sequences as string[] | undefined, excl = o.excludeSequences as string[] | undefined;
    const seqOf = (s: Sample) => s.id.split("_")[0];
    if (seqs) out = out.filter((s) => seqs.includes(seqOf(s)));
    if (excl) out = out.filter((s) => !excl.includes(seqOf(s)));
    const fr = o.fraction as [number, number] | undefined;
    if (fr) {
      const bySeq = new Map<string, Sample[]>();
      for (const s of out) bySeq.set(seqOf(s), [...(bySeq.get(seqOf(s)) ?? []), s]);
      out = [...bySeq.values()].flatMap((g) => {
        g.sort((a, b) => frameNo(a.id) - frameNo(b.id));
        return g.slice(Math.round(fr[0] * g.length), Math.round(fr[1] * g.length));
      });
    }
    if (out.length === 0) throw new Error(`camvid: no samples in ${listFile} after filters`);
    return out;
  }
  readLabel(file: string): Promise<LabelMap> {
    return readIndexPng(file, CAMVID_LUT, "grey", 11);
  }
}
