// Across machines: the sweep puts its runs on a BullMQ queue (job id = sweep key / run id, so a
// run is never queued twice); `adaptseg worker` processes take them and train through the same
// trainRun() as the local pool. A worker killed mid-run holds its job's lock no longer: BullMQ's
// stalled-job check moves the job back to wait and another worker takes it, resuming from the
// run folder's last checkpoint when it can see that folder.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { ExperimentConfig } from "@adaptseg/core";
import type { RunEvent } from "@adaptseg/core/events";
import type { SweepRun } from "./expand.js";
import { trainRun, type TrainRunHandle, type TrainRunResult } from "./run.js";
import { CONFIG_FILE, EVENTS_FILE, RESULT_FILE, inspectRun, type RunResultFile } from "./status.js";
import type { RunMetrics } from "./types.js";

export const DEFAULT_QUEUE = "adaptseg-runs";
/** Job results carry events.jsonl up to this size; beyond it, every event but the iterations. */
const MAX_EVENTS_BYTES = 8 * 1024 * 1024;

export interface RunJobData {
  sweep: string;
  /** The sweep's out dir on the machine that queued it: a worker that sees it trains there. */
  sweepDir: string;
  runId: string;
  outDir: string;
  config: ExperimentConfig;
}

export interface RunJobResult {
  runId: string;
  status: "completed";
  metrics?: RunMetrics;
  /** events.jsonl of the run (iteration events dropped when it is large: eventsTruncated). */
  events: string;
  eventsTruncated?: boolean;
  worker: string;
  /** Where the worker trained. */
  dir: string;
  resumedFrom?: number;
  durationSec: number;
}

export interface RunJobProgress {
  worker: string;
  iteration: number;
  stopIter?: number;
  resumedFrom?: number;
}

