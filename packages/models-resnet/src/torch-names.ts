// From the names and layouts of checkpoint files to our weights: the official DeeplabMulti (and
// the DeepLab init's `Scale.` prefix), the official DeeplabVGG, torchvision's VGG-16, and our own
// checkpoints (`G/` prefix). PyTorch conv kernels are OIHW; TF.js wants HWIO. Every problem
// (missing, unexpected and mis-shaped tensors) is listed by name in one error. No TF.js here.

/** A tensor as the readers return it (core's RawTensor and pth's TorchTensor both fit). */
export interface FileTensor {
  shape: number[];
  data: Float32Array;
}

/** One weight of the network: its name and TF.js shape. */
export type Expected = Map<string, number[]>;

/** [O,I,H,W] -> [H,W,I,O]. */
export function oihwToHwio(data: ArrayLike<number>, [o, i, h, w]: number[]): Float32Array {
  const out = new Float32Array(o! * i! * h! * w!);
  for (let a = 0; a < o!; a++) for (let b = 0; b < i!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((y * w! + x) * i! + b) * o! + a] = data[((a * i! + b) * h! + y) * w! + x]!;
  return out;
}

const hwioToOihw = ([h, w, i, o]: number[]) => [o!, i!, h!, w!];
const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, k) => v === b[k]);

export interface FitOptions {
  /** Names the file in errors. */
  source: string;
  /** File name -> our weight name; `null` skips the tensor on purpose (a head of another task, a counter). */
  rename(fileName: string): string | null;
  /** "oihw": PyTorch files (4-D kernels transposed); "hwio": our own checkpoints. */
  layout: "oihw" | "hwio";
  /** Which of our weights must be in the file (default: all). */
  required?(name: string): boolean;
  /** What the file is expected to be, for the error message. */
  what?: string;
}

/**
 * Our weights from a file's tensors. Throws one error naming every missing, unexpected and
 * mis-shaped tensor (shapes in the file's layout). Returns our name -> tensor in TF.js layout.
 */
export function fitWeights(found: Map<string, FileTensor>, expected: Expected, o: FitOptions): Map<string, FileTensor> {
  const out = new Map<string, FileTensor>();
  const from = new Map<string, string>();
  const unexpected: string[] = [],
    misShaped: string[] = [],
    duplicate: string[] = [];
  for (const [fileName, t] of found) {
    const name = o.rename(fileName);
    if (name === null) continue;
    const want = expected.get(name);
    if (!want) {
      unexpected.push(`${fileName} [${t.shape}]`);
      continue;
    }
    if (from.has(name)) {
      duplicate.push(`${fileName} and ${from.get(name)} (both ${name})`);
      continue;
    }
    from.set(name, fileName);
    const transpose = o.layout === "oihw" && want.length === 4;
    const fileWant = transpose ? hwioToOihw(want) : want;
    if (!same(t.shape, fileWant)) {
      misShaped.push(`${fileName} [${t.shape}] (expected [${fileWant}])`);
      continue;
    }
    out.set(name, { shape: want.slice(), data: transpose ? oihwToHwio(t.data, t.shape) : t.data });
  }
  const missing = [...expected.keys()].filter((n) => !from.has(n) && (o.required?.(n) ?? true));
  const problems = [
    missing.length && `missing ${missing.join(", ")}`,
    misShaped.length && `mis-shaped ${misShaped.join(", ")}`,
    unexpected.length && `unexpected ${unexpected.join(", ")}`,
    duplicate.length && `duplicate ${duplicate.join("; ")}`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`${o.source}${o.what ? ` (read as ${o.what})` : ""}: the weights do not fit the network: ${problems.join("; ")}`);
  return out;
}

/** Prefixes a file may put before the network's own names: DataParallel, the DeepLab init, our checkpoints. */
const PREFIX = /^(module\.|Scale\.|G\/)+/;

/**
 * Names of a DeeplabMulti state_dict (official training checkpoints, the DeepLab init, ours) ->
 * ours (the same names). `heads: false` skips the heads (`layer5`, `layer6`, and a classifier `fc`:
 * the DeepLab init's `layer5` is a 21-class head on layer4), for initialising the backbone only.
 * `auxHead: false` skips `layer5`, the aux head an official single-level model still carries.
 */
export function deeplabMultiRename(opts: { heads: boolean; auxHead: boolean }): (n: string) => string | null {
  return (fileName) => {
    const n = fileName.replace(PREFIX, "");
    if (n.endsWith(".num_batches_tracked")) return null;
    if (!opts.heads && /^(layer5|layer6|fc)\./.test(n)) return null;
    if (!opts.auxHead && n.startsWith("layer5.")) return null;
    return n;
  };
}

/** torchvision `features.N` indices of the 13 VGG-16 convs (our VGG names use them too). */
export const VGG_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28] as const;

/** Whether a state_dict's names are the official DeeplabVGG's (features renumbered without pool4, fc6/fc7 inside features). */
export function isDeeplabVggNames(names: Iterable<string>): boolean {
  for (const n of names) if (/^(module\.)?(classifier\.conv2d_list\.|features\.(29|31)\.)/.test(n)) return true;
  return false;
}

/**
 * Names of a VGG-16 file -> our `vgg16-deeplab` names. Official DeeplabVGG: `features.0..21` as
 * torchvision, `features.23/25/27` (conv5, renumbered after pool4 was removed) -> `features.24/26/28`,
 * `features.29` -> `fc6`, `features.31` -> `fc7`, `classifier.conv2d_list.k` -> `classifier.k`.
 * torchvision VGG-16 (`deeplab: false`): `features.N` as is, its ImageNet `classifier.*` skipped.
 */
export function vggRename(deeplab: boolean): (n: string) => string | null {
  const conv5: Record<string, string> = { "23": "features.24", "25": "features.26", "27": "features.28", "29": "fc6", "31": "fc7" };
  return (fileName) => {
    const n = fileName.replace(PREFIX, "");
    if (!deeplab) return /^classifier\.\d+\./.test(n) ? null : n;
    const f = /^features\.(\d+)\.(weight|bias)$/.exec(n);
    if (f && conv5[f[1]!]) return `${conv5[f[1]!]}.${f[2]}`;
    const c = /^classifier\.conv2d_list\.(\d+)\.(weight|bias)$/.exec(n);
    if (c) return `classifier.${c[1]}.${c[2]}`;
    return n;
  };
}
