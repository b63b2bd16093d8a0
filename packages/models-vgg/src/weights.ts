// ImageNet VGG-16 weights in (SPEC 1): they initialise the 13 convs; fc6, fc7 and the ASPP heads
// stay freshly initialised. Two formats:
//  - `.safetensors` with torchvision names `features.N.weight` (OIHW) / `features.N.bias`
//    (core's decoder: F32, F16, BF16);
//  - the TF.js layers format: `model.json` whose `weightsManifest` lists groups of shard files
//    (`paths`, concatenated in order) and their tensors (`weights: [{name, shape, dtype}]`), e.g. a
//    Keras VGG16 converted with tfjs-converter: `block1_conv1/kernel` (HWIO) ... `block5_conv3/bias`.
// Missing and mis-shaped tensors, and tensors that are neither a conv of the network nor part of
// VGG-16's ImageNet classifier (torchvision `classifier.*`, Keras `fc1`, `fc2`, `predictions`,
// which are skipped), are all listed by name in one error.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { loadWeights, type RawTensor } from "@adaptseg/core";

/** The 13 VGG-16 convs: torchvision index N, Keras block/conv, cin, cout. */
const VGG16 = [
  [0, 1, 1, 3, 64],
  [2, 1, 2, 64, 64],
  [5, 2, 1, 64, 128],
  [7, 2, 2, 128, 128],
  [10, 3, 1, 128, 256],
  [12, 3, 2, 256, 256],
  [14, 3, 3, 256, 256],
  [17, 4, 1, 256, 512],
  [19, 4, 2, 512, 512],
  [21, 4, 3, 512, 512],
  [24, 5, 1, 512, 512],
  [26, 5, 2, 512, 512],
  [28, 5, 3, 512, 512],
] as const;

/** Tensors of the ImageNet classifier that VGG-16 files carry and we skip (SPEC 1: fc6/fc7/classifier are fresh). */
const SKIPPED = /^(classifier\.\d+\.(weight|bias)|(.*\/)?(fc1|fc2|predictions)\/(kernel|bias)(:0)?)$/;

/** Our weight name -> HWIO tensor, for `features.N.weight` and `features.N.bias` of the 13 convs. */
export type ImagenetWeights = Map<string, RawTensor>;

/** [O,I,H,W] -> [H,W,I,O]. */
export function oihwToHwio(data: ArrayLike<number>, [o, i, h, w]: number[]): Float32Array {
  const out = new Float32Array(o! * i! * h! * w!);
  for (let a = 0; a < o!; a++) for (let b = 0; b < i!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((y * w! + x) * i! + b) * o! + a] = data[((a * i! + b) * h! + y) * w! + x]!;
  return out;
}

const same = (a: number[], b: readonly number[]) => a.length === b.length && a.every((v, k) => v === b[k]);

/**
 * Picks the 13 convs out of `found` (file tensor names), checks every shape, converts to our names
 * and HWIO. `name(n, kind)` gives the file's name of torchvision conv index n; `hwio` says whether
 * the file's kernels are already HWIO.
 */
function collect(file: string, found: Map<string, RawTensor>, fileName: (conv: (typeof VGG16)[number], kind: "weight" | "bias") => string, hwio: boolean): ImagenetWeights {
  const out: ImagenetWeights = new Map();
  const missing: string[] = [];
  const misShaped: string[] = [];
  const used = new Set<string>();
  for (const conv of VGG16) {
    const [n, , , cin, cout] = conv;
    for (const kind of ["weight", "bias"] as const) {
      const name = fileName(conv, kind);
      const t = found.get(name);
      if (!t) {
        missing.push(name);
        continue;
      }
      used.add(name);
      const want = kind === "bias" ? [cout] : hwio ? [3, 3, cin, cout] : [cout, cin, 3, 3];
      if (!same(t.shape, want)) {
        misShaped.push(`${name} [${t.shape}] (expected [${want}])`);
        continue;
      }
      const data = kind === "weight" && !hwio ? oihwToHwio(t.data, t.shape) : t.data;
      out.set(`features.${n}.${kind}`, { dtype: "float32", shape: kind === "bias" ? [cout] : [3, 3, cin, cout], data });
    }
  }
  const extra = [...found.keys()].filter((k) => !used.has(k) && !SKIPPED.test(k));
  const problems = [missing.length && `missing ${missing.join(", ")}`, misShaped.length && `mis-shaped ${misShaped.join(", ")}`, extra.length && `unexpected ${extra.join(", ")}`].filter(Boolean);
  if (problems.length) throw new Error(`model.init: ${file} is not a VGG-16 ImageNet checkpoint: ${problems.join("; ")}`);
  return out;
}

