// What a run folder holds: a completed run (its events.jsonl ends the last start with an `end`
// completed event, or result.json says so), a resumable one (checkpoints), or nothing usable.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseEvent, type RunEvent } from "@adaptseg/core/events";
import type { RunMetrics } from "./types.js";

export const RESULT_FILE = "result.json";
export const EVENTS_FILE = "events.jsonl";
export const CONFIG_FILE = "config.json";
const CKPT = /^ckpt-(\d{8})\.safetensors$/;

export interface RunResultFile {
  id: string;
  status: "completed";
  metrics?: RunMetrics;
  worker?: string;
  durationSec?: number;
  finishedAt: string;
}

export type RunState = { state: "completed"; metrics?: RunMetrics; result?: RunResultFile } | { state: "resumable"; iteration: number } | { state: "fresh" };

/** Checkpoint iterations in `dir`, ascending. */
export function checkpointIterations(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => CKPT.exec(f))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function readEvents(dir: string): RunEvent[] {
  const f = join(dir, EVENTS_FILE);
  if (!existsSync(f)) return [];
  return readFileSync(f, "utf8")
    .split("\n")
    .map(parseEvent)
    .filter((e): e is RunEvent => !!e);
}

/** The last element matching `pred` (lib ES2022 has no findLast). */
export function findLast<T>(xs: T[], pred: (x: T) => boolean): T | undefined {
  for (let i = xs.length - 1; i >= 0; i--) if (pred(xs[i]!)) return xs[i];
  return undefined;
}

/** The final metrics of the events' last completed run: its last `eval` event, when it has one. */
export function completedMetrics(events: RunEvent[]): { completed: boolean; metrics?: RunMetrics } {
  const start = events.lastIndexOf(findLast(events, (e) => e.type === "start")!);
  const tail = start >= 0 ? events.slice(start) : events;
  const end = findLast(tail, (e) => e.type === "end");
  if (end?.type !== "end" || end.status !== "completed") return { completed: false };
  const ev = findLast(tail, (e) => e.type === "eval");
  return { completed: true, metrics: ev && ev.type === "eval" ? { miou: ev.miou, pixelAccuracy: ev.pixelAccuracy, perClass: ev.perClass, iteration: ev.iteration } : undefined };
}

export function readResult(dir: string): RunResultFile | undefined {
  const f = join(dir, RESULT_FILE);
  if (!existsSync(f)) return undefined;
  try {
    const r = JSON.parse(readFileSync(f, "utf8")) as RunResultFile;
    return r && r.status === "completed" ? r : undefined;
  } catch {
    return undefined;
  }
}

export function inspectRun(dir: string): RunState {
  const result = readResult(dir);
  if (result) return { state: "completed", metrics: result.metrics, result };
  const done = completedMetrics(readEvents(dir));
  if (done.completed) return { state: "completed", metrics: done.metrics };
  const ck = checkpointIterations(dir);
  if (ck.length) return { state: "resumable", iteration: ck.at(-1)! };
  return { state: "fresh" };
}
