// A streaming confusion matrix (SPEC section 4): rows = ground truth, columns = prediction.
// - gt outside [0, n) (e.g. 255) is ignored: the pixel is not evaluated.
// - pred outside [0, n) (or not an integer) at an evaluated pixel is an ERROR: a network over n
//   classes cannot predict it, so it means mismatched class spaces. pred at ignored pixels is not checked.
// - `process` is atomic: on error the matrix is unchanged.
// One pass over the arrays, no per-pixel allocation: the evaluation is bandwidth-bound. Two Uint8
// inputs take a branch-free path that counts all 256x256 (gt, pred) pairs and folds them afterwards.

export interface MetricsResult {
  /** Per-class IoU in [0, 1] for all n classes; NaN where the class never occurs (union 0). */
  iou: number[];
  /** Per-class accuracy (recall, diag / rowsum); NaN where the class is absent from gt. */
  accuracy: number[];
  /** nanmean of iou over `classes`. */
  miou: number;
  /** Correct / evaluated pixels (all n classes). */
  pixelAccuracy: number;
  /** nanmean of accuracy over `classes`. */
  meanClassAccuracy: number;
  /** The classes averaged. */
  classes: number[];
  /** Pixels evaluated (gt in [0, n)). */
  pixels: number;
}

/** SYNTHIA -> Cityscapes protocols, as train-id lists in the 19-class space. */
export const CITYSCAPES_19 = Array.from({ length: 19 }, (_, i) => i);
/** Without terrain (9), truck (14) and train (16), which SYNTHIA lacks. */
export const CITYSCAPES_16 = CITYSCAPES_19.filter((c) => ![9, 14, 16].includes(c));
/** The 16 without wall (3), fence (4) and pole (5). */
export const CITYSCAPES_13 = CITYSCAPES_16.filter((c) => ![3, 4, 5].includes(c));

type Labels = ArrayLike<number>;
const isBytes = (a: Labels): a is Uint8Array => a instanceof Uint8Array || a instanceof Uint8ClampedArray;

/** NaN-skipping mean; NaN when nothing is left. */
export function nanmean(xs: readonly number[]): number {
  let s = 0;
  let k = 0;
  for (const x of xs) {
    if (Number.isNaN(x)) continue;
    s += x;
    k++;
  }
  return k ? s / k : NaN;
}

