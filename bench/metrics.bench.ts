// ConfusionMatrix.process throughput on full Cityscapes-size label pairs (2048x1024, 19 classes, ~5% ignored).
import { ConfusionMatrix } from "@adaptseg/metrics";

export async function run(): Promise<void> {
  const w = 2048;
  const h = 1024;
  const n = 19;
  let seed = 1;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const gt = new Uint8Array(w * h);
  const pred = new Uint8Array(w * h);
  for (let i = 0; i < gt.length; i++) {
    gt[i] = rand() < 0.05 ? 255 : Math.floor(rand() * n);
    pred[i] = rand() < 0.8 ? (gt[i] === 255 ? 0 : gt[i]!) : Math.floor(rand() * n);
  }
  new ConfusionMatrix(n).process(gt, pred); // warm up
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    new ConfusionMatrix(n).process(gt, pred);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = times[times.length >> 1]!;
  console.log(JSON.stringify({ bench: "metrics", op: "ConfusionMatrix.process", width: w, height: h, classes: n, reps: times.length, medianMs: +ms.toFixed(2), mpixelPerSec: +(gt.length / ms / 1e3).toFixed(1) }));
}
