// ConfusionMatrix.process throughput on full Cityscapes-size label pairs (2048x1024, 19 classes, ~5% ignored).
import { ConfusionMatrix } from "@adaptseg/metrics";

export async function run(): Promise<void> {
  const w = 2048;
  const h = 1024;
  const n = 19;
  let seed = 1;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const gt = new Uint8Array(w * h);
  const pred = new Uint8Array(w * h);
  for (let i = 0; i < gt.length; i++) {
    gt[i] = rand() < 0.05 ? 255 : Math.floor(rand() * n);
    pred[i] = rand() < 0.8 ? (gt[i] === 255 ? 0 : gt[i]!) : Math.floor(rand() * n);
  }
  new ConfusionMatrix(n).process(gt, pred); // warm up
  // Wall time, and process CPU time too: the shared 2-core machine is often loaded, which inflates wall time.
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    new ConfusionMatrix(n).process(gt, pred);
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1e3);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  const ms = median(wall);
  const cpuMs = median(cpu);
  const rate = (t: number) => +(gt.length / t / 1e3).toFixed(1);
  console.log(
    JSON.stringify({
      bench: "metrics",
      op: "ConfusionMatrix.process",
      width: w,
      height: h,
      classes: n,
      reps: wall.length,
      medianMs: +ms.toFixed(2),
      mpixelPerSec: rate(ms),
      cpuMs: +cpuMs.toFixed(2),
      mpixelPerCpuSec: rate(cpuMs),
    }),
  );
}
