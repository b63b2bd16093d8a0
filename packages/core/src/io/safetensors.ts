// safetensors codec: 8-byte little-endian header length, JSON header
// ({name: {dtype, shape, data_offsets:[begin,end]}, __metadata__: {string: string}}), then raw LE data.
// Writes F32; reads F32, F16 and BF16 (widened to Float32Array).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Tensor } from "@tensorflow/tfjs-core";

export interface RawTensor {
  dtype: "float32";
  shape: number[];
  data: Float32Array;
}
export type WeightsIn = Record<string, Tensor | { dtype?: string; shape: number[]; data: ArrayLike<number> }>;

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
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

/** Decodes safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors"): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${source}: too short for a safetensors header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > bytes.length) throw new Error(`${source}: header length ${n} exceeds file size ${bytes.length}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${source}: bad JSON header (${(e as Error).message})`);
  }
  const metadata = ((header as Record<string, unknown>).__metadata__ ?? {}) as Record<string, string>;
  const base = 8 + n;
  const tensors = new Map<string, RawTensor>();
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const size = h.shape.reduce((a, b) => a * b, 1);
    const [b, e] = h.data_offsets;
    const width = { F32: 4, F16: 2, BF16: 2 }[h.dtype];
    if (!width) throw new Error(`${source}: tensor "${name}" has unsupported dtype ${h.dtype}`);
    if (e - b !== size * width || base + e > bytes.length) throw new Error(`${source}: tensor "${name}" offsets [${b},${e}] do not fit shape [${h.shape}] ${h.dtype}`);
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

/** Writes weights atomically (temp file in the same folder, fsync, rename). Metadata values that are not strings are JSON-encoded. */
export function saveWeights(file: string, tensors: WeightsIn, metadata: Record<string, unknown> = {}): void {
  const raw: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
  for (const [n, t] of Object.entries(tensors)) {
    raw[n] = "dataSync" in t ? { shape: t.shape, data: t.dataSync() as ArrayLike<number> } : t;
  }
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = typeof v === "string" ? v : JSON.stringify(v);
  const bytes = encodeSafetensors(raw, meta);
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(temp, "w");
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(temp);
    throw e;
  }
  closeSync(fd);
  renameSync(temp, file);
}

export function loadWeights(file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  return decodeSafetensors(readFileSync(file), file);
}
