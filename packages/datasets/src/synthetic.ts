import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { decode } from "fast-png";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { CITYSCAPES_ID_LUT, IGNORE, readIndexPng, readList } from "./labels.js";
import { classesOption, classSpace } from "./spaces.js";

/**
 * Pairs `<root>/<imgDir>/<name>` with `<root>/<labDir>/<name>`, names from a list file (official lists:
 * GTA5 `00001.png`, SYNTHIA `RGB/0000000.png`; a leading `<imgDir>/` is dropped) or the image folder.
 */
async function pairFolders(dataset: string, root: string, imgDir: string, labDir: string, list?: string): Promise<Sample[]> {
  const names = list
    ? (await readList(list)).map((l) => (l.startsWith(`${imgDir}/`) ? l.slice(imgDir.length + 1) : l))
    : (
        await readdir(join(root, imgDir)).catch(() => {
          throw new Error(`${dataset}: image folder ${join(root, imgDir)} does not exist`);
        })
      )
        .filter((f) => f.endsWith(".png"))
        .sort();
  if (names.length === 0) throw new Error(`${dataset}: no frames in ${join(root, imgDir)}`);
  return names.map((n) => ({ id: n.replace(/\.png$/, ""), image: join(root, imgDir, n), label: join(root, labDir, n) }));
}

/** GTA5: `images/00001.png`, `labels/00001.png` (palette PNG, index = Cityscapes label id). options: `list`, `classes` (19 default, 16, 13, "camvid11"). */
@injectable()
export class Gta5Adapter implements DatasetAdapter {
  readonly name = "gta5";
  private classes(o: Record<string, unknown>) {
    return classSpace(classesOption("gta5", o, [19, 16, 13, "camvid11"], 19));
  }
  meta(o: Record<string, unknown> = {}): DatasetMeta {
    return this.classes(o).meta;
  }
  list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    return pairFolders("gta5", o.root, "images", "labels", o.list as string | undefined);
  }
  readLabel(file: string, o: Record<string, unknown> = {}): Promise<LabelMap> {
    // Indices are label ids; the palette colours are never used. GTA5 uses ids 0..33 (and a few above: ignored).
    const { fromTrain } = this.classes(o);
    return readIndexPng(
      file,
      CITYSCAPES_ID_LUT.map((t) => fromTrain[t]!),
      "palette",
    );
  }
}

/** SYNTHIA class id -> Cityscapes train id (SPEC section 3). */
export const SYNTHIA_TO_TRAIN: Record<number, number> = { 3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 10, 10: 11, 17: 12, 8: 13, 19: 15, 12: 17, 11: 18 };

/** SYNTHIA RAND-CITYSCAPES: `RGB/0000000.png`, `GT/LABELS/0000000.png` (16-bit, class in channel 0). options: `list`, `classes` (16 default, 13, "camvid11"). */
@injectable()
export class SynthiaAdapter implements DatasetAdapter {
  readonly name = "synthia";
  private classes(o: Record<string, unknown>) {
    return classSpace(classesOption("synthia", o, [16, 13, "camvid11"], 16));
  }
  meta(o: Record<string, unknown> = {}): DatasetMeta {
    return this.classes(o).meta;
  }
  list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    return pairFolders("synthia", o.root, "RGB", "GT/LABELS", o.list as string | undefined);
  }
  async readLabel(file: string, o: Record<string, unknown> = {}): Promise<LabelMap> {
    const { fromTrain } = this.classes(o);
    let png;
    try {
      png = decode(await readFile(file));
    } catch (e) {
      throw new Error(`${file}: cannot decode PNG (${(e as Error).message})`);
    }
    if (png.depth !== 16) throw new Error(`${file}: expected a 16-bit SYNTHIA label PNG, got ${png.depth}-bit`);
    const src = png.data as Uint16Array,
      ch = png.channels,
      n = png.width * png.height;
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = SYNTHIA_TO_TRAIN[src[i * ch]!];
      data[i] = t === undefined ? IGNORE : fromTrain[t]!;
    }
    return { width: png.width, height: png.height, data };
  }
}