/** A torchvision VGG-16 `.safetensors` file (`features.N.weight` OIHW, `features.N.bias`). */
export function readTorchvisionVgg16(file: string): ImagenetWeights {
  if (!existsSync(file)) throw new Error(`model.init: ${file} does not exist`);
  return collect(file, loadWeights(file).tensors, ([n], kind) => `features.${n}.${kind}`, false);
}

interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype?: string; quantization?: unknown }[];
}

/** Every tensor of a TF.js `model.json` + shards (float32 only), by manifest name. */
export function readTfjsWeights(modelJson: string): Map<string, RawTensor> {
  if (!existsSync(modelJson)) throw new Error(`model.init: ${modelJson} does not exist`);
  let manifest: ManifestGroup[];
  try {
    manifest = JSON.parse(readFileSync(modelJson, "utf8")).weightsManifest;
  } catch (e) {
    throw new Error(`model.init: ${modelJson} is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(manifest)) throw new Error(`model.init: ${modelJson} has no "weightsManifest" array (is it a TF.js model.json?)`);
  const out = new Map<string, RawTensor>();
  manifest.forEach((group, g) => {
    const where = `${modelJson}: weightsManifest[${g}]`;
    if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) throw new Error(`${where} needs "paths" and "weights" arrays`);
    const files = group.paths.map((p) => resolve(dirname(modelJson), p));
    for (const f of files) if (!existsSync(f) || !statSync(f).isFile()) throw new Error(`${where}: weight shard ${f} does not exist`);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    let off = 0;
    for (const w of group.weights) {
      if (w.quantization) throw new Error(`${where}: "${w.name}" is quantized; convert the model without quantization (float32)`);
      if ((w.dtype ?? "float32") !== "float32") throw new Error(`${where}: "${w.name}" has dtype ${w.dtype}; only float32 is supported`);
      const size = w.shape.reduce((a, b) => a * b, 1);
      if (off + 4 * size > bytes.length) throw new Error(`${where}: shards hold ${bytes.length} bytes, too few for "${w.name}" [${w.shape}] at byte ${off}`);
      const data = new Float32Array(size);
      for (let k = 0; k < size; k++) data[k] = bytes.readFloatLE(off + 4 * k);
      out.set(w.name, { dtype: "float32", shape: w.shape, data });
      off += 4 * size;
    }
    if (off !== bytes.length) throw new Error(`${where}: shards hold ${bytes.length} bytes but the manifest describes ${off}`);
  });
  return out;
}

/** A Keras VGG16 in the TF.js layers format (`blockB_convC/kernel` HWIO, `/bias`; a scope prefix or `:0` is allowed). */
export function readKerasVgg16(modelJson: string): ImagenetWeights {
  const raw = readTfjsWeights(modelJson);
  const found = new Map<string, RawTensor>();
  const key = (name: string) => /(block\d_conv\d\/(kernel|bias))(:0)?$/.exec(name)?.[1] ?? name;
  for (const [name, t] of raw) found.set(key(name), t);
  return collect(modelJson, found, ([, b, c], kind) => `block${b}_conv${c}/${kind === "weight" ? "kernel" : "bias"}`, true);
}

/** Reads ImageNet VGG-16 weights by file type: `.safetensors` (torchvision) or `.json` (TF.js layers). */
export function readImagenetWeights(file: string): ImagenetWeights {
  if (file.endsWith(".safetensors")) return readTorchvisionVgg16(file);
  if (file.endsWith(".json")) return readKerasVgg16(file);
  throw new Error(`model.init: ${file}: expected a .safetensors file (torchvision VGG-16) or a TF.js model.json`);
}
