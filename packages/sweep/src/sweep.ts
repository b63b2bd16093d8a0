// `adaptseg sweep`: expand and validate, skip what already completed, run the rest (warm-ups
// first; a seed's runs wait for its warm-up) on N local worker processes or on a BullMQ queue,
// then write sweep.json, results.md, results.csv and the chart.
import { mkdirSync, writeFileSync, renameSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type { RunEvent } from "@adaptseg/core/events";
import { expandSweep, loadSweepFile, type ExpandedSweep, type PluginChecks, type SweepRun } from "./expand.js";
import { pluginChecks } from "./plugins.js";
import { inspectRun } from "./status.js";
import { trainRun, type TrainRunHandle, type TrainRunResult } from "./run.js";
import { connectQueue, type RunJobProgress } from "./queue.js";
import { consoleTable, csvTable, markdownTable, settingsSummary } from "./results.js";
import { writeChart } from "./chart.js";
import { SWEEP_FORMAT, type SweepFile, type SweepJson, type SweepRunJson } from "./types.js";

export interface RunSweepOptions {
  /** The sweep file; or pass `sweep` (relative paths then resolve against the current directory). */
  file?: string;
  sweep?: SweepFile;
  /** Output folder (default: the file's `out`, else runs/sweeps/<name>). */
  out?: string;
  /** The adaptseg CLI script every run is trained with (`node <cli> train ...`). */
  cli: string;
  /** Local worker processes (default: cores / threads per run, at least 1). */
  workers?: number;
  /** redis://host:port: queue the runs for `adaptseg worker` processes instead of running them here. */
  queue?: string;
  queueName?: string;
  /** --data for local runs. */
  data?: string;
  /** Expand, validate and list the runs; run nothing. */
  dryRun?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Every event of every run. */
  onEvent?: (runId: string, e: RunEvent) => void;
  /** Set `stop` to stop: running local runs checkpoint and stop; queued runs stay queued. */
  stopSignal?: { stop: boolean };
  /** Draw the chart (default true). */
  chart?: boolean;
  /** Plugin-aware validation (default: the built-in plugins' and the base config's; false: the generic config schema only). */
  plugins?: PluginChecks | false;
}

export interface SweepOutcome {
  sweep: ExpandedSweep;
  json: SweepJson;
  /** Runs this invocation trained (or collected from the queue). */
  executed: string[];
  /** Runs that had completed before and were skipped. */
  reused: string[];
  failed: string[];
  /** The console table. */
  table: string;
}

/** Threads one run uses: config `threads`, else ADAPTSEG_THREADS, else every core. */
export function threadsPerRun(runs: SweepRun[], cores = cpus().length): number {
  const env = Number(process.env.ADAPTSEG_THREADS);
  const fromEnv = Number.isInteger(env) && env > 0 ? env : undefined;
  return Math.max(1, ...runs.map((r) => r.config.threads ?? fromEnv ?? cores));
}

/** The default number of local workers: as many runs as the cores hold at the threads each uses. */
export function defaultWorkers(runs: SweepRun[], cores = cpus().length): number {
  return Math.max(1, Math.floor(cores / threadsPerRun(runs, cores)));
}

export async function runSweep(o: RunSweepOptions): Promise<SweepOutcome> {
  const log = o.log ?? (() => {});
  const spec = o.sweep ?? loadSweepFile(o.file!);
  const plugins = o.plugins === false ? undefined : (o.plugins ?? (await pluginChecks(spec, o.file)));
  const sweep = expandSweep(spec, { file: o.file, out: o.out, plugins });
  const workers = o.workers ?? defaultWorkers(sweep.runs);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer, got ${workers}`);

  const state = new Map<string, SweepRunJson>();
  const reused: string[] = [];
  for (const r of sweep.runs) {
    const s = inspectRun(r.outDir);
    const j: SweepRunJson = { id: r.id, setting: r.setting, seed: r.seed, stage: r.stage, outDir: r.outDir, status: "pending" };
    if (s.state === "completed") {
      Object.assign(j, { status: "completed", reused: true, metrics: s.metrics, worker: s.result?.worker });
      reused.push(r.id);
    }
    state.set(r.id, j);
  }
  const todo = sweep.runs.filter((r) => state.get(r.id)!.status !== "completed");
  log(
    `sweep ${sweep.name}: ${sweep.settings.length} setting${sweep.settings.length > 1 ? "s" : ""} x ${sweep.seeds.length} seed${sweep.seeds.length > 1 ? "s" : ""}${sweep.runs.some((r) => r.stage === "warmup") ? ` + ${sweep.seeds.length} warm-up${sweep.seeds.length > 1 ? "s" : ""}` : ""} = ${sweep.runs.length} runs; ${reused.length} already completed, ${todo.length} to run -> ${sweep.outDir}`,
  );
  if (o.dryRun) {
    for (const r of sweep.runs)
      log(`  ${r.id.padEnd(40)} ${state.get(r.id)!.status === "completed" ? "completed" : inspectRun(r.outDir).state}${r.dependsOn.length ? `  (after ${r.dependsOn.join(", ")})` : ""}`);
    const json = sweepJson(sweep, state, { kind: "local", workers }, "incomplete", {});
    return { sweep, json, executed: [], reused, failed: [], table: consoleTable(json.settings, sweep.seeds, sweep.baseline) };
  }

  const queue = o.queue ? await connectQueue(o.queue, { queue: o.queueName, sweep: sweep.name, sweepDir: sweep.outDir }) : undefined;
  mkdirSync(sweep.outDir, { recursive: true });
  const executor: SweepJson["executor"] = queue ? { kind: "queue", url: queue.url, queue: queue.queue } : { kind: "local", workers };
  const write = () => writeJson(join(sweep.outDir, "sweep.json"), sweepJson(sweep, state, executor, "running", {}));
  write();
  if (queue) log(`queue ${o.queue} (${queue.queue}): runs go to \`adaptseg worker --queue ${o.queue}\` processes`);
  else log(`${workers} local worker${workers > 1 ? "s" : ""}`);
  const limit = queue ? Infinity : workers;

  const executed: string[] = [];
  const failed: string[] = [];
  const active = new Map<string, { handle: TrainRunHandle; done: Promise<void> }>();
  const pending = [...todo];
  const stop = o.stopSignal ?? { stop: false };
  let stopping = false;
  const progressPrinter = (id: string) => {
    let stopIter = 0;
    let next = 0;
    return (e: RunEvent) => {
      o.onEvent?.(id, e);
      if (e.type === "start") {
        stopIter = e.stopIter;
        next = e.iteration;
      } else if (e.type === "iteration" && stopIter && e.iteration >= next) {
        next = e.iteration + Math.max(1, Math.ceil(stopIter / 10));
        const losses = Object.entries(e.losses)
          .slice(0, 3)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join(" ");
        log(`  ${id}: it ${e.iteration}/${stopIter}  ${losses}  ${e.itPerSec.toFixed(2)} it/s`);
      }
    };
  };
  const start = (run: SweepRun) => {
    const j = state.get(run.id)!;
    j.status = "running";
    const before = inspectRun(run.outDir);
    log(`> ${run.id}${before.state === "resumable" ? ` (resuming from iteration ${before.iteration})` : ""}`);
    const onEvent = progressPrinter(run.id);
    let handle: TrainRunHandle & { done: Promise<TrainRunResult & { worker?: string }> };
    if (queue) {
      let stopIter = 0;
      let next = 0;
      handle = queue.run(run, (p: RunJobProgress) => {
        if (p.stopIter !== undefined) {
          ({ stopIter } = p);
          next = p.iteration + Math.max(1, Math.ceil(stopIter / 10));
          log(`  ${run.id}: on ${p.worker}${p.resumedFrom !== undefined ? `, resumed from iteration ${p.resumedFrom}` : ""}`);
        } else if (stopIter && p.iteration >= next) {
          next = p.iteration + Math.max(1, Math.ceil(stopIter / 10));
          log(`  ${run.id}: it ${p.iteration}/${stopIter} on ${p.worker}`);
        }
      });
    } else handle = trainRun({ cli: o.cli, id: run.id, dir: run.outDir, config: run.config, data: o.data, worker: "local", onEvent });
    const done = handle.done.then((r) => {
      active.delete(run.id);
      j.durationSec = r.durationSec;
      if (r.resumedFrom !== undefined) j.resumed = true;
      if (r.status === "completed") {
        Object.assign(j, { status: "completed", metrics: r.metrics, worker: (r as { worker?: string }).worker ?? "local" });
        executed.push(run.id);
        log(`= ${run.id}: completed${r.metrics ? `, mIoU ${r.metrics.miou.toFixed(2)}` : ""} (${r.durationSec.toFixed(0)} s)`);
      } else {
        Object.assign(j, { status: r.status, error: r.error });
        if (r.status === "failed") failed.push(run.id);
        log(`! ${run.id}: ${r.status}${r.error ? `: ${r.error}` : ""}`);
      }
      write();
    });
    active.set(run.id, { handle, done });
  };

  try {
    for (;;) {
      if (stop.stop && !stopping) {
        stopping = true;
        log(`stopping: running runs checkpoint and stop; re-run the sweep to resume`);
        for (const a of active.values()) a.handle.stop("SIGTERM");
      }
      if (!stopping)
        for (let i = 0; i < pending.length && active.size < limit; ) {
          const run = pending[i]!;
          const deps = run.dependsOn.map((d) => state.get(d)!);
          if (deps.some((d) => d.status === "failed" || d.status === "blocked")) {
            Object.assign(state.get(run.id)!, { status: "blocked", error: `${deps.find((d) => d.status === "failed" || d.status === "blocked")!.id} did not complete` });
            pending.splice(i, 1);
            continue;
          }
          if (deps.every((d) => d.status === "completed")) {
            pending.splice(i, 1);
            start(run);
            continue;
          }
          i++;
        }
      if (!active.size) break;
      // Wake on a finished run, or every half second to notice a stop request.
      await Promise.race([...[...active.values()].map((a) => a.done), new Promise((r) => setTimeout(r, 500))]);
    }
  } finally {
    if (active.size) {
      for (const a of active.values()) a.handle.stop("SIGTERM");
      await Promise.allSettled([...active.values()].map((a) => a.done));
    }
    await queue?.close();
  }

  const complete = sweep.runs.every((r) => state.get(r.id)!.status === "completed");
  const files: SweepJson["files"] = {};
  const settings = settingsSummary(sweep, [...state.values()]);
  const table = consoleTable(settings, sweep.seeds, sweep.baseline);
  writeFileSync(join(sweep.outDir, "results.md"), markdownTable(settings, sweep.seeds, sweep.baseline, `Sweep ${sweep.name}`));
  writeFileSync(join(sweep.outDir, "results.csv"), csvTable(settings, sweep.seeds, sweep.axes, sweep.baseline));
  files.markdown = "results.md";
  files.csv = "results.csv";
  if (o.chart !== false) {
    try {
      if (await writeChart(join(sweep.outDir, "miou.png"), sweep, settings)) files.chart = "miou.png";
    } catch (e) {
      log(`chart: not drawn: ${(e as Error).message}`);
    }
  }
  const json = sweepJson(sweep, state, executor, complete ? "done" : "incomplete", files);
  writeJson(join(sweep.outDir, "sweep.json"), json);
  log(`\n${table}`);
  log(
    `${sweep.outDir}: sweep.json, ${Object.values(files).join(", ")}${
      complete
        ? ""
        : `; incomplete: ${sweep.runs
            .filter((r) => state.get(r.id)!.status !== "completed")
            .map((r) => `${r.id} (${state.get(r.id)!.status})`)
            .join(", ")}`
    }`,
  );
  return { sweep, json, executed, reused, failed, table };
}

function sweepJson(sweep: ExpandedSweep, state: Map<string, SweepRunJson>, executor: SweepJson["executor"], s: SweepJson["state"], files: SweepJson["files"]): SweepJson {
  const runs = sweep.runs.map((r) => state.get(r.id)!);
  return {
    format: SWEEP_FORMAT,
    name: sweep.name,
    file: sweep.file,
    outDir: sweep.outDir,
    updatedAt: new Date().toISOString(),
    state: s,
    executor,
    axes: sweep.axes,
    seeds: sweep.seeds,
    baseline: sweep.baseline,
    metric: "miou",
    settings: settingsSummary(sweep, runs),
    runs,
    files,
  };
}

/** Written whole, then renamed: a viewer never reads half a file. */
function writeJson(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + "\n");
  renameSync(tmp, file);
}
