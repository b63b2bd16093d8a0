import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { CITYSCAPES_ID_LUT, readIndexPng, readList } from "./labels.js";
import { classesOption, classSpace, type ClassesOption } from "./spaces.js";

const CLASSES: ClassesOption[] = [19, 16, 13, "camvid11"];
const classesOf = (o: Record<string, unknown>) => classesOption("cityscapes", o, CLASSES, 19);

/**
 * `leftImg8bit/<split>/<city>/<id>_leftImg8bit.png` with `gtFine/<split>/<city>/<id>_gtFine_labelIds.png`.
 * options: `cities` filter; `list`, an official list file whose lines are `<city>/<id>_leftImg8bit.png`
 * (train.txt, val.txt) or `<city>/<id>_gtFine_labelIds.png` (label.txt), relative to the split folder;
 * `classes` 19 (default), 16 or 13 (SYNTHIA protocols) or "camvid11".
 */
@injectable()
export class CityscapesAdapter implements DatasetAdapter {
  readonly name = "cityscapes";
  meta(o: Record<string, unknown> = {}): DatasetMeta {
    return classSpace(classesOf(o)).meta;
  }
  async list(o: Record<string, unknown> & { root: string; split?: string }): Promise<Sample[]> {
    const split = o.split ?? "train";
    const dir = join(o.root, "leftImg8bit", split);
    let rels: string[]; // <city>/<id>
    if (o.list) {
      rels = (await readList(o.list as string)).map((l) => {
        const m = /^(.*)_(leftImg8bit|gtFine_labelIds)\.png$/.exec(l);
        if (!m) throw new Error(`cityscapes: ${o.list}: line "${l}" is neither <city>/<id>_leftImg8bit.png nor <city>/<id>_gtFine_labelIds.png`);
        return m[1]!;
      });
    } else {
      const cities = (
        await readdir(dir).catch(() => {
          throw new Error(`cityscapes: split folder ${dir} does not exist`);
        })
      ).sort();
      rels = [];
      for (const city of cities) for (const f of (await readdir(join(dir, city))).filter((f) => f.endsWith("_leftImg8bit.png")).sort()) rels.push(`${city}/${f.replace("_leftImg8bit.png", "")}`);
    }
    const filter = o.cities as string[] | undefined;
    if (filter) rels = rels.filter((r) => filter.includes(r.split("/")[0]!));
    const out = rels.map((r) => ({ id: r.split("/").pop()!, image: join(dir, `${r}_leftImg8bit.png`), label: join(o.root, "gtFine", split, `${r}_gtFine_labelIds.png`) }));
    if (out.length === 0) throw new Error(`cityscapes: no frames in ${o.list ?? dir}${filter ? ` for cities ${filter.join(", ")}` : ""}`);
    return out;
  }
  readLabel(file: string, o: Record<string, unknown> = {}): Promise<LabelMap> {
    const { fromTrain } = classSpace(classesOf(o));
    return readIndexPng(
      file,
      CITYSCAPES_ID_LUT.map((t) => fromTrain[t]!),
      "grey",
      33,
    );
  }
}
