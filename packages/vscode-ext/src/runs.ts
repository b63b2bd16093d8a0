// Follows a run's events.jsonl as it grows (the CLI appends one JSON line per event).
import * as fs from "node:fs";
import * as path from "node:path";
import { parseEvent, type RunEvent } from "@adaptseg/core/events";

type Listener = (events: RunEvent[]) => void;

export class EventLog {
  readonly events: RunEvent[] = [];
  private pos = 0;
  private rest = "";
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(readonly file: string) {}

  get label(): string {
    return path.basename(path.dirname(this.file));
  }

  /** Reads what was appended since the last call; returns the new events. */
  poll(): RunEvent[] {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return [];
    }
    if (size < this.pos) {
      this.pos = 0;
      this.rest = "";
      this.events.length = 0;
    } // rewritten
    if (size === this.pos) return [];
    const fd = fs.openSync(this.file, "r");
    const buf = Buffer.alloc(size - this.pos);
    try {
      fs.readSync(fd, buf, 0, buf.length, this.pos);
    } finally {
      fs.closeSync(fd);
    }
    this.pos = size;
    const lines = (this.rest + buf.toString("utf8")).split("\n");
    this.rest = lines.pop() ?? "";
    const fresh = lines.map(parseEvent).filter((e): e is RunEvent => !!e);
    this.events.push(...fresh);
    if (fresh.length) for (const l of this.listeners) l(fresh);
    return fresh;
  }

  /** Calls `fn` with every new batch of events; polling runs while anyone listens. */
  subscribe(fn: Listener): { dispose(): void } {
    this.listeners.add(fn);
    this.timer ??= setInterval(() => this.poll(), 400);
    return {
      dispose: () => {
        this.listeners.delete(fn);
        if (!this.listeners.size && this.timer) {
          clearInterval(this.timer);
          this.timer = undefined;
        }
      },
    };
  }
}

const logs = new Map<string, EventLog>();
/** One shared EventLog per file. */
export function eventLog(file: string): EventLog {
  const key = path.resolve(file);
  let l = logs.get(key);
  if (!l) logs.set(key, (l = new EventLog(key)));
  l.poll();
  return l;
}
