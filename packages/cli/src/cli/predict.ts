// `adaptseg predict`: mask, colour and overlay PNGs per image. Outputs keep the inputs apart: they
// mirror the inputs' folders below the folder all inputs share (inputs from one folder: flat), and
// two inputs that would still write the same files (a.png and a.jpg) are refused before any is written.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { defineCommand, UsageError } from "../command.js";
import { stdout } from "./common.js";

/** The folder every file lies under (its longest common ancestor). */
function commonFolder(files: string[]): string {
  const parts = files.map((f) => dirname(f).split(sep));
  const first = parts[0]!;
  let n = 0;
  while (n < first.length && parts.every((p) => p[n] === first[n])) n++;
  return first.slice(0, n).join(sep) || sep;
}

/** Output stem (relative to --out) per input; throws when two inputs would share one. */
export function outputStems(inputs: string[]): Map<string, string> {
  const files = [...new Set(inputs.map((f) => resolve(f)))];
  const root = commonFolder(files);
  const stems = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const f of files) {
    let rel = relative(root, f);
    if (!rel || rel.startsWith("..") || isAbsolute(rel)) rel = f.slice(f.lastIndexOf(sep) + 1); // no shared folder (another drive)
    const stem = rel.slice(0, rel.length - extname(rel).length);
    const other = owner.get(stem);
    if (other) throw new UsageError(`${other} and ${f} would both write ${stem}_{mask,color,overlay}.png; predict them separately (or with different --out)`);
    owner.set(stem, f);
    stems.set(f, stem);
  }
  return stems;
}

export default defineCommand({
  name: "predict",
  description: "mask, colour and overlay PNGs per image (inputs from several folders keep their relative paths)",
  options: {
    checkpoint: { type: "string", value: "file", required: true, description: "the checkpoint to predict with, or a .onnx model from `export`" },
    out: { type: "string", value: "dir", default: "predictions", description: "output folder" },
    size: { type: "size", minimum: 8, description: "network input size (default: the checkpoint's training size)" },
    alpha: { type: "number", minimum: 0, maximum: 1, default: 0.5, description: "mask opacity in the overlay" },
    backend: { type: "string", value: "name", description: "compute backend" },
    runtime: { type: "string", choices: ["onnx", "tfjs"], description: "where the network runs (default: onnx where onnxruntime-node loads, else tfjs)" },
  },
  positionals: { name: "image", multiple: true, required: true, description: "image files (png, jpg)" },
  async run(v) {
    const stems = outputStems(v._);
    const out = resolve(v.out);
    const { Predictor } = await import("@adaptseg/engine");
    const p = await Predictor.open(v.checkpoint, { backend: v.backend, runtime: v.runtime as "onnx" | "tfjs" | undefined });
    try {
      for (const [file, stem] of stems) {
        const s = await p.segment(file, v.size ?? p.inputSize);
        const png = p.render(s, v.alpha);
        const base = join(out, stem);
        mkdirSync(dirname(base), { recursive: true });
        writeFileSync(`${base}_mask.png`, png.mask);
        writeFileSync(`${base}_color.png`, png.color);
        writeFileSync(`${base}_overlay.png`, png.overlay);
        const top = s.legend
          .slice(0, 5)
          .map((e) => `${e.name} ${(e.share * 100).toFixed(1)}%`)
          .join(", ");
        stdout.write(`${file} -> ${base}_{mask,color,overlay}.png  (${top})\n`);
      }
    } finally {
      p.dispose();
    }
  },
});
