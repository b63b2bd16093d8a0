// Rendering helpers for predictions: colourised masks, overlays, legends and PNG encoding.
import { encode } from "fast-png";
import type { RGB } from "@adaptseg/core";

/** Train ids -> RGB with the palette; ids outside it (255) get `ignore`. */
export function colorize(ids: Uint8Array, palette: readonly RGB[], ignore: RGB = [0, 0, 0]): Uint8Array {
  const out = new Uint8Array(ids.length * 3);
  for (let i = 0; i < ids.length; i++) {
    const c = palette[ids[i]!] ?? ignore;
    out[3 * i] = c[0];
    out[3 * i + 1] = c[1];
    out[3 * i + 2] = c[2];
  }
  return out;
}

/** alpha * mask + (1 - alpha) * image, per channel, rounded. */
export function overlay(image: Uint8Array, mask: Uint8Array, alpha = 0.5): Uint8Array {
  if (image.length !== mask.length) throw new Error(`overlay: image has ${image.length} values, mask ${mask.length}`);
  const out = new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++) out[i] = Math.round(alpha * mask[i]! + (1 - alpha) * image[i]!);
  return out;
}

export function encodePng(data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Uint8Array {
  return encode({ width, height, data, channels, depth: 8 });
}

export interface LegendEntry {
  id: number;
  name: string;
  color: RGB;
  /** Fraction of all pixels. */
  share: number;
}

/** The classes present in a mask, most frequent first. */
export function legendEntries(ids: Uint8Array, meta: { classes: readonly string[]; palette: readonly RGB[] }): LegendEntry[] {
  const counts = new Float64Array(256);
  for (let i = 0; i < ids.length; i++) counts[ids[i]!]!++;
  const out: LegendEntry[] = [];
  meta.classes.forEach((name, id) => {
    if (counts[id]) out.push({ id, name, color: meta.palette[id]!, share: counts[id]! / ids.length });
  });
  return out.sort((a, b) => b.share - a.share);
}
