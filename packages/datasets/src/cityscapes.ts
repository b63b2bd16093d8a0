import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { CITYSCAPES19, CITYSCAPES_ID_LUT, CITYSCAPES_PALETTE, IGNORE, readIndexPng } from "./labels.js";

@injectable()
export class CityscapesAdapter implements DatasetAdapter {
  readonly name = "cityscapes";
  meta(): DatasetMeta {
    return { classes: CITYSCAPES19, palette: CITYSCAPES_PALETTE, ignoreIndex: IGNORE, classSpace: "cityscapes19" };
  }
  async list(o: Record<string, unknown> & { root: string; split?: string }): Promise<Sample[]> {
    const split = o.split ?? "train";
    const dir = join(o.root, "leftImg8bit", split);
    const cities = (await readdir(dir).catch(() => { throw new Error(`cityscapes: split folder ${dir} does not exist`); })).sort();
    const filter = o.cities as string[] | undefined;
    const out: Sample[] = [];
    for (const city of cities.filter((c) => !filter || filter.includes(c))) {
      for (const f of (await readdir(join(dir, city))).filter((f) => f.endsWith("_leftImg8bit.png")).sort()) {
        const id = f.replace("_leftImg8bit.png", "");
        out.push({ id, image: join(dir, city, f), label: join(o.root, "gtFine", split, city, `${id}_gtFine_labelIds.png`) });
      }
    }
    if (out.length === 0) throw new Error(`cityscapes: no frames under ${dir}`);
    return out;
  }
  readLabel(file: string): Promise<LabelMap> {
    return readIndexPng(file, CITYSCAPES_ID_LUT, "grey", 33);
  }
}
