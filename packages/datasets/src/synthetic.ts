import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { decode } from "fast-png";
import { injectable } from "inversify";
import type { DatasetAdapter, DatasetMeta, LabelMap, Sample } from "@adaptseg/core";
import { CITYSCAPES19, CITYSCAPES_ID_LUT, CITYSCAPES_PALETTE, IGNORE, lut, readIndexPng } from "./labels.js";

/** Cityscapes train ids kept by the 16- and 13-class SYNTHIA protocols, in train-id order. */
export const SUBSET16 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18];
export const SUBSET13 = SUBSET16.filter((t) => t !== 3 && t !== 4 && t !== 5);
/** Meta of a Cityscapes-19 subset (classes 16 or 13) and the LUT from train id 0..18 to the subset index. */
export function subsetMeta(classes: 19 | 16 | 13): { meta: DatasetMeta; fromTrain: Uint8Array } {
  const keep = classes === 19 ? CITYSCAPES19.map((_, i) => i) : classes === 16 ? SUBSET16 : SUBSET13;
  const fromTrain = lut(Object.fromEntries(keep.map((t, k) => [t, k])), 256);
  return {
    meta: { classes: keep.map((t) => CITYSCAPES19[t]), palette: keep.map((t) => CITYSCAPES_PALETTE[t]), ignoreIndex: IGNORE, classSpace: `cityscapes${classes}` },
    fromTrain,
  };
}
function classesOpt(o: Record<string, unknown>, allowed: number[], dflt: number): 19 | 16 | 13 {
  const c = (o.classes as number | undefined) ?? dflt;
  if (!allowed.includes(c)) throw new Error(`options.classes must be one of ${allowed.join(", ")}, got ${c}`);
  return c as 19 | 16 | 13;
}

async function pairFolders(root: string, imgDir: string, labDir: string, list?: string): Promise<Sample[]> {
  const names = list
    ? (await readFile(list, "utf8").catch(() => { throw new Error(`list file ${list} does not exist`); })).split(/\r?\n/).map((l) => l.trim()).filter(Boolean)
    : (await readdir(join(root, imgDir)).catch(() => { throw new Error(`image folder ${join(root, imgDir)} does not exist`); })).filter((f) => f.endsWith(".png")).sort();
  if (names.length === 0) throw new Error(`no frames in ${list ?? join(root, imgDir)}`);
  return names.map((n) => ({ id: n.replace(/\.png$/, ""), image: join(root, imgDir, n), label: join(root, labDir, n) }));
}

@injectable()
export class Gta5Adapter implements DatasetAdapter {
  readonly name = "gta5";
  meta(): DatasetMeta { return subsetMeta(19).meta; }
  list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    return pairFolders(o.root, "images", "labels", o.list as string | undefined);
  }
  readLabel(file: string): Promise<LabelMap> {
    // Indices are label ids; the palette colours are never used. GTA5 uses ids 0..33 (and a few above: ignored).
    return readIndexPng(file, CITYSCAPES_ID_LUT, "palette");
  }
}

/** SYNTHIA class id -> Cityscapes train id (SPEC section 3). */
export const SYNTHIA_TO_TRAIN: Record<number, number> = { 3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 10, 10: 11,
  17: 12, 8: 13, 19: 15, 12: 17, 11: 18 };

@injectable()
export class SynthiaAdapter implements DatasetAdapter {
  readonly name = "synthia";
  meta(o: Record<string, unknown>): DatasetMeta { return subsetMeta(classesOpt(o, [16, 13], 16)).meta; }
  list(o: Record<string, unknown> & { root: string }): Promise<Sample[]> {
    return pairFolders(o.root, "RGB", "GT/LABELS", o.list as string | undefined);
  }
  async readLabel(file: string, o: Record<string, unknown>): Promise<LabelMap> {
    const { fromTrain } = subsetMeta(classesOpt(o, [16, 13], 16));
    let png;
    try { png = decode(await readFile(file)); } catch (e) { throw new Error(`${file}: cannot decode PNG (${(e as Error).message})`); }
    if (png.depth !== 16) throw new Error(`${file}: expected a 16-bit SYNTHIA label PNG, got ${png.depth}-bit`);
    const src = png.data as Uint16Array, ch = png.channels, n = png.width * png.height;
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = SYNTHIA_TO_TRAIN[src[i * ch]];
      data[i] = t === undefined ? IGNORE : fromTrain[t];
    }
    return { width: png.width, height: png.height, data };
  }
}
