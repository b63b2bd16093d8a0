// The run event stream: one JSON object per line in <out>/events.jsonl (and on stdout with
// --json-events). Shared by the CLI (writer) and the VS Code extension (reader); no TF.js here.

interface Base {
  /** ISO time. */
  time: string;
  /** The run this event belongs to (also in each checkpoint). */
  runId?: string;
}

export interface StartEvent extends Base {
  type: "start";
  runId: string;
  name?: string;
  /** Strategy name (`source-only`, `output-space`, ...). */
  strategy: string;
  backend: string;
  /** First iteration this process runs (0, or the resumed one). */
  iteration: number;
  maxIters: number;
  stopIter: number;
  resumed: boolean;
  outDir: string;
}

export interface IterationEvent extends Base {
  type: "iteration";
  /** 1-based count of finished iterations. */
  iteration: number;
  /** Every loss term by name, e.g. seg, seg_aux, adv_main, adv_aux, d_main, d_aux. */
  losses: Record<string, number>;
  lr: { G: number; D?: number };
  secPerIter: number;
  itPerSec: number;
  etaSec: number;
}

export interface EvalEvent extends Base {
  type: "eval";
  iteration: number;
  /** Percent, over the evaluated classes. */
  miou: number;
  pixelAccuracy: number;
  /** Percent per class name; null where the class never occurs. */
  perClass: Record<string, number | null>;
  split?: string;
}

export interface CheckpointEvent extends Base {
  type: "checkpoint";
  iteration: number;
  path: string;
  reason: "interval" | "signal" | "final";
}

export interface EndEvent extends Base {
  type: "end";
  iteration: number;
  status: "completed" | "stopped" | "failed";
  message?: string;
}

export interface ErrorEvent extends Base {
  type: "error";
  message: string;
  /** The file or config field at fault, where known. */
  file?: string;
  field?: string;
}

export interface LogEvent extends Base {
  type: "log";
  level: "info" | "warn";
  message: string;
}

export type RunEvent = StartEvent | IterationEvent | EvalEvent | CheckpointEvent | EndEvent | ErrorEvent | LogEvent;
export type RunEventType = RunEvent["type"];

/** Parses one events.jsonl line; returns undefined for blank or non-event lines. */
export function parseEvent(line: string): RunEvent | undefined {
  const s = line.trim();
  if (!s.startsWith("{")) return undefined;
  try {
    const e = JSON.parse(s);
    return e && typeof e.type === "string" && typeof e.time === "string" ? (e as RunEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** An event before it is stamped with its time. */
export type UntimedEvent = RunEvent extends infer E ? (E extends RunEvent ? Omit<E, "time"> : never) : never;
