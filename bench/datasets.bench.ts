import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import { createContainer, DataPipeline, type DatasetConfig } from "@adaptseg/core";
import { CamVidAdapter, CityscapesAdapter, containerModule, loadImage } from "@adaptseg/datasets";

const data = process.env.ADAPTSEG_SHARED_DATA ?? resolve(fileURLToPath(import.meta.url), "../../../shared/data");
const load = () => +loadavg()[0]!.toFixed(2);

async function rate(bench: string, file: string, size: { width: number; height: number } | undefined, n: number) {
  await loadImage(file, size);
  const t = performance.now();
  for (let i = 0; i < n; i++) await loadImage(file, size);
  const s = (performance.now() - t) / 1000;
  console.log(JSON.stringify({ bench, file, size, imagesPerSec: +(n / s).toFixed(2), load1m: load() }));
}

/** Busy main thread for `ms`, as a synchronous (wasm/cpu) training step is. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * The prefetching loader with labels and augmentation: batches/s when consumed back to back, and the
 * mean wait in next() when each of `m` batches follows a synchronous `stepMs` "training step" (the
 * stall training would see: decoding runs on sharp's threads, label decoding and the float
 * conversion on the main thread between steps).
 */
async function loader(bench: string, cfg: DatasetConfig, n: number, stepMs: number, m: number) {
  const c = await createContainer({}, { modules: [containerModule] });
  const p = c.get<DataPipeline>(DataPipeline);
  const ds = await p.open(cfg, { dataRoot: data });
  const opts = { batchSize: 1, seed: 1, labels: true, prefetch: 2 };
  let l = p.loader(ds, cfg, opts);
  await l.next();
  let t = performance.now();
  for (let i = 0; i < n; i++) await l.next();
  const batchesPerSec = n / ((performance.now() - t) / 1000);
  l.close();
  l = p.loader(ds, cfg, opts);
  await l.next();
  let wait = 0,
    worst = 0;
  for (let i = 0; i < m; i++) {
    busy(stepMs);
    t = performance.now();
    await l.next();
    const w = performance.now() - t;
    wait += w;
    worst = Math.max(worst, w);
  }
  l.close();
  console.log(
    JSON.stringify({
      bench,
      size: cfg.size,
      augment: cfg.augment,
      prefetch: opts.prefetch,
      samples: ds.samples.length,
      batchesPerSec: +batchesPerSec.toFixed(2),
      stepMs,
      steps: m,
      meanWaitMs: +(wait / m).toFixed(1),
      waitPerStep: +(wait / m / stepMs).toFixed(4),
      worstWaitMs: +worst.toFixed(1),
      load1m: load(),
    }),
  );
}

export async function run() {
  const cs = await new CityscapesAdapter().list({ root: join(data, "cityscapes-sample"), split: "train" });
  await rate("datasets.decode-resize.cityscapes-2048x1024-to-1024x512", cs[0].image, { width: 1024, height: 512 }, 8);
  const cv = await new CamVidAdapter().list({ root: join(data, "camvid/CamVid"), split: "val" });
  await rate("datasets.decode.camvid-480x360", cv[0].image, undefined, 30);
  // The demo's source (daylight CamVid, mirror) at the demo's 160x120; a training step there takes ~1 s.
  const demo = { type: "camvid", root: "camvid/CamVid", split: "train", size: { width: 160, height: 120 }, options: { excludeSequences: ["0001TP"] } };
  await loader("datasets.loader.camvid-160x120-mirror", { ...demo, augment: { mirror: true } } as DatasetConfig, 60, 1000, 8);
  await loader("datasets.loader.camvid-160x120-scale-crop-mirror", { ...demo, augment: { scale: [1, 1.5], crop: { width: 160, height: 120 }, mirror: true } } as DatasetConfig, 60, 1000, 8);
  // Full-size Cityscapes frames (2048x1024 PNG image and labels) to 512x256.
  const city = { type: "cityscapes", root: "cityscapes-sample", split: "train", size: { width: 512, height: 256 } };
  await loader("datasets.loader.cityscapes-2048x1024-to-512x256-mirror", { ...city, augment: { mirror: true } } as DatasetConfig, 16, 1000, 6);
  await loader(
    "datasets.loader.cityscapes-2048x1024-to-512x256-scale-crop-mirror",
    { ...city, augment: { scale: [1, 1.5], crop: { width: 512, height: 256 }, mirror: true } } as DatasetConfig,
    16,
    1000,
    6,
  );
}
