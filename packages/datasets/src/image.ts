import sharp from "sharp";
import { resizeNearest, type LabelMap } from "@adaptseg/core";

export const IMG_MEAN = [104.00698793, 116.66876762, 122.67891434] as const; // B, G, R

export interface Size {
  width: number;
  height: number;
}

/** The largest image side AdaptSeg decodes (the config schema's size maximum too). */
export const MAX_IMAGE_SIDE = 8192;

/** Throws, naming the file, when an image is too large to decode and segment at its own size. */
export async function checkImageSize(file: string): Promise<Size> {
  const m = await sharp(file)
    .metadata()
    .catch((e: Error) => {
      throw new Error(`${file}: cannot decode image (${e.message})`);
    });
  const width = m.width ?? 0,
    height = m.height ?? 0;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE)
    throw new Error(`${file}: image is ${width}x${height} pixels, larger than the ${MAX_IMAGE_SIDE} pixels a side AdaptSeg reads: downscale it first`);
  return { width, height };
}

/** Decodes an RGB image, resizes it bicubic to `size` (if given), returns BGR minus IMG_MEAN, NHWC float32. */
export async function loadImage(file: string, size?: Size): Promise<{ width: number; height: number; data: Float32Array }> {
  // At its own size the image is the network input: bounded (a resize to `size` is not).
  if (!size) await checkImageSize(file);
  let raw;
  try {
    let p = sharp(file, { failOn: "truncated" }).removeAlpha().toColourspace("srgb");
    if (size) p = p.resize(size.width, size.height, { fit: "fill", kernel: "cubic" });
    raw = await p.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${file}: cannot decode image (${(e as Error).message})`);
  }
  const { width, height, channels } = raw.info;
  const src = raw.data,
    data = new Float32Array(width * height * 3);
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
  return { width: size.width, height: size.height, data: resizeNearest(l.data, l.width, l.height, 1, size.width, size.height) };
}