/** `redis://[user:pass@]host[:port][/db]` -> ioredis options (BullMQ workers need maxRetriesPerRequest null). */
export function redisConnection(url: string): { host: string; port: number; db?: number; username?: string; password?: string; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue: "${url}" is not a URL; expected redis://host:port`);
  }
  if (u.protocol !== "redis:") throw new Error(`--queue: "${url}": only redis://host:port is supported`);
  const db = u.pathname.replace(/^\//, "");
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    ...(db ? { db: Number(db) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    maxRetriesPerRequest: null,
  };
}

/** A sweep's key in job ids: its name plus a hash of its out dir (two sweeps of one name do not collide). */
export function sweepKey(name: string, outDir: string): string {
  return `${name}-${createHash("sha1").update(resolve(outDir)).digest("hex").slice(0, 8)}`;
}

const BULLMQ_HINT = "the queue needs the bullmq and ioredis packages (dependencies of @adaptseg/sweep)";
async function bullmq() {
  try {
    return await import("bullmq");
  } catch (e) {
    throw new Error(`${BULLMQ_HINT}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- the sweep's side

export interface QueueClient {
  readonly url: string;
  readonly queue: string;
  run(run: SweepRun, onProgress?: (p: RunJobProgress) => void): TrainRunHandle & { done: Promise<TrainRunResult & { worker?: string }> };
  close(): Promise<void>;
}

/** Connects to the queue; runs are added as jobs and their results written into the sweep's run folders. */
export async function connectQueue(url: string, o: { queue?: string; sweep: string; sweepDir: string }): Promise<QueueClient> {
  const { Queue, QueueEvents } = await bullmq();
  const connection = redisConnection(url);
  const name = o.queue ?? DEFAULT_QUEUE;
  const queue = new Queue<RunJobData, RunJobResult>(name, { connection });
  const events = new QueueEvents(name, { connection });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]).catch(async (e) => {
    await Promise.allSettled([queue.close(), events.close()]);
    throw new Error(`--queue ${url}: cannot connect: ${(e as Error).message}`);
  });
  // One waiter per queued run (job.waitUntilFinished listens on both): a sweep has more than 10.
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  const key = sweepKey(o.sweep, o.sweepDir);
  const progress = new Map<string, (p: RunJobProgress) => void>();
  events.on("progress", ({ jobId, data }) => progress.get(jobId)?.(data as unknown as RunJobProgress));
  return {
    url,
    queue: name,
    run(run, onProgress) {
      const jobId = `${key}/${run.id}`;
      let stopped!: (r: TrainRunResult) => void;
      const stop = new Promise<TrainRunResult>((r) => (stopped = r));
      const work = (async (): Promise<TrainRunResult & { worker?: string }> => {
        if (onProgress) progress.set(jobId, onProgress);
        let job = await queue.getJob(jobId);
        // A failed attempt is retried; a completed one not yet collected is collected.
        if (job && (await job.isFailed())) await job.retry("failed");
        if (!job)
          job = await queue.add(
            "train",
            { sweep: o.sweep, sweepDir: resolve(o.sweepDir), runId: run.id, outDir: resolve(run.outDir), config: run.config },
            { jobId, removeOnComplete: false, removeOnFail: false },
          );
        try {
          const r = await job.waitUntilFinished(events);
          collect(run, r);
          await job.remove().catch(() => {});
          return { id: run.id, status: "completed", metrics: r.metrics, resumedFrom: r.resumedFrom, durationSec: r.durationSec, worker: r.worker };
        } catch (e) {
          return { id: run.id, status: "failed", error: (e as Error).message, durationSec: 0 };
        } finally {
          progress.delete(jobId);
        }
      })();
      return {
        done: Promise.race([work, stop]),
        // The submitter stops waiting; queued and running jobs stay with the workers and are collected by the next `adaptseg sweep`.
        stop: () => stopped({ id: run.id, status: "stopped", error: "left on the queue", durationSec: 0 }),
      };
    },
    async close() {
      await Promise.allSettled([events.close(), queue.close()]);
    },
  };
}

/** Writes a finished job's events.jsonl and result.json into the sweep's run folder, unless the worker trained there. */
function collect(run: SweepRun, r: RunJobResult): void {
  if (inspectRun(run.outDir).state === "completed") return;
  mkdirSync(run.outDir, { recursive: true });
  writeFileSync(join(run.outDir, CONFIG_FILE), JSON.stringify(run.config, null, 2) + "\n");
  writeFileSync(join(run.outDir, EVENTS_FILE), r.events);
  const result: RunResultFile = { id: run.id, status: "completed", metrics: r.metrics, worker: r.worker, durationSec: r.durationSec, finishedAt: new Date().toISOString() };
  writeFileSync(join(run.outDir, RESULT_FILE), JSON.stringify(result, null, 2) + "\n");
}

// ---------------------------------------------------------------- the worker's side

export interface WorkerOptions {
  url: string;
  queue?: string;
  /** The adaptseg CLI script the runs are trained with. */
  cli: string;
  /** --data for the runs. */
  data?: string;
  /** Where runs train when the sweep's folder is not visible here (default runs/worker). */
  work?: string;
  /** Train in `work` even where the sweep's folder is visible (a same-named folder that is not shared). */
  isolated?: boolean;
  /** Runs at a time (default 1: a run uses every core). */
  concurrency?: number;
  /** BullMQ lock duration and stalled-check interval, ms (defaults 30000 and 30000). */
  lockDuration?: number;
  stalledInterval?: number;
  /** Seconds an idle worker long-polls before it looks at the queue again (BullMQ drainDelay, default 5). */
  drainDelay?: number;
  log?: (line: string) => void;
  onEvent?: (runId: string, e: RunEvent) => void;
}

export interface QueueWorker {
  readonly id: string;
  /** Runs this worker completed. */
  readonly completed: string[];
  /** Stops taking jobs; a run in progress checkpoints and goes back to the queue for another worker. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<QueueWorker> {
  const { Worker, WaitingError } = await bullmq();
  const id = `${hostname()}:${process.pid}`;
  const log = o.log ?? (() => {});
  const work = resolve(o.work ?? join("runs", "worker"));
  const active = new Map<string, TrainRunHandle>();
  const completed: string[] = [];
  let closing = false;
  const worker = new Worker<RunJobData, RunJobResult>(
    o.queue ?? DEFAULT_QUEUE,
    async (job, token) => {
      const d = job.data;
      const shared = !o.isolated && existsSync(d.sweepDir);
      const dir = shared ? d.outDir : join(work, d.sweep, ...d.runId.split("/"));
      const before = inspectRun(dir);
      log(`${d.runId}: ${before.state === "resumable" ? `resuming from iteration ${before.iteration}` : before.state === "completed" ? "already trained here" : "starting"} in ${dir}`);
      let lastReport = 0;
      const h = trainRun({
        cli: o.cli,
        id: d.runId,
        dir,
        config: d.config,
        data: o.data,
        worker: id,
        onEvent: (e) => {
          o.onEvent?.(d.runId, e);
          const now = Date.now();
          if (e.type === "start" || (e.type === "iteration" && now - lastReport > 2000)) {
            lastReport = now;
            const p: RunJobProgress = { worker: id, iteration: e.iteration, ...(e.type === "start" ? { stopIter: e.stopIter, ...(e.resumed ? { resumedFrom: e.iteration } : {}) } : {}) };
            job.updateProgress(p as never).catch(() => {});
          }
        },
      });
      active.set(job.id!, h);
      const r = await h.done.finally(() => active.delete(job.id!));
      if (r.status === "completed") {
        let events = existsSync(join(dir, EVENTS_FILE)) ? readFileSync(join(dir, EVENTS_FILE), "utf8") : "";
        let eventsTruncated: boolean | undefined;
        if (events.length > MAX_EVENTS_BYTES) {
          events = events
            .split("\n")
            .filter((l) => !l.includes('"type":"iteration"'))
            .join("\n");
          eventsTruncated = true;
        }
        completed.push(d.runId);
        log(`${d.runId}: completed${r.metrics ? `, mIoU ${r.metrics.miou.toFixed(2)}` : ""}`);
        return { runId: d.runId, status: "completed", metrics: r.metrics, events, eventsTruncated, worker: id, dir, resumedFrom: r.resumedFrom, durationSec: r.durationSec };
      }
      if (closing && r.status === "stopped") {
        // Checkpointed on the way out: back to the queue for the next worker.
        log(`${d.runId}: stopped at a checkpoint; back to the queue`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      log(`${d.runId}: ${r.status}: ${r.error ?? ""}`);
      throw new Error(`${d.runId} ${r.status} on ${id}: ${r.error ?? "no error message"}`);
    },
    {
      connection: redisConnection(o.url),
      concurrency: o.concurrency ?? 1,
      lockDuration: o.lockDuration ?? 30_000,
      stalledInterval: o.stalledInterval ?? 30_000,
      drainDelay: o.drainDelay ?? 5,
      // A run whose worker died is handed on, however often that happens.
      maxStalledCount: 1000,
      autorun: false,
    },
  );
  worker.on("error", (e) => log(`queue error: ${e.message}`));
  // A lock this worker could not renew (it was too slow, or Redis was away) may already be another
  // worker's: stop training rather than run beside it in the same folder.
  worker.on("lockRenewalFailed", (ids) => {
    for (const jobId of ids) {
      const h = active.get(jobId);
      if (!h) continue;
      log(`${jobId}: lost the job's lock; stopping its run (the queue hands it on)`);
      h.stop("SIGKILL");
    }
  });
  await worker.waitUntilReady();
  void worker.run();
  log(`worker ${id} on ${o.url} queue ${o.queue ?? DEFAULT_QUEUE}${o.data ? `, data ${o.data}` : ""}`);
  return {
    id,
    completed,
    async close() {
      closing = true;
      for (const h of active.values()) h.stop("SIGTERM");
      await worker.close();
    },
  };
}
