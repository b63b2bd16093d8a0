// One run = one child process `node <cli> train --config <run>/config.json --out <run> --json-events
// [--resume]`: the local pool and the queue worker both train through this function.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEvent, type RunEvent } from "@adaptseg/core/events";
import type { ExperimentConfig } from "@adaptseg/core";
import { CONFIG_FILE, EVENTS_FILE, RESULT_FILE, completedMetrics, findLast, inspectRun, readEvents, type RunResultFile } from "./status.js";
import type { RunMetrics } from "./types.js";

/**
 * Preloaded into every run's process: when its parent dies (a worker killed with SIGKILL), the
 * run is re-parented, and it kills itself rather than train on beside the run's next owner.
 */
export const ORPHAN_GUARD = "data:text/javascript,const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.kill(process.pid,'SIGKILL')},250).unref();";

export interface TrainRunOptions {
  /** The adaptseg CLI script (`packages/cli/dist/cli.js`). */
  cli: string;
  id: string;
  /** Run folder: config.json, events.jsonl, checkpoints, result.json. */
  dir: string;
  config: ExperimentConfig;
  /** --data for the run. */
  data?: string;
  /** Who runs it, recorded in result.json (`local`, `host:pid`). */
  worker?: string;
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: RunEvent) => void;
  /** Extra node options for the child (tests). */
  nodeArgs?: string[];
}

export interface TrainRunResult {
  id: string;
  status: "completed" | "stopped" | "failed";
  metrics?: RunMetrics;
  /** Resumed from a checkpoint (iteration), or undefined for a fresh start. */
  resumedFrom?: number;
  /** The run had already completed: nothing was trained. */
  alreadyDone?: boolean;
  error?: string;
  durationSec: number;
}

export interface TrainRunHandle {
  readonly done: Promise<TrainRunResult>;
  /** SIGTERM (checkpoint and stop after this iteration) or SIGKILL the run. */
  stop(signal?: "SIGTERM" | "SIGKILL"): void;
  readonly pid?: number;
}

/** Trains one run in its folder: resumes from its last checkpoint, or starts afresh; a completed run is not trained again. */
export function trainRun(o: TrainRunOptions): TrainRunHandle {
  const t0 = Date.now();
  mkdirSync(o.dir, { recursive: true });
  const state = inspectRun(o.dir);
  if (state.state === "completed") return { done: Promise.resolve({ id: o.id, status: "completed", metrics: state.metrics, alreadyDone: true, durationSec: 0 }), stop() {} };
  // A fresh start leaves nothing of an earlier attempt behind.
  if (state.state === "fresh") for (const f of [EVENTS_FILE, RESULT_FILE]) rmSync(join(o.dir, f), { force: true });
  const cfgFile = join(o.dir, CONFIG_FILE);
  writeFileSync(cfgFile, JSON.stringify(o.config, null, 2) + "\n");
  const resumedFrom = state.state === "resumable" ? state.iteration : undefined;
  const args = [...(o.nodeArgs ?? []), `--import=${ORPHAN_GUARD}`, o.cli, "train", "--config", cfgFile, "--out", o.dir, "--json-events"];
  if (resumedFrom !== undefined) args.push("--resume");
  if (o.data) args.push("--data", o.data);
  // Its own process group: a Ctrl-C at the terminal reaches the sweep, which stops its runs once.
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: o.env ?? process.env });
  let out = "";
  let errTail = "";
  let lastError: string | undefined;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    const lines = out.split("\n");
    out = lines.pop()!;
    for (const l of lines) {
      const e = parseEvent(l);
      if (!e) continue;
      if (e.type === "error") lastError = e.message;
      o.onEvent?.(e);
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => (errTail = (errTail + d).slice(-4000)));
  const done = new Promise<TrainRunResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      const durationSec = (Date.now() - t0) / 1000;
      const events = readEvents(o.dir);
      const c = completedMetrics(events);
      if (c.completed) {
        const result: RunResultFile = { id: o.id, status: "completed", metrics: c.metrics, worker: o.worker, durationSec, finishedAt: new Date().toISOString() };
        writeFileSync(join(o.dir, RESULT_FILE), JSON.stringify(result, null, 2) + "\n");
        return resolve({ id: o.id, status: "completed", metrics: c.metrics, resumedFrom, durationSec });
      }
      const end = findLast(events, (e) => e.type === "end");
      if (code === 0 && end?.type === "end" && end.status === "stopped") return resolve({ id: o.id, status: "stopped", resumedFrom, durationSec });
      const why =
        spawnError?.message ??
        lastError ??
        (errTail
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("adaptseg:"))
          .at(-1) ||
          errTail.trim().split("\n").at(-1)) ??
        (signal ? `killed by ${signal}` : `exit code ${code}`);
      resolve({ id: o.id, status: signal === "SIGTERM" || signal === "SIGINT" ? "stopped" : "failed", error: why || (signal ? `killed by ${signal}` : `exit code ${code}`), resumedFrom, durationSec });
    };
    child.on("error", (e) => finish(null, null, e));
    child.on("close", (code, signal) => finish(code, signal));
  });
  return {
    done,
    pid: child.pid,
    stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
