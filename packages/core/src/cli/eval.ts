import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { formatTable } from "@adaptseg/metrics";
import { DataPipeline } from "../contracts.js";
import { Predictor } from "../predict.js";
import { evaluate } from "../train/evaluate.js";
import { loadConfig, intOption } from "./common.js";

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: { config: { type: "string" }, checkpoint: { type: "string" }, out: { type: "string" }, backend: { type: "string" }, data: { type: "string" }, limit: { type: "string" } },
  });
  const { config, baseDir } = loadConfig(v.config);
  if (!v.checkpoint) throw new Error("--checkpoint <file> is required");
  const dsCfg = config.evaluation?.dataset ?? config.target;
  const p = await Predictor.open(v.checkpoint, { backend: v.backend, baseDir });
  try {
    const pipeline = p.container.get<DataPipeline>(DataPipeline);
    const ds = await pipeline.open(dsCfg, { dataRoot: v.data, baseDir });
    const out = resolve(v.out ?? "eval");
    mkdirSync(out, { recursive: true });
    const r = await evaluate(p.net, pipeline, ds, { size: dsCfg.size, classes: config.evaluation?.classes, outDir: join(out, "predictions"), limit: intOption(v.limit, "--limit") });
    process.stdout.write(formatTable(r.matrix, { classNames: r.classes, classes: config.evaluation?.classes, format: "console" }) + "\n");
    process.stdout.write(`mIoU ${r.miou.toFixed(2)} over ${r.images} images\n`);
    const json = { checkpoint: resolve(v.checkpoint), iteration: p.meta.iteration, dataset: dsCfg, images: r.images, miou: r.miou, pixelAccuracy: r.pixelAccuracy, perClass: r.perClassByName };
    writeFileSync(join(out, "metrics.json"), JSON.stringify(json, null, 2) + "\n");
    process.stdout.write(`wrote ${join(out, "metrics.json")} and ${join(out, "predictions")}/\n`);
  } finally {
    p.dispose();
  }
  return 0;
}
