// The reliability corpus' shared parts: a row table printed at the end, on-disk snapshots, a
// finished tiny run to copy, checkpoint surgery (truncate, NaN, bad headers).
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { closeSync, cpSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join, relative } from "node:path";
import { deflateSync } from "node:zlib";
import { parseEvent, loadWeights, saveWeights, type ExperimentConfig, type RunEvent } from "@adaptseg/core";
import { tmp } from "./helpers.js";

export type Outcome = "clear error" | "warning" | "exact";
export interface Row {
  area: string;
  kind: string;
  outcome: Outcome;
  message: string;
  disk: string;
}

/** Rows are collected as tests pass and printed as one table after the suite (one table per test file). */
export class Corpus {
  readonly rows: Row[] = [];
  record(area: string, kind: string, outcome: Outcome, message: string, disk: string): void {
    this.rows.push({ area, kind, outcome, message: message.replace(/\s+/g, " "), disk });
  }
  print(title: string): void {
    const table = this.rows;
    if (!table.length) return;
    const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
    const w = { area: 10, kind: 48, outcome: 11, message: 110 };
    const line = (r: Record<"area" | "kind" | "outcome" | "message" | "disk", string>) =>
      `| ${clip(r.area, w.area).padEnd(w.area)} | ${clip(r.kind, w.kind).padEnd(w.kind)} | ${r.outcome.padEnd(w.outcome)} | ${clip(r.message, w.message).padEnd(w.message)} | ${r.disk} |`;
    const out = [`\n${title}`, line({ area: "area", kind: "kind", outcome: "outcome", message: "message", disk: "on-disk check" })];
    out.push(`|${"-".repeat(w.area + 2)}|${"-".repeat(w.kind + 2)}|${"-".repeat(w.outcome + 2)}|${"-".repeat(w.message + 2)}|---|`);
    for (const r of table) out.push(line(r));
    const n = (o: Outcome) => table.filter((r) => r.outcome === o).length;
    const skipped = table.filter((r) => r.message.startsWith("SKIPPED")).length;
    out.push(
      `${table.length} kinds: ${n("clear error")} clear errors, ${n("warning")} warnings, ${n("exact")} exact behaviours${skipped ? `, ${skipped} skipped` : ""}; ` +
        `crashes, hangs, silent accepts, losses: 0 (each row asserts it; a failing row fails its test)`,
    );
    console.log(out.join("\n"));
  }
}

/** Every file under `dir` (recursive): size, mtime and sha256. Equal snapshots: nothing changed on disk. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, f);
    const st = statSync(p);
    if (!st.isFile()) continue;
    out[relative(dir, p)] = `${st.size} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`;
  }
  return out;
}

export function events(dir: string): RunEvent[] {
  const f = join(dir, "events.jsonl");
  return existsSync(f)
    ? readFileSync(f, "utf8")
        .split("\n")
        .map(parseEvent)
        .filter((e): e is RunEvent => !!e)
    : [];
}

/** A copy of a run folder in a new temporary folder. */
export function copyRun(from: string): string {
  const dir = join(tmp("adaptseg-rel-"), "run");
  cpSync(from, dir, { recursive: true });
  return dir;
}

/** Awaits `p`, asserts it rejects with a message matching every pattern, and returns the message. */
export async function rejects(p: Promise<unknown> | (() => unknown), ...patterns: RegExp[]): Promise<string> {
  let message: string | undefined;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.ok(message !== undefined, "expected an error, got success (a silent accept)");
  for (const re of patterns) assert.match(message!, re);
  return message!;
}

/** Rewrites a checkpoint with one tensor's first value replaced (NaN by default), its metadata unchanged. */
export function poisonCheckpoint(file: string, prefix = "G/", value = NaN): string {
  const { tensors, metadata } = loadWeights(file);
  const name = [...tensors.keys()].find((n) => n.startsWith(prefix))!;
  tensors.get(name)!.data[0] = value;
  saveWeights(file, Object.fromEntries(tensors), metadata);
  return name;
}

/** Replaces a safetensors file's header with `json` (8-byte length, the text, nothing else). */
export function writeHeader(file: string, json: string, declared?: bigint): void {
  const body = Buffer.from(json);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declared ?? BigInt(body.length));
  writeFileSync(file, Buffer.concat([len, body]));
}

/** A valid 1-bit greyscale PNG of any size, written cheaply (its pixel rows deflate to almost nothing). */
export function bigPng(file: string, width: number, height: number): void {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  const fd = openSync(file, "w");
  for (const part of [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]) writeSync(fd, part);
  closeSync(fd);
}

/** Writes a config file beside nothing else; returns its path. */
export function configFile(dir: string, cfg: ExperimentConfig, name = "exp.json"): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(cfg, null, 2));
  return f;
}
