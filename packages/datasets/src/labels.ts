import { readFile } from "node:fs/promises";
import { decode } from "fast-png";
import type { LabelMap, RGB } from "@adaptseg/core";

export const IGNORE = 255;
export const CITYSCAPES19 = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
  "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"] as const;
export const CITYSCAPES_PALETTE: RGB[] = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
  [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
  [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]];
/** Cityscapes label id -> train id (official labels.py). */
const ID_TO_TRAIN: Record<number, number> = { 7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18 };
export const CITYSCAPES_ID_LUT = lut(ID_TO_TRAIN, 256);

export function lut(map: Record<number, number>, size: number): Uint8Array {
  const t = new Uint8Array(size).fill(IGNORE);
  for (const [k, v] of Object.entries(map)) t[Number(k)] = v;
  return t;
}

/** Reads a single-channel 8-bit (grey or palette index) PNG exactly and maps values through `table`. */
export async function readIndexPng(file: string, table: Uint8Array | undefined, want: "grey" | "palette" | "any" = "any", maxValue = 255): Promise<LabelMap> {
  let png;
  try { png = decode(await readFile(file)); } catch (e) { throw new Error(`${file}: cannot decode PNG (${(e as Error).message})`); }
  if (png.depth !== 8 || png.channels !== 1) throw new Error(`${file}: expected an 8-bit single-channel label PNG, got ${png.channels} channel(s) of ${png.depth} bits`);
  if (want === "palette" && !png.palette) throw new Error(`${file}: expected a palette (indexed) PNG`);
  const src = png.data as Uint8Array, data = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    if (src[i] > maxValue) throw new Error(`${file}: label value ${src[i]} at pixel ${i} is outside the label map (max ${maxValue})`);
    data[i] = table ? table[src[i]] : src[i];
  }
  return { width: png.width, height: png.height, data };
}
