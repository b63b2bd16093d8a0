import sharp from "sharp";
import type { LabelMap } from "@adaptseg/core";

export const IMG_MEAN = [104.00698793, 116.66876762, 122.67891434] as const; // B, G, R

export interface Size { width: number; height: number }

/** Decodes an RGB image, resizes it bicubic to `size` (if given), returns BGR minus IMG_MEAN, NHWC float32. */
export async function loadImage(file: string, size?: Size): Promise<{ width: number; height: number; data: Float32Array }> {
  let raw;
  try {
    let p = sharp(file, { failOn: "truncated" }).removeAlpha().toColourspace("srgb");
    if (size) p = p.resize(size.width, size.height, { fit: "fill", kernel: "cubic" });
    raw = await p.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${file}: cannot decode image (${(e as Error).message})`);
  }
  const { width, height, channels } = raw.info;
  const src = raw.data, data = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; j < data.length; i += channels, j += 3) {
    data[j] = src[i + 2] - IMG_MEAN[0];
    data[j + 1] = src[i + 1] - IMG_MEAN[1];
    data[j + 2] = src[i] - IMG_MEAN[2];
  }
  return { width, height, data };
}

/** Nearest-neighbour resize of a label map (pixel centres), exact for train ids. */
export function resizeLabel(l: LabelMap, size: Size): LabelMap {
  if (l.width === size.width && l.height === size.height) return l;
  const data = new Uint8Array(size.width * size.height);
  for (let y = 0; y < size.height; y++) {
    const sy = Math.min(l.height - 1, Math.floor(((y + 0.5) * l.height) / size.height));
    for (let x = 0; x < size.width; x++) {
      const sx = Math.min(l.width - 1, Math.floor(((x + 0.5) * l.width) / size.width));
      data[y * size.width + x] = l.data[sy * l.width + sx];
    }
  }
  return { width: size.width, height: size.height, data };
}
