// Seconds per training iteration for each strategy at 128x256 (CamVid frames resized), at 1/8
// and full width, and the peak RSS of the process running it. Each case runs in its own process.
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const repo = resolve(import.meta.dirname, "..");
const data = process.env.ADAPTSEG_DATA ?? resolve(repo, "../shared/data");
const iters = Number(process.env.BENCH_TRAIN_ITERS ?? 3);
const widths = (process.env.BENCH_TRAIN_WIDTHS ?? "0.125,1").split(",").map(Number);

const child = `
import { train } from "@adaptseg/core";
const [strategy, width, iters, data, out] = process.argv.slice(1);
const times = [];
const size = { width: 256, height: 128 };
const camvid = (options) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit: 8, options });
await train({
  seed: 1, model: { type: "vgg16-deeplab", widthMultiplier: Number(width), auxHead: strategy === "multi-level" },
  adaptation: { type: strategy }, source: camvid({ excludeSequences: ["0001TP"] }), target: camvid({ sequences: ["0001TP"] }),
  training: { maxIters: 1000, stopIter: Number(iters) + 1, snapshotEvery: 1000 },
}, { outDir: out, dataRoot: data, onEvent: (e) => e.type === "iteration" && times.push(e.secPerIter) });
console.log(JSON.stringify({ times, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
`;

export async function run(): Promise<void> {
  for (const width of widths)
    for (const strategy of ["source-only", "output-space", "multi-level", "feature-level"]) {
      if (strategy === "feature-level") continue; // needs >= 256x256 inputs (five stride-2 convs on 1/8 features)
      const out = mkdtempSync(resolve(tmpdir(), "adaptseg-bench-"));
      const r = JSON.parse(
        execFileSync(process.execPath, ["--input-type=module", "-e", child, strategy, String(width), String(iters), data, out], { cwd: resolve(repo, "test"), encoding: "utf8" }).trim().split("\n").at(-1)!,
      );
      const steady = (r.times as number[]).slice(1).sort((a, b) => a - b);
      console.log(JSON.stringify({ bench: "train-iteration", size: "128x256", strategy, widthMultiplier: width, secPerIter: steady[steady.length >> 1], firstIterSec: r.times[0], peakRssMb: Math.round(r.maxRssMb) }));
    }
}
