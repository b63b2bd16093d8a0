// `adaptseg eval`: a checkpoint on the config's evaluation set (else its target).
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DataPipeline } from "@adaptseg/core";
import { defineCommand } from "../command.js";
import { loadConfig, stdout } from "./common.js";

export default defineCommand({
  name: "eval",
  description: "per-class IoU table, `metrics.json`, train-id and colour PNGs",
  options: {
    config: { type: "string", value: "file", required: true, description: "the experiment config: its evaluation dataset (else its target)" },
    checkpoint: {
      type: "string",
      value: "file",
      required: true,
      description: "an AdaptSeg checkpoint, a .onnx model from `export`, or weights the config's backbone reads (an official PyTorch .pth)",
    },
    out: { type: "string", value: "dir", default: "eval", description: "where metrics.json and predictions/ go" },
    limit: { type: "integer", minimum: 1, description: "evaluate at most n images" },
    data: { type: "string", value: "dir", description: "data root for relative dataset roots (else ADAPTSEG_DATA)" },
    backend: { type: "string", value: "name", description: "compute backend" },
    runtime: { type: "string", choices: ["onnx", "tfjs"], description: "where the network runs (default: onnx where onnxruntime-node loads, else tfjs)" },
  },
  async run(v) {
    const { config, baseDir } = loadConfig(v.config);
    const { Predictor, evaluate, isCheckpoint, isOnnxFile, checkEvaluationClasses } = await import("@adaptseg/engine");
    const { formatTable } = await import("@adaptseg/metrics");
    const dsCfg = config.evaluation?.dataset ?? config.target;
    const opts = { backend: v.backend, baseDir, runtime: v.runtime as "onnx" | "tfjs" | undefined };
    const p = isOnnxFile(v.checkpoint) || isCheckpoint(v.checkpoint) ? await Predictor.open(v.checkpoint, opts) : await Predictor.fromWeights(config, v.checkpoint, opts);
    try {
      const pipeline = p.container.get<DataPipeline>(DataPipeline);
      const ds = await pipeline.open(dsCfg, { dataRoot: v.data, baseDir });
      const out = resolve(v.out);
      mkdirSync(out, { recursive: true });
      checkEvaluationClasses(config.evaluation?.classes, ds.meta);
      // The config's upsampling (align-corners for the official checkpoints: SPEC section 1).
      const mode = config.model.upsample === "align-corners" ? "align-corners" : "half-pixel";
      const predict = (img: Parameters<typeof p.predictIds>[0], h: number, w: number) => p.predictIds(img, h, w, mode);
      const r = await evaluate(predict, pipeline, ds, { size: dsCfg.size, classes: config.evaluation?.classes, outDir: join(out, "predictions"), limit: v.limit });
      stdout.write(formatTable(r.matrix, { classNames: r.classes, classes: config.evaluation?.classes, format: "console" }) + "\n");
      stdout.write(`mIoU ${r.miou.toFixed(2)} over ${r.images} images (${p.runtime === "onnx" ? "onnxruntime" : `TF.js ${p.backend}`})\n`);
      const json = { checkpoint: resolve(v.checkpoint), iteration: p.meta.iteration, dataset: dsCfg, images: r.images, miou: r.miou, pixelAccuracy: r.pixelAccuracy, perClass: r.perClassByName };
      writeFileSync(join(out, "metrics.json"), JSON.stringify(json, null, 2) + "\n");
      stdout.write(`wrote ${join(out, "metrics.json")} and ${join(out, "predictions")}/\n`);
    } finally {
      p.dispose();
    }
  },
});