export class ConfusionMatrix {
  /** hist[gt * n + pred]. Float64 so counts stay exact far past 2^32 pixels. */
  readonly hist: Float64Array;
  /** Per-call scratch counters (n*n generic, 256*256 for the Uint8 path), folded into hist. */
  private small?: Uint32Array;
  private wide?: Uint32Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1 || n > 255) throw new Error(`ConfusionMatrix: class count must be an integer in 1..255, got ${n}`);
    this.hist = new Float64Array(n * n);
  }

  /** Accumulates one (gt, pred) pair of label maps of the same length. */
  process(gt: Labels, pred: Labels): this {
    if (gt.length !== pred.length) throw new Error(`ConfusionMatrix.process: gt has ${gt.length} pixels, pred ${pred.length}`);
    // Uint32 scratch counters overflow past 2^32 per cell: work in chunks below that.
    const chunk = 0x7fffffff;
    for (let s = 0; s < gt.length; s += chunk) {
      const e = Math.min(gt.length, s + chunk);
      if (isBytes(gt) && isBytes(pred)) this.bytes(gt, pred, s, e);
      else this.generic(gt, pred, s, e);
    }
    return this;
  }

  private bytes(gt: Uint8Array, pred: Uint8Array, s: number, e: number): void {
    const n = this.n;
    const w = (this.wide ??= new Uint32Array(65536));
    countPairs(w, gt, pred, s, e);
    // Check before touching hist so that an error leaves the matrix unchanged.
    for (let g = 0; g < n; g++)
      for (let p = n; p < 256; p++)
        if (w[(g << 8) | p]) {
          const at = findPixel(gt, pred, s, e, n, p);
          w.fill(0);
          throw new Error(`ConfusionMatrix.process: prediction ${p} at pixel ${at} is outside [0, ${n})`);
        }
    const h = this.hist;
    for (let g = 0; g < n; g++) for (let p = 0; p < n; p++) h[g * n + p]! += w[(g << 8) | p]!;
    w.fill(0);
  }

  private generic(gt: Labels, pred: Labels, s: number, e: number): void {
    const n = this.n;
    const c = (this.small ??= new Uint32Array(n * n));
    for (let i = s; i < e; i++) {
      const g = gt[i]!;
      if (!(g >= 0 && g < n)) continue; // also skips NaN
      const p = pred[i]!;
      if (!(p >= 0 && p < n) || p !== Math.floor(p) || g !== Math.floor(g)) {
        c.fill(0);
        const what = g !== Math.floor(g) ? `ground truth ${g}` : `prediction ${p}`;
        throw new Error(`ConfusionMatrix.process: ${what} at pixel ${i} is not an integer in [0, ${n})`);
      }
      c[g * n + p]++;
    }
    const h = this.hist;
    for (let k = 0; k < c.length; k++) h[k]! += c[k]!;
    c.fill(0);
  }

  /** Adds another matrix of the same size (parallel evaluation). */
  merge(other: ConfusionMatrix): this {
    if (other.n !== this.n) throw new Error(`ConfusionMatrix.merge: ${other.n} classes vs ${this.n}`);
    for (let k = 0; k < this.hist.length; k++) this.hist[k]! += other.hist[k]!;
    return this;
  }

  reset(): this {
    this.hist.fill(0);
    return this;
  }

  /** Metrics; `classes` picks the subset averaged into mIoU and mean accuracy (default all n). */
  compute(opts: { classes?: readonly number[] } = {}): MetricsResult {
    const n = this.n;
    const h = this.hist;
    const classes = [...(opts.classes ?? Array.from({ length: n }, (_, i) => i))];
    for (const c of classes) if (!(Number.isInteger(c) && c >= 0 && c < n)) throw new Error(`ConfusionMatrix.compute: class ${c} is not in [0, ${n})`);
    const iou: number[] = [];
    const accuracy: number[] = [];
    let diag = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let row = 0;
      let col = 0;
      for (let j = 0; j < n; j++) {
        row += h[i * n + j]!;
        col += h[j * n + i]!;
      }
      const d = h[i * n + i]!;
      diag += d;
      total += row;
      const union = row + col - d;
      iou.push(union > 0 ? d / union : NaN);
      accuracy.push(row > 0 ? d / row : NaN);
    }
    return {
      iou,
      accuracy,
      miou: nanmean(classes.map((c) => iou[c]!)),
      pixelAccuracy: total > 0 ? diag / total : NaN,
      meanClassAccuracy: nanmean(classes.map((c) => accuracy[c]!)),
      classes,
      pixels: total,
    };
  }

  toJSON(): { n: number; hist: number[] } {
    return { n: this.n, hist: Array.from(this.hist) };
  }

  static fromJSON(j: { n: number; hist: readonly number[] }): ConfusionMatrix {
    if (!j || !Array.isArray(j.hist)) throw new Error("ConfusionMatrix.fromJSON: expected { n, hist: number[] }");
    const m = new ConfusionMatrix(j.n);
    if (j.hist.length !== j.n * j.n) throw new Error(`ConfusionMatrix.fromJSON: hist has ${j.hist.length} entries, ${j.n} classes need ${j.n * j.n}`);
    j.hist.forEach((v, k) => {
      if (!(Number.isInteger(v) && v >= 0)) throw new Error(`ConfusionMatrix.fromJSON: hist[${k}] = ${v} is not a count`);
    });
    m.hist.set(j.hist);
    return m;
  }
}

/**
 * w[(gt << 8) | pred]++ for every pixel in [s, e). Where both arrays share the same alignment, four pixels
 * are read per Uint32 word (~2x faster); byte k of a gt word pairs with byte k of the pred word on any endianness.
 */
