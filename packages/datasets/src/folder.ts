import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { subsetMeta } from "./synthetic.js";

/** Unlabelled png/jpg frames under `root`, recursive, sorted; meta of options.classes (Cityscapes 19 by default). */
@injectable()
export class ImageFolderAdapter implements DatasetAdapter {
  readonly name = "image-folder";
  meta(o: Record<string, unknown>): DatasetMeta { return subsetMeta(((o.classes as number) ?? 19) as 19).meta; }
  async list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    const entries = await readdir(o.root, { recursive: true }).catch(() => { throw new Error(`image-folder: ${o.root} does not exist`); });
    const files = entries.filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
    if (files.length === 0) throw new Error(`image-folder: no png/jpg images under ${o.root}`);
    return files.map((f) => ({ image: join(o.root, f), id: relative(".", f).replace(/\.[^.]+$/, "").replace(/[\\/]/g, "_") }));
  }
  readLabel(file: string): Promise<LabelMap> {
    return Promise.reject(new Error(`image-folder: ${file}: this dataset has no labels`));
  }
}
