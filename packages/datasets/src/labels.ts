import { readFile } from "node:fs/promises";
import { decode } from "fast-png";
import sharp from "sharp";
import type { LabelMap, RGB } from "@adaptseg/core";

export const IGNORE = 255;
export const CITYSCAPES19 = [
  "road",
  "sidewalk",
  "building",
  "wall",
  "fence",
  "pole",
  "traffic light",
  "traffic sign",
  "vegetation",
  "terrain",
  "sky",
  "person",
  "rider",
  "car",
  "truck",
  "bus",
  "train",
  "motorcycle",
  "bicycle",
] as const;
export const CITYSCAPES_PALETTE: RGB[] = [
  [128, 64, 128],
  [244, 35, 232],
  [70, 70, 70],
  [102, 102, 156],
  [190, 153, 153],
  [153, 153, 153],
  [250, 170, 30],
  [220, 220, 0],
  [107, 142, 35],
  [152, 251, 152],
  [70, 130, 180],
  [220, 20, 60],
  [255, 0, 0],
  [0, 0, 142],
  [0, 0, 70],
  [0, 60, 100],
  [0, 80, 100],
  [0, 0, 230],
  [119, 11, 32],
];
export const CAMVID11 = ["sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car", "pedestrian", "bicyclist"] as const;
export const CAMVID_PALETTE: RGB[] = [
  [128, 128, 128],
  [128, 0, 0],
  [192, 192, 128],
  [128, 64, 128],
  [60, 40, 222],
  [128, 128, 0],
  [192, 128, 128],
  [64, 64, 128],
  [64, 0, 128],
  [64, 64, 0],
  [0, 128, 192],
];
/** Cityscapes label id -> train id (official labels.py). */
const ID_TO_TRAIN: Record<number, number> = { 7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18 };
export const CITYSCAPES_ID_LUT = lut(ID_TO_TRAIN, 256);

/** The non-empty, trimmed lines of a list file; a missing or empty list is an error naming it. */
export async function readList(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch((e: Error) => {
    throw new Error(`list file ${file} cannot be read (${e.message})`);
  });
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) throw new Error(`list file ${file} is empty`);
  return lines;
}

export function lut(map: Record<number, number>, size: number): Uint8Array {
  const t = new Uint8Array(size).fill(IGNORE);
  for (const [k, v] of Object.entries(map)) t[Number(k)] = v;
  return t;
}

/**
 * Reads a single-channel 8-bit (grey or palette index) PNG exactly and maps values through `table`.
 * Grey PNGs decode natively (sharp, off the main thread); palette PNGs with fast-png, whose output
 * is the palette INDEX (sharp would expand it to colours).
 */
export async function readIndexPng(file: string, table: Uint8Array | undefined, want: "grey" | "palette" | "any" = "any", maxValue = 255): Promise<LabelMap> {
  const bad = (e: unknown): never => {
    throw new Error(`${file}: cannot decode PNG (${(e as Error).message})`);
  };
  const m = await sharp(file).metadata().catch(bad);
  if (m.format !== "png") throw new Error(`${file}: expected a PNG label, got ${m.format}`);
  if (want === "palette" && !m.isPalette) throw new Error(`${file}: expected an 8-bit single-channel palette (indexed) PNG, got ${m.channels} channel(s) of ${m.bitsPerSample} bits`);
  const expect = (channels: number | undefined, bits: number | undefined) => {
    if (bits !== 8 || channels !== 1) throw new Error(`${file}: expected an 8-bit single-channel label PNG, got ${channels} channel(s) of ${bits} bits`);
  };
  let src: Uint8Array, width: number, height: number;
  if (m.isPalette) {
    const png = await readFile(file)
      .then((b) => decode(b))
      .catch(bad);
    expect(png.channels, png.depth);
    ({ width, height } = png);
    src = png.data as Uint8Array;
  } else {
    expect(m.channels, m.bitsPerSample);
    const { data, info } = await sharp(file, { failOn: "truncated" }).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true }).catch(bad);
    expect(info.channels, 8);
    ({ width, height } = info);
    src = data;
  }
  const data = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    if (src[i]! > maxValue) throw new Error(`${file}: label value ${src[i]} at pixel ${i} is outside the label map (max ${maxValue})`);
    data[i] = table ? table[src[i]!]! : src[i]!;
  }
  return { width, height, data };
}
