import { basename, join } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { CAMVID11, lut, readIndexPng, readList } from "./labels.js";
import { CAMVID_META, classesOption } from "./spaces.js";

export { CAMVID11, CAMVID_PALETTE } from "./labels.js";
/** 0..10 stay, 11 (void) -> 255; anything else is out of the map and also ignored. */
const CAMVID_LUT = lut(Object.fromEntries(CAMVID11.map((_, i) => [i, i])), 256);

/** Frame number of a SegNet CamVid name like 0001TP_006690 or 0016E5_08159. */
const frameNo = (id: string) => Number(id.split("_").pop());

/** SegNet layout: `<root>/<split>.txt` (or options.list) lines `/SegNet/CamVid/train/x.png /SegNet/CamVid/trainannot/x.png`. */
@injectable()
export class CamVidAdapter implements DatasetAdapter {
  readonly name = "camvid";
  meta(o: Record<string, unknown> = {}): DatasetMeta {
    classesOption("camvid", o, ["camvid11"], "camvid11");
    return CAMVID_META;
  }
  async list(o: Record<string, unknown> & { root: string; split?: string }): Promise<Sample[]> {
    const listFile = (o.list as string | undefined) ?? join(o.root, `${o.split ?? "train"}.txt`);
    let out: Sample[] = (await readList(listFile)).map((line) => {
      const [img, ann] = line.split(/\s+/);
      // List paths are absolute on the SegNet machine (/SegNet/CamVid/train/x.png): keep the last two parts.
      const rel = (p: string) => join(o.root, ...p.split("/").slice(-2));
      return { image: rel(img!), label: ann ? rel(ann) : undefined, id: basename(img!, ".png") };
    });
    const seqs = o.sequences as string[] | undefined,
      excl = o.excludeSequences as string[] | undefined;
    const seqOf = (s: Sample) => s.id.split("_")[0];
    if (seqs) out = out.filter((s) => seqs.includes(seqOf(s)!));
    if (excl) out = out.filter((s) => !excl.includes(seqOf(s)!));
    const fr = o.fraction as [number, number] | undefined;
    if (fr) {
      const bySeq = new Map<string, Sample[]>();
      for (const s of out) bySeq.set(seqOf(s)!, [...(bySeq.get(seqOf(s)!) ?? []), s]);
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
