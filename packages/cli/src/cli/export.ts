// `adaptseg export`: a checkpoint's segmentation network G as an ONNX model that onnxruntime (or any
// ONNX runtime) runs without AdaptSeg: input image [batch, height, width, 3] (BGR minus the mean),
// outputs logits at the input size, the argmax mask and the coarse logits; classes, palette, input
// size and preprocessing in its metadata_props (engine's export.ts). The model is checked against
// TF.js on a random image at the input size before the command succeeds.
import { writeFileSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { defineCommand } from "../command.js";
import { stdout } from "./common.js";

/** Largest |ONNX - TF.js| logit allowed, relative to the largest |logit| (at least 1). */
export const EXPORT_TOLERANCE = 1e-4;

export default defineCommand({
  name: "export",
  description: "the checkpoint's segmentation network as an ONNX model (opset 17; classes, palette, input size, preprocessing in its metadata), checked against TF.js",
  options: {
    checkpoint: { type: "string", value: "file", required: true, description: "the checkpoint to export" },
    out: { type: "string", value: "file", description: "the .onnx file (default: the checkpoint's name with .onnx, in the current folder)" },
    size: { type: "size", minimum: 8, description: "the input size of the check (default: the checkpoint's training size, else 512x256)" },
    backend: { type: "string", value: "name", description: "compute backend of the TF.js side of the check" },
  },
  async run(v) {
    const { Predictor, OnnxSegmenter, compareOnnxWithTfjs } = await import("@adaptseg/engine");
    const out = resolve(v.out ?? `${basename(v.checkpoint, extname(v.checkpoint))}.onnx`);
    const p = await Predictor.open(v.checkpoint, { backend: v.backend, runtime: "tfjs" });
    try {
      const model = await p.toOnnx();
      writeFileSync(out, model);
      stdout.write(`wrote ${out} (${(model.length / 2 ** 20).toFixed(1)} MiB, ${p.meta.model.type}, ${p.meta.classes.length} classes, iteration ${p.meta.iteration})\n`);
      const size = v.size ?? p.inputSize ?? { width: 512, height: 256 };
      const onnx = await OnnxSegmenter.create(model).catch((e: Error) => e);
      if (onnx instanceof Error) {
        stdout.write(`not checked: ${onnx.message}\n`);
        return;
      }
      try {
        const d = await compareOnnxWithTfjs(p.net, onnx, size.height, size.width);
        const tol = EXPORT_TOLERANCE * Math.max(1, d.maxAbs);
        stdout.write(
          `check at ${size.width}x${size.height}: max |onnxruntime - TF.js| ${d.coarse.toExponential(2)} (coarse logits), ${d.logits.toExponential(2)} (upsampled); max |logit| ${d.maxAbs.toFixed(2)}\n`,
        );
        if (!(d.coarse <= tol && d.logits <= tol)) throw new Error(`${out}: onnxruntime and TF.js differ by more than ${tol.toExponential(2)}`);
      } finally {
        onnx.dispose();
      }
    } finally {
      p.dispose();
    }
  },
});