function countPairs(w: Uint32Array, gt: Uint8Array, pred: Uint8Array, s: number, e: number): void {
  let i = s;
  if ((gt.byteOffset - pred.byteOffset) % 4 === 0) {
    for (; i < e && (gt.byteOffset + i) % 4 !== 0; i++) w[(gt[i]! << 8) | pred[i]!]!++;
    const words = (e - i) >> 2;
    if (words > 0) {
      const g32 = new Uint32Array(gt.buffer, gt.byteOffset + i, words);
      const p32 = new Uint32Array(pred.buffer, pred.byteOffset + i, words);
      for (let j = 0; j < words; j++) {
        const G = g32[j]!;
        const P = p32[j]!;
        w[((G & 0xff) << 8) | (P & 0xff)]!++;
        w[(G & 0xff00) | ((P >>> 8) & 0xff)]!++;
        w[((G >>> 8) & 0xff00) | ((P >>> 16) & 0xff)]!++;
        w[((G >>> 16) & 0xff00) | (P >>> 24)]!++;
      }
      i += words * 4;
    }
  }
  for (; i < e; i++) w[(gt[i]! << 8) | pred[i]!]!++;
}

/** First evaluated pixel whose prediction is `p` (for the error message). */
function findPixel(gt: Uint8Array, pred: Uint8Array, s: number, e: number, n: number, p: number): number {
  for (let i = s; i < e; i++) if (gt[i]! < n && pred[i] === p) return i;
  return -1;
}

export type TableFormat = "console" | "markdown" | "csv" | "json";

/**
 * Per-class IoU table (percent, 2 decimals) plus mIoU, pixel accuracy and mean class accuracy.
 * Class names come from the dataset meta; absent classes print "-" (empty in CSV, null in JSON).
 */
export function formatTable(m: ConfusionMatrix, opts: { classNames: readonly string[]; classes?: readonly number[]; format?: TableFormat }): string {
  const r = m.compute({ classes: opts.classes });
  const pct = (x: number) => (Number.isNaN(x) ? null : Math.round(x * 10000) / 100);
  const rows = r.classes.map((c) => ({ name: opts.classNames[c] ?? String(c), iou: pct(r.iou[c]!), acc: pct(r.accuracy[c]!) }));
  const summary = { miou: pct(r.miou), pixelAccuracy: pct(r.pixelAccuracy), meanClassAccuracy: pct(r.meanClassAccuracy) };
  const cell = (x: number | null) => (x === null ? "-" : x.toFixed(2));
  const totals: [string, number | null][] = [
    ["mIoU", summary.miou],
    ["pixel accuracy", summary.pixelAccuracy],
    ["mean class accuracy", summary.meanClassAccuracy],
  ];
  switch (opts.format ?? "console") {
    case "json":
      return JSON.stringify({ perClass: Object.fromEntries(rows.map((x) => [x.name, x.iou])), ...summary, classes: r.classes, pixels: r.pixels });
    case "csv": {
      const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
      return ["class,iou,accuracy", ...rows.map((x) => `${q(x.name)},${x.iou ?? ""},${x.acc ?? ""}`), ...totals.map(([k, v]) => `${k},${v ?? ""},`)].join("\n");
    }
    case "markdown": {
      const esc = (s: string) => s.replace(/\|/g, "\\|");
      return [
        "| class | IoU | accuracy |",
        "|---|---:|---:|",
        ...rows.map((x) => `| ${esc(x.name)} | ${cell(x.iou)} | ${cell(x.acc)} |`),
        ...totals.map(([k, v]) => `| **${k}** | **${cell(v)}** | |`),
      ].join("\n");
    }
    case "console": {
      const w = Math.max(...[...rows.map((x) => x.name), ...totals.map(([k]) => k)].map((s) => s.length));
      return [
        `${"class".padEnd(w)}     IoU     acc`,
        ...rows.map((x) => `${x.name.padEnd(w)}  ${cell(x.iou).padStart(6)}  ${cell(x.acc).padStart(6)}`),
        ...totals.map(([k, v]) => `${k.padEnd(w)}  ${cell(v).padStart(6)}`),
      ].join("\n");
    }
    default:
      throw new Error(`formatTable: unknown format "${String(opts.format)}" (console, markdown, csv, json)`);
  }
}
