// safetensors codec: 8-byte little-endian header length, JSON header
// ({name: {dtype, shape, data_offsets:[begin,end]}, __metadata__: {string: string}}), then raw LE data.
// Writes F32; reads F32, F16 and BF16 (widened to Float32Array).
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Tensor } from "@tensorflow/tfjs-core";

export interface RawTensor {
  dtype: "float32";
  shape: number[];
  data: Float32Array;
}
export type WeightsIn = Record<string, { dtype?: string; shape: number[]; data: ArrayLike<number> }>;

/** Tensors' values for saveWeights, read with `await data()` (no synchronous read; webgpu has none). */
export async function readTensors(tensors: Record<string, Tensor>): Promise<Record<string, RawTensor>> {
  const raw: Record<string, RawTensor> = {};
  for (const [n, t] of Object.entries(tensors)) {
    const d = await t.data();
    raw[n] = { dtype: "float32", shape: t.shape, data: d instanceof Float32Array ? d : Float32Array.from(d) };
  }
  return raw;
}

/** An IEEE half-precision bit pattern as a number. */
export function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Encodes tensors (as float32) and a string metadata map to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  const names = Object.keys(tensors);
  for (const n of names) {
    const { shape, data } = tensors[n]!;
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`safetensors: tensor "${n}" has ${data.length} values but shape [${shape}]`);
    header[n] = { dtype: "F32", shape, data_offsets: [off, off + 4 * size] };
    off += 4 * size;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // align data to 8 bytes
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let p = 8 + jsonBytes.length;
  for (const n of names) {
    const d = tensors[n]!.data;
    for (let i = 0; i < d.length; i++, p += 4) dv.setFloat32(p, d[i]!, true);
  }
  return out;
}

type HeaderEntry = { dtype: string; shape: number[]; data_offsets: [number, number] };
const isIndex = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** What is wrong with one tensor's header entry, if anything. */
function entryProblem(h: unknown): string | undefined {
  if (!h || typeof h !== "object" || Array.isArray(h)) return "is not an object";
  const e = h as Partial<HeaderEntry>;
  if (typeof e.dtype !== "string") return `has no "dtype"`;
  if (!Array.isArray(e.shape) || !e.shape.every(isIndex)) return `has a bad "shape" (${JSON.stringify(e.shape)})`;
  const o = e.data_offsets;
  if (!Array.isArray(o) || o.length !== 2 || !o.every(isIndex) || o[0]! > o[1]!) return `has bad "data_offsets" (${JSON.stringify(o)})`;
  return undefined;
}

/** Decodes safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors"): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${source}: too short for a safetensors header (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const big = dv.getBigUint64(0, true);
  if (big > BigInt(bytes.length - 8)) throw new Error(`${source}: header length ${big} exceeds file size ${bytes.length} (truncated or not a safetensors file)`);
  const n = Number(big);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${source}: bad JSON header (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new Error(`${source}: bad header: not a JSON object`);
  const rawMeta = header.__metadata__ ?? {};
  if (!rawMeta || typeof rawMeta !== "object" || Array.isArray(rawMeta) || !Object.values(rawMeta).every((v) => typeof v === "string"))
    throw new Error(`${source}: bad header: "__metadata__" is not a map of strings`);
  const metadata = rawMeta as Record<string, string>;
  const base = 8 + n;
  const tensors = new Map<string, RawTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const problem = entryProblem(entry);
    if (problem) throw new Error(`${source}: bad header: tensor "${name}" ${problem}`);
    const h = entry as HeaderEntry;
    const size = h.shape.reduce((a, b) => a * b, 1);
    const [b, e] = h.data_offsets;
    const width = { F32: 4, F16: 2, BF16: 2 }[h.dtype];
    if (!width) throw new Error(`${source}: tensor "${name}" has unsupported dtype ${h.dtype}`);
    if (e - b !== size * width || base + e > bytes.length)
      throw new Error(`${source}: tensor "${name}" offsets [${b},${e}] do not fit shape [${h.shape}] ${h.dtype}${base + e > bytes.length ? ` in a file of ${bytes.length} bytes (truncated?)` : ""}`);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const p = base + b + i * width;
      if (h.dtype === "F32") data[i] = dv.getFloat32(p, true);
      else if (h.dtype === "F16") data[i] = f16(dv.getUint16(p, true));
      else data[i] = new Float32Array(new Uint32Array([dv.getUint16(p, true) << 16]).buffer)[0]!;
    }
    tensors.set(name, { dtype: "float32", shape: h.shape, data });
  }
  return { tensors, metadata };
}

/** The temporary file `saveWeights` writes `file` through (same folder, so the rename is atomic). */
export function tempFileOf(file: string, pid = process.pid): string {
  return join(dirname(file), `.${basename(file)}.${pid}.tmp`);
}

