// Checkpoints: one safetensors file holding G, every D, both optimisers' state, and a JSON
// metadata header (config, iteration, loader/RNG state). Written atomically; the last K are kept.
import * as tf from "@tensorflow/tfjs-core";
import { readdirSync, unlinkSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadWeights, saveWeights, type RawTensor } from "../io/safetensors.js";
import type { Network } from "../contracts.js";
import type { Optimizer } from "./optim.js";

export const CHECKPOINT_FORMAT = "adaptseg-checkpoint/1";
const NAME = /^ckpt-(\d{8})\.safetensors$/;

export interface CheckpointMeta {
  format: string;
  iteration: number;
  config: Record<string, unknown>;
  /** Backbone options needed to rebuild G (type, numClasses, widthMultiplier, ...). */
  model: Record<string, unknown> & { type: string; numClasses: number };
  classes: string[];
  palette: [number, number, number][];
  optimizers: Record<string, Record<string, unknown>>;
  loaders: Record<string, Record<string, unknown>>;
}

export function checkpointPath(dir: string, iteration: number): string {
  return join(dir, `ckpt-${String(iteration).padStart(8, "0")}.safetensors`);
}

/** Checkpoints in `dir`, newest last. */
export function listCheckpoints(dir: string): { file: string; iteration: number }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => ({ m: NAME.exec(f), f }))
    .filter((x) => x.m)
    .map((x) => ({ file: join(dir, x.f), iteration: Number(x.m![1]) }))
    .sort((a, b) => a.iteration - b.iteration);
}

export function saveCheckpoint(
  dir: string,
  parts: { G: Network; D: Map<string, Network>; optimizers: Record<string, Optimizer> },
  meta: Omit<CheckpointMeta, "format" | "optimizers">,
  keep = 3,
): string {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [n, v] of parts.G.weights) tensors[`G/${n}`] = v;
  for (const [level, d] of parts.D) for (const [n, v] of d.weights) tensors[`D/${level}/${n}`] = v;
  const optimizers: Record<string, Record<string, unknown>> = {};
  for (const [k, o] of Object.entries(parts.optimizers)) {
    const s = o.state();
    for (const [n, t] of Object.entries(s.tensors)) tensors[`opt/${k}/${n}`] = t;
    optimizers[k] = s.json;
  }
  const file = checkpointPath(dir, meta.iteration);
  saveWeights(file, tensors, { adaptseg: { format: CHECKPOINT_FORMAT, ...meta, optimizers } });
  for (const old of listCheckpoints(dir).slice(0, -keep)) unlinkSync(old.file);
  return file;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  tensors: Map<string, RawTensor>;
}

export function readCheckpoint(file: string): LoadedCheckpoint {
  if (!existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
  const { tensors, metadata } = loadWeights(file);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.adaptseg ?? "null");
  } catch {
    throw new Error(`${file}: checkpoint metadata is not valid JSON`);
  }
  if (!meta || meta.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not an AdaptSeg checkpoint (no "${CHECKPOINT_FORMAT}" metadata)`);
  return { meta, tensors };
}

/** Tensors under `prefix`, with the prefix removed. */
export function withPrefix(tensors: Map<string, RawTensor>, prefix: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [n, t] of tensors) if (n.startsWith(prefix)) out.set(n.slice(prefix.length), t);
  return out;
}

/** Assigns saved tensors to a network's weights; names every missing or mis-shaped weight. */
export function assignWeights(net: Network, tensors: Map<string, RawTensor>, source: string): void {
  const problems: string[] = [];
  for (const [n, v] of net.weights) {
    const t = tensors.get(n);
    if (!t) problems.push(`missing ${n}`);
    else if (t.shape.join("x") !== v.shape.join("x")) problems.push(`${n}: shape [${t.shape}] != [${v.shape}]`);
  }
  if (problems.length) throw new Error(`${source}: weights do not fit the network: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ""}`);
  for (const [n, v] of net.weights) {
    const t = tensors.get(n)!;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  }
}
