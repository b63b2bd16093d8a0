// Rendering helpers for predictions: colourised masks, overlays, legends and PNG encoding.
import { encode } from "fast-png";
import type { RGB } from "../contracts.js";

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

/** Nearest-neighbour resize of an interleaved image with `c` channels. */
export function resizeNearest(src: Uint8Array, w: number, h: number, c: number, nw: number, nh: number): Uint8Array {
  const out = new Uint8Array(nw * nh * c);
  for (let y = 0; y < nh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / nh));
    for (let x = 0; x < nw; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / nw));
      for (let k = 0; k < c; k++) out[(y * nw + x) * c + k] = src[(sy * w + sx) * c + k]!;
    }
  }
  return out;
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

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** An HTML snippet (swatch, name, share) for previews and hovers. */
export function legendHtml(entries: LegendEntry[]): string {
  return entries
    .map((e) => `<span style="display:inline-block;width:10px;height:10px;background:rgb(${e.color.join(",")})"></span> ${esc(e.name)} ${(e.share * 100).toFixed(1)}%`)
    .join("<br>");
}