/** Writes every byte of `bytes` (one write may write fewer bytes than asked: a full disk). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    let n: number;
    try {
      n = writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      throw Object.assign(new Error(`${(e as Error).message} after ${off} of ${bytes.length} bytes`), { code: (e as NodeJS.ErrnoException).code });
    }
    if (n <= 0) throw new Error(`short write: ${off} of ${bytes.length} bytes`);
    off += n;
  }
}

/** Checks what is on disk behind `fd`: its size and its first and last bytes are what was written. */
function verifyWritten(fd: number, bytes: Uint8Array): void {
  const size = fstatSync(fd).size;
  if (size !== bytes.length) throw new Error(`wrote ${bytes.length} bytes but the file holds ${size}`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  for (const [from, len] of [
    [0, 8 + n],
    [Math.max(0, bytes.length - 4096), Math.min(4096, bytes.length)],
  ] as const) {
    const back = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const r = readSync(fd, back, got, len - got, from + got);
      if (r <= 0) break;
      got += r;
    }
    if (got !== len || !back.equals(bytes.subarray(from, from + len))) throw new Error(`read-back of bytes ${from}..${from + len} differs from what was written`);
  }
}

/**
 * Writes weights atomically: a temporary file in the same folder, every byte written and checked
 * (size and read-back of the header and the tail), fsync, then rename over `file`. On any failure
 * the temporary file is removed and `file` is untouched; the error names `file`.
 * Metadata values that are not strings are JSON-encoded.
 */
export function saveWeights(file: string, tensors: WeightsIn, metadata: Record<string, unknown> = {}): void {
  const raw = tensors;
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = typeof v === "string" ? v : JSON.stringify(v);
  const bytes = encodeSafetensors(raw, meta);
  const temp = tempFileOf(file);
  const fail = (e: unknown): never => {
    try {
      unlinkSync(temp);
    } catch {
      /* never created, or already gone */
    }
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new Error(`cannot write ${file}: ${err.message}${err.code === "ENOSPC" ? " (disk full)" : ""}; nothing was replaced`), { code: err.code, file });
  };
  let fd: number;
  try {
    fd = openSync(temp, "w+");
  } catch (e) {
    return fail(e);
  }
  try {
    writeAll(fd, bytes);
    fsyncSync(fd);
    verifyWritten(fd, bytes);
  } catch (e) {
    closeSync(fd);
    return fail(e);
  }
  closeSync(fd);
  try {
    renameSync(temp, file);
  } catch (e) {
    return fail(e);
  }
  // The rename itself reaches the disk with the folder's fsync (best effort: not every platform allows it).
  try {
    const dfd = openSync(dirname(file), "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* folder fsync unsupported */
  }
}

/** Reads a safetensors file; every error names `file` (missing, a folder, unreadable, malformed). */
export function loadWeights(file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    if (statSync(file).isDirectory()) throw new Error("is a directory, not a safetensors file");
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`), { code: err.code, file });
  }
  return decodeSafetensors(bytes, file);
}
