import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CamVidAdapter, CityscapesAdapter, loadImage } from "@adaptseg/datasets";

const data = process.env.ADAPTSEG_SHARED_DATA ?? resolve(fileURLToPath(import.meta.url), "../../../shared/data");

async function rate(bench: string, file: string, size: { width: number; height: number } | undefined, n: number) {
  await loadImage(file, size);
  const t = performance.now();
  for (let i = 0; i < n; i++) await loadImage(file, size);
  const s = (performance.now() - t) / 1000;
  console.log(JSON.stringify({ bench, file, size, imagesPerSec: +(n / s).toFixed(2) }));
}

export async function run() {
  const cs = await new CityscapesAdapter().list({ root: join(data, "cityscapes-sample"), split: "train" });
  await rate("datasets.decode-resize.cityscapes-2048x1024-to-1024x512", cs[0].image, { width: 1024, height: 512 }, 8);
  const cv = await new CamVidAdapter().list({ root: join(data, "camvid/CamVid"), split: "val" });
  await rate("datasets.decode.camvid-480x360", cv[0].image, undefined, 30);
}
