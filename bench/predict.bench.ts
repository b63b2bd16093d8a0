// `predict` on a folder: images/s of Predictor.segment + render (mask, colour, overlay PNGs written),
// as `adaptseg predict` runs them, for the TF.js path and the onnxruntime path (G converted in
// memory). Model: the demo's G (VGG width 0.125, 11 classes, fresh weights: the work does not depend
// on them) at the demo's 160x120, and full width at 512x256 (5 images); images: the first CamVid frames of the
// shared data (960x720; outputs at that size), else synthetic ones.
// Env: BENCH_PREDICT_IMAGES (default 20).
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg, tmpdir } from "node:os";
import { encodePng, Predictor, saveCheckpoint } from "@adaptseg/engine";
import { VggDeeplabNet } from "@adaptseg/models-vgg";

const data = process.env.ADAPTSEG_SHARED_DATA ?? resolve(fileURLToPath(import.meta.url), "../../../shared/data");
const n = Number(process.env.BENCH_PREDICT_IMAGES ?? 20);

function images(dir: string): string[] {
  try {
    const camvid = join(data, "camvid/CamVid/train");
    return readdirSync(camvid)
      .filter((f) => f.endsWith(".png"))
      .sort()
      .slice(0, n)
      .map((f) => join(camvid, f));
  } catch {
    const rgb = new Uint8Array(960 * 720 * 3).map((_, i) => (i * 37) % 256);
    return Array.from({ length: n }, (_, i) => {
      const f = join(dir, `img${i}.png`);
      writeFileSync(f, encodePng(rgb, 960, 720, 3));
      return f;
    });
  }
}

async function checkpoint(dir: string, widthMultiplier: number, size: { width: number; height: number }): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const model = { type: "vgg16-deeplab", numClasses: 11, widthMultiplier };
  const net = new VggDeeplabNet({ ...model, seed: 1 });
  const palette = Array.from({ length: 11 }, (_, i) => [i * 20, 255 - i * 20, 128] as [number, number, number]);
  const file = await saveCheckpoint(
    dir,
    { G: net, D: new Map(), optimizers: {} },
    { iteration: 0, config: { model, target: { size } }, model, classes: palette.map((_, i) => `c${i}`), palette, loaders: {} },
  );
  net.dispose();
  return file;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "adaptseg-bench-predict-"));
  const files = images(dir);
  for (const [width, size] of [
    [0.125, { width: 160, height: 120 }],
    [1, { width: 512, height: 256 }],
  ] as const) {
    const ck = await checkpoint(join(dir, `w${width}`), width, size);
    for (const runtime of ["tfjs", "onnx"] as const) {
      const t0 = performance.now();
      const p = await Predictor.open(ck, { runtime });
      const openSec = (performance.now() - t0) / 1000;
      const out = join(dir, `out-${width}-${runtime}`);
      mkdirSync(out, { recursive: true });
      const predictOne = async (f: string, i: number) => {
        const png = p.render(await p.segment(f));
        writeFileSync(join(out, `${i}_mask.png`), png.mask);
        writeFileSync(join(out, `${i}_color.png`), png.color);
        writeFileSync(join(out, `${i}_overlay.png`), png.overlay);
      };
      await predictOne(files[0]!, 0); // warm-up (sessions, baked filters)
      const t1 = performance.now();
      const some = width === 1 ? files.slice(0, 5) : files; // full width: seconds per image in TF.js
      for (const [i, f] of some.entries()) await predictOne(f, i);
      const sec = (performance.now() - t1) / 1000;
      console.log(
        JSON.stringify({
          bench: "predict",
          runtime: p.runtime,
          widthMultiplier: width,
          inputSize: `${size.width}x${size.height}`,
          images: some.length,
          imagesPerSec: +(some.length / sec).toFixed(2),
          openSec: +openSec.toFixed(2),
          maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
          load1m: +loadavg()[0]!.toFixed(2),
        }),
      );
      p.dispose();
    }
  }
}

const direct = !!process.argv[1] && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url));
if (direct) await run();
