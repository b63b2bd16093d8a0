// Checkpoints: one safetensors file holding G, every D, both optimisers' state, and a JSON
// metadata header (config, iteration, loader/RNG state, run id). Written atomically and verified
// (every tensor finite, every byte on disk); the last K are kept. The run folder's lock lives here too.
import * as tf from "@tensorflow/tfjs-core";
import { closeSync, existsSync, linkSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { loadWeights, readTensors, saveWeights, type Network, type RawTensor } from "@adaptseg/core";
import type { Optimizer } from "./optim.js";

export const CHECKPOINT_FORMAT = "adaptseg-checkpoint/1";
const NAME = /^ckpt-(\d{8})\.safetensors$/;
/** Temporary files of checkpoint writes (`saveWeights`' `.<name>.<pid>.tmp`). */
const TEMP = /^\.ckpt-\d{8}\.safetensors\.\d+\.tmp$/;

export interface CheckpointMeta {
  format: string;
  iteration: number;
  /** The run that wrote it (the same across its resumes). */
  runId?: string;
  config: Record<string, unknown>;
  /** Backbone options needed to rebuild G (type, numClasses, widthMultiplier, ...). */
  model: Record<string, unknown> & { type: string; numClasses: number };
  classes: string[];
  palette: [number, number, number][];
  optimizers: Record<string, Record<string, unknown>>;
  loaders: Record<string, Record<string, unknown>>;
  /** The strategy's own state (RNG, pseudo-label thresholds), restored on resume. */
  strategy?: Record<string, unknown>;
}

/** A checkpoint that would hold NaN or infinite values: it is not written. */
export class NonFiniteWeightsError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly tensors: string[],
  ) {
    super(message);
    this.name = "NonFiniteWeightsError";
  }
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

/** "name: k of n values are NaN/Infinity" for every tensor holding a non-finite value. */
export function nonFiniteTensors(tensors: Iterable<[string, { data: ArrayLike<number> }]>): string[] {
  const bad: string[] = [];
  for (const [n, t] of tensors) {
    const d = t.data;
    let k = 0;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) k++;
    if (k) bad.push(`${n}: ${k} of ${d.length} values are NaN/Infinity`);
  }
  return bad;
}

const listed = (xs: string[], n = 5) => `${xs.slice(0, n).join("; ")}${xs.length > n ? ` (+${xs.length - n} more)` : ""}`;

/**
 * Writes `ckpt-<iteration>.safetensors` in `dir`: refuses (NonFiniteWeightsError) when any tensor is
 * not finite; the write is atomic and verified (saveWeights). Then keeps the newest `keep`
 * checkpoints up to this one, deleting older ones only: never this one, never a newer file.
 */
export async function saveCheckpoint(
  dir: string,
  parts: { G: Network; D: Map<string, Network>; N?: Map<string, Network>; optimizers: Record<string, Optimizer> },
  meta: Omit<CheckpointMeta, "format" | "optimizers">,
  keep = 3,
): Promise<string> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [n, v] of parts.G.weights) tensors[`G/${n}`] = v;
  for (const [level, d] of parts.D) for (const [n, v] of d.weights) tensors[`D/${level}/${n}`] = v;
  for (const [name, net] of parts.N ?? []) for (const [n, v] of net.weights) tensors[`N/${name}/${n}`] = v;
  const optimizers: Record<string, Record<string, unknown>> = {};
  for (const [k, o] of Object.entries(parts.optimizers)) {
    const s = o.state();
    for (const [n, t] of Object.entries(s.tensors)) tensors[`opt/${k}/${n}`] = t;
    optimizers[k] = s.json;
  }
  const file = checkpointPath(dir, meta.iteration);
  // One download per tensor: checked for finiteness, then encoded.
  const raw = await readTensors(tensors);
  const bad = nonFiniteTensors(Object.entries(raw));
  if (bad.length) throw new NonFiniteWeightsError(`refusing to write ${file}: non-finite values after iteration ${meta.iteration} in ${listed(bad)}`, file, bad);
  saveWeights(file, raw, { adaptseg: { format: CHECKPOINT_FORMAT, ...meta, optimizers } });
  const older = listCheckpoints(dir).filter((c) => c.iteration < meta.iteration);
  for (const old of older.slice(0, Math.max(0, older.length - (keep - 1)))) unlinkSync(old.file);
  return file;
}

