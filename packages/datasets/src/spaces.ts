// Class spaces and the mappings between them. Every Cityscapes-labelled dataset (gta5, synthia,
// cityscapes, image-folder) decodes to the 19 Cityscapes train ids first, then maps them through
// `classSpace(options.classes).fromTrain` into the experiment's class space:
//   19  the Cityscapes train ids (GTA5 -> Cityscapes);
//   16, 13  the SYNTHIA -> Cityscapes protocols (SPEC section 3/4);
//   "camvid11"  CamVid's 11 SegNet classes (SYNTHIA -> CamVid; also GTA5/Cityscapes -> CamVid).
import type { DatasetMeta } from "@adaptseg/core";
import { CAMVID11, CAMVID_PALETTE, CITYSCAPES19, CITYSCAPES_PALETTE, IGNORE, lut } from "./labels.js";

export type ClassesOption = 19 | 16 | 13 | "camvid11";

/** Cityscapes train ids kept by the 16- and 13-class SYNTHIA protocols, in train-id order. */
export const SUBSET16 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18];
export const SUBSET13 = SUBSET16.filter((t) => t !== 3 && t !== 4 && t !== 5);

/**
 * Cityscapes train id -> CamVid 11-class index. No public table exists for SYNTHIA -> CamVid, so the
 * common classes are derived from how SegNet grouped CamVid's 32 classes into 11: Building includes
 * Wall; SignSymbol includes TrafficLight; Car includes Truck_Bus and Train; Bicyclist includes
 * MotorcycleScooter (the rider and the two-wheeler are one region). Terrain has no CamVid class and
 * is ignored. SYNTHIA's 16 classes reach all 11 CamVid classes, so the common space is CamVid's own.
 */
export const CITYSCAPES_TO_CAMVID: Record<number, number> = {
  0: 3, // road -> road
  1: 4, // sidewalk -> sidewalk (pavement)
  2: 1, // building -> building
  3: 1, // wall -> building
  4: 7, // fence -> fence
  5: 2, // pole -> pole
  6: 6, // traffic light -> sign (SignSymbol)
  7: 6, // traffic sign -> sign
  8: 5, // vegetation -> tree
  10: 0, // sky -> sky
  11: 9, // person -> pedestrian
  12: 10, // rider -> bicyclist
  13: 8, // car -> car
  14: 8, // truck -> car
  15: 8, // bus -> car
  16: 8, // train -> car
  17: 10, // motorcycle -> bicyclist
  18: 10, // bicycle -> bicyclist
};

export const CAMVID_META: DatasetMeta = { classes: CAMVID11, palette: CAMVID_PALETTE, ignoreIndex: IGNORE, classSpace: "camvid11" };

/** Meta of a class space and the LUT from Cityscapes train id (0..18, 255) to its class index. */
export function classSpace(classes: ClassesOption): { meta: DatasetMeta; fromTrain: Uint8Array } {
  if (classes === "camvid11") return { meta: CAMVID_META, fromTrain: lut(CITYSCAPES_TO_CAMVID, 256) };
  const keep = classes === 19 ? CITYSCAPES19.map((_, i) => i) : classes === 16 ? SUBSET16 : SUBSET13;
  return {
    meta: { classes: keep.map((t) => CITYSCAPES19[t]), palette: keep.map((t) => CITYSCAPES_PALETTE[t]), ignoreIndex: IGNORE, classSpace: `cityscapes${classes}` },
    fromTrain: lut(Object.fromEntries(keep.map((t, k) => [t, k])), 256),
  };
}

/** `options.classes` of `dataset`, checked against the values it supports. */
export function classesOption(dataset: string, o: Record<string, unknown>, allowed: ClassesOption[], dflt: ClassesOption): ClassesOption {
  const c = (o.classes ?? dflt) as ClassesOption;
  if (!allowed.includes(c)) throw new Error(`${dataset}: options.classes must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(o.classes)}`);
  return c;
}
