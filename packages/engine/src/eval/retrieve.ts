// Cross-domain retrieval: embed images with the backbone's globally pooled features, find each
// query's k nearest neighbours (cosine), and score how mixed the two domains are (used by `retrieve`).
import * as tf from "@tensorflow/tfjs-core";
import { resizeNearest, type DataPipeline, type OpenedDataset, type RGB, type SegNetwork } from "@adaptseg/core";
import { encodePng } from "./index.js";

export type Domain = "source" | "target";

export const DOMAIN_COLORS: Record<Domain, RGB> = { source: [255, 140, 0], target: [30, 144, 255] };

/** Global average pool over H and W: one C-vector per batch item. */
export async function poolFeatures(features: tf.Tensor4D): Promise<Float32Array[]> {
  const [n, , , c] = features.shape;
  const pooled = features.mean([1, 2]);
  const flat = (await pooled.data().finally(() => pooled.dispose())) as Float32Array;
  return Array.from({ length: n }, (_, i) => flat.slice(i * c, (i + 1) * c));
}

export interface DomainMixing {
  /** Per item: indices of its k nearest other items, most similar first (ties by lower index). */
  neighbours: number[][];
  /** Mean fraction of other-domain neighbours over source queries (NaN when there are none). */
  source: number;
  /** Same over target queries. */
  target: number;
  /** Mean over all queries. */
  overall: number;
}

function normalize(v: Float32Array): Float64Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  return Float64Array.from(v, (x) => (n > 0 ? x / n : 0));
}

/** k nearest neighbours by cosine similarity and the fraction of neighbours from the other domain. */
export function domainMixing(embeddings: Float32Array[], domains: Domain[], k: number): DomainMixing {
  const n = embeddings.length;
  if (domains.length !== n) throw new Error(`domainMixing: ${n} embeddings but ${domains.length} domains`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`domainMixing: k must be a positive integer, got ${k}`);
  if (k > n - 1) throw new Error(`domainMixing: k=${k} needs at least ${k + 1} items, got ${n}`);
  const dim = embeddings[0]?.length;
  embeddings.forEach((e, i) => {
    if (e.length !== dim) throw new Error(`domainMixing: embedding ${i} has length ${e.length}, expected ${dim}`);
  });
  const unit = embeddings.map(normalize);
  const frac: Record<Domain, number[]> = { source: [], target: [] };
  const neighbours = unit.map((q, i) => {
    const sims = unit.map((u, j) => ({ j, s: u.reduce((a, x, d) => a + x * q[d]!, 0) })).filter((o) => o.j !== i);
    sims.sort((a, b) => b.s - a.s || a.j - b.j);
    const nn = sims.slice(0, k).map((o) => o.j);
    frac[domains[i]!].push(nn.filter((j) => domains[j] !== domains[i]).length / k);
    return nn;
  });
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  return { neighbours, source: mean(frac.source), target: mean(frac.target), overall: mean([...frac.source, ...frac.target]) };
}

export interface Thumb {
  rgb: Uint8Array;
  width: number;
  height: number;
  domain: Domain;
}

/**
 * A PNG grid: one row per query (query first, then its neighbours), each thumbnail resized to
 * `cell` and framed by a `border`-pixel frame in its domain's colour; `gap` white pixels between cells.
 */
export function contactSheet(
  rows: { query: Thumb; neighbours: Thumb[] }[],
  opts: { cell?: { width: number; height: number }; border?: number; gap?: number } = {},
): { png: Uint8Array; width: number; height: number } {
  const { width: cw, height: ch } = opts.cell ?? { width: 96, height: 72 };
  const b = opts.border ?? 3;
  const gap = opts.gap ?? 4;
  const cols = Math.max(1, ...rows.map((r) => 1 + r.neighbours.length));
  const pw = cw + 2 * b,
    ph = ch + 2 * b;
  const width = gap + cols * (pw + gap),
    height = gap + Math.max(1, rows.length) * (ph + gap);
  const img = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((r, ri) =>
    [r.query, ...r.neighbours].forEach((t, ci) => {
      if (t.rgb.length !== t.width * t.height * 3) throw new Error(`contactSheet: row ${ri} cell ${ci}: rgb has ${t.rgb.length} bytes, expected ${t.width}x${t.height}x3`);
      const x0 = gap + ci * (pw + gap),
        y0 = gap + ri * (ph + gap);
      const color = DOMAIN_COLORS[t.domain];
      for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) img.set(color, ((y0 + y) * width + x0 + x) * 3);
      const small = resizeNearest(t.rgb, t.width, t.height, 3, cw, ch);
      for (let y = 0; y < ch; y++) img.set(small.subarray(y * cw * 3, (y + 1) * cw * 3), ((y0 + b + y) * width + x0 + b) * 3);
    }),
  );
  return { png: encodePng(img, width, height, 3), width, height };
}

/**
 * Pooled backbone features of each sample's image (resized to `size`), one forward pass per image,
 * plus a small RGB thumbnail (at most `thumbWidth` wide) for contact sheets.
 */
export async function embedDataset(
  predictor: { net: SegNetwork; pipeline: DataPipeline },
  ds: OpenedDataset,
  size?: { width: number; height: number },
  opts: { limit?: number; thumbWidth?: number } = {},
): Promise<{ embeddings: Float32Array[]; thumbs: Omit<Thumb, "domain">[]; ids: string[] }> {
  const out = { embeddings: [] as Float32Array[], thumbs: [] as Omit<Thumb, "domain">[], ids: [] as string[] };
  for (const s of ds.samples.slice(0, opts.limit)) {
    const img = await predictor.pipeline.readImage(s.image, size);
    const f = tf.tidy(() => {
      const f = predictor.net.apply(tf.tensor4d(img.input, [1, img.height, img.width, 3])).features;
      if (!f) throw new Error("embedDataset: the network returns no backbone features");
      return f;
    });
    const [emb] = await poolFeatures(f).finally(() => f.dispose());
    out.embeddings.push(emb!);
    const tw = Math.min(img.origWidth, opts.thumbWidth ?? 160);
    const th = Math.max(1, Math.round((img.origHeight * tw) / img.origWidth));
    out.thumbs.push({ rgb: resizeNearest(img.rgb, img.origWidth, img.origHeight, 3, tw, th), width: tw, height: th });
    out.ids.push(s.id);
  }
  return out;
}