/** The metadata header of a safetensors file (its `__metadata__.adaptseg`), without reading its tensors; undefined when it has none. */
export function readCheckpointHeader(file: string): CheckpointMeta | undefined {
  if (!existsSync(file) || !statSync(file).isFile()) return undefined;
  const fd = openSync(file, "r");
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) < 8) return undefined;
    const n = Number(len.readBigUInt64LE());
    if (n > 64 << 20) return undefined;
    const header = Buffer.alloc(n);
    if (readSync(fd, header, 0, n, 8) < n) return undefined;
    const meta = JSON.parse(JSON.parse(header.toString("utf8")).__metadata__?.adaptseg ?? "null");
    return meta && meta.format === CHECKPOINT_FORMAT ? meta : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Whether `file` is an AdaptSeg checkpoint (its safetensors header names our format), without reading its tensors. */
export function isCheckpoint(file: string): boolean {
  return file.endsWith(".safetensors") && readCheckpointHeader(file) !== undefined;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  tensors: Map<string, RawTensor>;
}

/** Reads a checkpoint; every error names the file (missing, a folder, truncated, malformed header, not ours). */
export function readCheckpoint(file: string): LoadedCheckpoint {
  if (!existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
  const { tensors, metadata } = loadWeights(file);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.adaptseg ?? "null");
  } catch {
    throw new Error(`${file}: checkpoint metadata is not valid JSON`);
  }
  if (!meta || typeof meta !== "object" || meta.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not an AdaptSeg checkpoint (no "${CHECKPOINT_FORMAT}" metadata)`);
  const missing = (["iteration", "config", "model", "classes", "palette", "optimizers", "loaders"] as const).filter((k) => meta[k] === undefined || meta[k] === null);
  if (missing.length || !Number.isInteger(meta.iteration) || typeof meta.model?.type !== "string")
    throw new Error(`${file}: malformed checkpoint metadata (${missing.length ? `missing ${missing.join(", ")}` : "bad iteration or model"})`);
  return { meta, tensors };
}

/** Reads a checkpoint and checks that every tensor in it is finite: what `--resume` may start from. */
export function readIntactCheckpoint(file: string): LoadedCheckpoint {
  const ck = readCheckpoint(file);
  const bad = nonFiniteTensors(ck.tensors);
  if (bad.length) throw new Error(`${file}: holds non-finite values: ${listed(bad, 3)}`);
  return ck;
}

/** Tensors under `prefix`, with the prefix removed. */
export function withPrefix(tensors: Map<string, RawTensor>, prefix: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [n, t] of tensors) if (n.startsWith(prefix)) out.set(n.slice(prefix.length), t);
  return out;
}

/** Assigns saved tensors to a network's weights; names every missing, mis-shaped or non-finite weight. */
export function assignWeights(net: Network, tensors: Map<string, RawTensor>, source: string): void {
  const problems: string[] = [];
  for (const [n, v] of net.weights) {
    const t = tensors.get(n);
    if (!t) problems.push(`missing ${n}`);
    else if (t.shape.join("x") !== v.shape.join("x")) problems.push(`${n}: shape [${t.shape}] != [${v.shape}]`);
  }
  if (problems.length) throw new Error(`${source}: weights do not fit the network: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ""}`);
  const bad = nonFiniteTensors([...net.weights.keys()].map((n) => [n, tensors.get(n)!] as [string, RawTensor]));
  if (bad.length) throw new Error(`${source}: weights are not finite (${listed(bad, 3)}): this checkpoint cannot be used (written by a run that diverged?)`);
  for (const [n, v] of net.weights) {
    const t = tensors.get(n)!;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  }
}

/** Removes temporary files that killed checkpoint writes left in `dir`; returns their names. */
export function removeTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const gone: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!TEMP.test(f)) continue;
    try {
      unlinkSync(join(dir, f));
      gone.push(f);
    } catch {
      /* removed meanwhile */
    }
  }
  return gone;
}

// ---------------------------------------------------------------- the run folder's lock

export const LOCK_FILE = ".adaptseg.lock";

interface LockInfo {
  pid: number;
  hostname: string;
  started: string;
  /** /proc/<pid>/stat start time: tells a live lock holder from a new process that re-used its pid. */
  procStart?: string;
}

function procStart(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the process holding a lock still runs (a lock from another host is assumed live). */
function holderAlive(info: LockInfo): boolean {
  if (info.hostname !== hostname()) return true;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  const now = procStart(info.pid);
  return !(info.procStart && now && now !== info.procStart);
}

export class RunFolderBusyError extends Error {
  constructor(
    message: string,
    readonly lockFile: string,
  ) {
    super(message);
    this.name = "RunFolderBusyError";
  }
}

export interface RunLock {
  readonly file: string;
  /** The lock a killed run left behind, taken over. */
  readonly stale?: { pid: number; hostname: string; started: string };
  release(): void;
}

/**
 * Takes `dir/.adaptseg.lock` for this process: created atomically (a complete file linked into
 * place) with pid, host and start time. A lock whose process is gone (kill -9, a crash) is taken
 * over; a live one is a RunFolderBusyError naming its holder. Released by `release()` or at exit.
 */
export function acquireRunLock(dir: string): RunLock {
  const file = join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, hostname: hostname(), started: new Date().toISOString(), procStart: procStart(process.pid) };
  const text = JSON.stringify(mine) + "\n";
  const temp = join(dir, `.adaptseg.lock.${process.pid}.${Math.random().toString(36).slice(2)}`);
  try {
    writeFileSync(temp, text);
  } catch (e) {
    throw new Error(`cannot write in the run folder ${dir}: ${(e as Error).message}`);
  }
  let stale: LockInfo | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw new Error(`cannot take the lock ${file}: ${(e as Error).message}`);
      }
      let raw = "";
      try {
        raw = readFileSync(file, "utf8");
      } catch {
        continue; // released meanwhile
      }
      let info: LockInfo | undefined;
      try {
        info = JSON.parse(raw);
      } catch {
        info = undefined;
      }
      if (info && typeof info.pid === "number" && holderAlive(info))
        throw new RunFolderBusyError(
          `${dir} is in use by another run (pid ${info.pid} on ${info.hostname}, since ${info.started}; lock ${file}): ` +
            `wait for it to finish, stop it, or use another output folder${info.hostname !== hostname() ? ` (if that run is gone, delete ${file})` : ""}`,
          file,
        );
      // Stale: move it aside under a name of our own, and take it only if it is still the one we judged.
      const aside = `${file}.stale.${process.pid}`;
      try {
        renameSync(file, aside);
      } catch {
        continue;
      }
      if (readFileSync(aside, "utf8") !== raw) {
        try {
          linkSync(aside, file); // another process's fresh lock: put it back
        } catch {
          /* it re-took the lock meanwhile */
        }
        unlinkSync(aside);
        continue;
      }
      unlinkSync(aside);
      stale = info;
    }
  } finally {
    unlinkSync(temp);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener("exit", release);
    try {
      if (readFileSync(file, "utf8") === text) unlinkSync(file);
    } catch {
      /* already gone */
    }
  };
  process.on("exit", release);
  return { file, stale: stale && { pid: stale.pid, hostname: stale.hostname, started: stale.started }, release };
}

/** `ckpt-00000004.safetensors` for messages. */
export const checkpointName = (file: string) => basename(file);
