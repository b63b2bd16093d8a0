// Seconds per training iteration for each strategy at 128x256 (CamVid frames resized), at 1/8 and
// full width (G and D), and the peak RSS of the process running it. Each case runs in its own
// child process, so the peak RSS is that case's alone. feature-level runs at 256x256: its D sees
// 1/8-size features through five stride-2 convs, which needs >= 32 px (128x256 gives 16x32).
// BENCH_TRAIN_ITERS timed iterations (default 2) follow one warm-up iteration.
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";

const repo = resolve(import.meta.dirname, "..");
const data = process.env.ADAPTSEG_DATA ?? resolve(repo, "../shared/data");
const iters = Number(process.env.BENCH_TRAIN_ITERS ?? 2);
const widths = (process.env.BENCH_TRAIN_WIDTHS ?? "0.125,1").split(",").map(Number);
const strategies = (process.env.BENCH_TRAIN_STRATEGIES ?? "source-only,output-space,multi-level,feature-level").split(",");

const child = `
import { train } from "@adaptseg/engine";
const [strategy, width, iters, data, out, w, h] = process.argv.slice(1);
const times = [];
const size = { width: Number(w), height: Number(h) };
const camvid = (options) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit: 8, options });
const r = await train({
  seed: 1, model: { type: "vgg16-deeplab", widthMultiplier: Number(width), auxHead: strategy === "multi-level" },
  discriminator: { type: "fc", widthMultiplier: Number(width) },
  adaptation: { type: strategy }, source: camvid({ excludeSequences: ["0001TP"] }), target: camvid({ sequences: ["0001TP"] }),
  training: { maxIters: 1000, stopIter: Number(iters) + 1, snapshotEvery: 1000 },
}, { outDir: out, dataRoot: data, onEvent: (e) => e.type === "start" ? (globalThis.backend = e.backend) : e.type === "iteration" && times.push(e.secPerIter) });
console.log(JSON.stringify({ times, backend: globalThis.backend, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
`;

export async function run(): Promise<void> {
  for (const width of widths)
    for (const strategy of strategies) {
      const [w, h] = strategy === "feature-level" ? [256, 256] : [256, 128];
      const out = mkdtempSync(resolve(tmpdir(), "adaptseg-bench-"));
      const load1 = loadavg()[0]!;
      const r = JSON.parse(
        execFileSync(process.execPath, ["--input-type=module", "-e", child, strategy, String(width), String(iters), data, out, String(w), String(h)], { cwd: resolve(repo, "test"), encoding: "utf8" })
          .trim()
          .split("\n")
          .at(-1)!,
      );
      rmSync(out, { recursive: true, force: true });
      const timed = (r.times as number[]).slice(1);
      const secPerIter = timed.reduce((a, b) => a + b, 0) / timed.length;
      const round = (x: number) => Math.round(x * 1000) / 1000;
      console.log(
        JSON.stringify({
          bench: "train-iteration",
          size: `${h}x${w}`,
          strategy,
          widthMultiplier: width,
          backend: r.backend,
          secPerIter: round(secPerIter),
          timedIters: timed.length,
          firstIterSec: round(r.times[0]),
          peakRssMb: Math.round(r.maxRssMb),
          load1: Math.round(load1 * 100) / 100,
        }),
      );
    }
}
