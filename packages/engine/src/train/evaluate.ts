// Evaluation, SPEC section 4: predict at the input size, upsample logits bilinearly to the label
// size, argmax, accumulate the confusion matrix; optionally write train-id and colour PNGs.
import * as tf from "@tensorflow/tfjs-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfusionMatrix } from "@adaptseg/metrics";
import type { DataPipeline, NetImage, OpenedDataset, SegNetwork } from "@adaptseg/core";
import { upsample } from "@adaptseg/compute";
import { colorize, encodePng } from "../eval/index.js";

export interface EvalResult {
  /** Percent over the evaluated classes. */
  miou: number;
  pixelAccuracy: number;
  /** Percent per class (NaN where the class never occurs). */
  perClass: number[];
  perClassByName: Record<string, number | null>;
  classes: string[];
  images: number;
  matrix: ConfusionMatrix;
}

/** Train ids [h,w] for one image: logits upsampled to (h, w) (the label size), then argmax. */
export async function predictIds(net: SegNetwork, img: NetImage, h = img.origHeight, w = img.origWidth, up = upsample): Promise<Uint8Array> {
  const ids = tf.tidy(() => {
    const x = tf.tensor4d(img.input, [1, img.height, img.width, 3]);
    return up(net.apply(x).main, h, w).argMax(-1);
  });
  return Uint8Array.from(await ids.data().finally(() => ids.dispose()));
}

/** `net`: the network (run in TF.js), or a function that predicts train ids at (h, w) (onnxruntime: Predictor.predictIds). */
export async function evaluate(
  net: SegNetwork | ((img: NetImage, h: number, w: number) => Promise<Uint8Array>),
  pipeline: DataPipeline,
  ds: OpenedDataset,
  opts: { size?: { width: number; height: number }; classes?: number[]; outDir?: string; limit?: number; upsample?: typeof upsample } = {},
): Promise<EvalResult> {
  const n = ds.meta.classes.length;
  const cm = new ConfusionMatrix(n);
  const samples = ds.samples.filter((s) => s.label).slice(0, opts.limit);
  if (!samples.length) throw new Error(`evaluation set ${ds.options.root} has no labelled samples`);
  if (opts.outDir) mkdirSync(opts.outDir, { recursive: true });
  for (const s of samples) {
    const img = await pipeline.readImage(s.image, opts.size);
    const label = await ds.adapter.readLabel(s.label!, ds.options);
    const pred = typeof net === "function" ? await net(img, label.height, label.width) : await predictIds(net, img, label.height, label.width, opts.upsample);
    cm.process(label.data, pred);
    if (opts.outDir) {
      writeFileSync(join(opts.outDir, `${s.id}_trainIds.png`), encodePng(pred, label.width, label.height, 1));
      writeFileSync(join(opts.outDir, `${s.id}_color.png`), encodePng(colorize(pred, ds.meta.palette), label.width, label.height, 3));
    }
  }
  const r = cm.compute({ classes: opts.classes });
  const pct = (v: number) => v * 100;
  const perClass = r.iou.map(pct);
  return {
    miou: pct(r.miou),
    pixelAccuracy: pct(r.pixelAccuracy),
    perClass,
    perClassByName: Object.fromEntries(ds.meta.classes.map((c, i) => [c, Number.isNaN(perClass[i]!) ? null : perClass[i]!])),
    classes: [...ds.meta.classes],
    images: samples.length,
    matrix: cm,
  };
}
