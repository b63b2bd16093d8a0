import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { readList } from "./labels.js";
import { classesOption, classSpace } from "./spaces.js";

/** Unlabelled png/jpg frames under `root`, recursive, sorted (or the root-relative paths in options.list); meta of options.classes (19 default, 16, 13, "camvid11"). */
@injectable()
export class ImageFolderAdapter implements DatasetAdapter {
  readonly name = "image-folder";
  meta(o: Record<string, unknown> = {}): DatasetMeta {
    return classSpace(classesOption("image-folder", o, [19, 16, 13, "camvid11"], 19)).meta;
  }
  async list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    const entries = o.list
      ? await readList(o.list as string)
      : await readdir(o.root, { recursive: true }).catch(() => {
          throw new Error(`image-folder: ${o.root} does not exist`);
        });
    const files = entries.filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
    if (files.length === 0) throw new Error(`image-folder: no png/jpg images under ${o.root}`);
    return files.map((f) => ({
      image: join(o.root, f),
      id: relative(".", f)
        .replace(/\.[^.]+$/, "")
        .replace(/[\\/]/g, "_"),
    }));
  }
  readLabel(file: string): Promise<LabelMap> {
    return Promise.reject(new Error(`image-folder: ${file}: this dataset has no labels`));
  }
}
