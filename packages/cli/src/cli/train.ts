// `adaptseg train`: one run. Progress on stdout (or JSON events with --json-events, the human lines
// then on stderr); every event also goes to <out>/events.jsonl. SIGINT/SIGTERM, or stdout closing
// (`... | head -n 2`), checkpoint and stop after the current iteration, end event written, exit 0.
import { resolve } from "node:path";
import { ConfigError, type RunEvent } from "@adaptseg/core";
import { defineCommand } from "../command.js";
import { fmtSec, loadConfig, onStdoutClosed, stdout } from "./common.js";

/** A text progress bar: `[#####.....]`. */
export function progressBar(done: number, total: number, width = 20): string {
  const n = total > 0 ? Math.max(0, Math.min(width, Math.round((done / total) * width))) : 0;
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

/** Prints progress: an updating progress-bar line on a TTY, plain lines (every `every` iterations) otherwise. */
export function progressPrinter(out: { write(s: string): unknown; isTTY?: boolean }, every = 10): (e: RunEvent) => void {
  const tty = !!out.isTTY;
  let start = 0;
  let stop = 0;
  return (e) => {
    if (e.type === "iteration") {
      const losses = Object.entries(e.losses)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join("  ");
      const line = `it ${e.iteration}${stop ? `/${stop}` : ""}  ${losses}  ${e.itPerSec.toFixed(2)} it/s  ETA ${fmtSec(e.etaSec)}`;
      if (tty) out.write(`\r\x1b[K${stop ? `${progressBar(e.iteration - start, stop - start)} ` : ""}${line}`);
      else if (e.iteration % every === 0 || e.iteration === 1) out.write(line + "\n");
      return;
    }
    if (tty) out.write("\r\x1b[K");
    if (e.type === "start") {
      ({ iteration: start, stopIter: stop } = e);
      out.write(`${e.resumed ? "resuming" : "starting"} ${e.strategy} on ${e.backend} at iteration ${e.iteration}, stopping at ${e.stopIter} -> ${e.outDir}\n`);
    } else if (e.type === "eval") out.write(`eval @${e.iteration}: mIoU ${e.miou.toFixed(2)}  pixel acc ${e.pixelAccuracy.toFixed(2)}\n`);
    else if (e.type === "checkpoint") out.write(`checkpoint (${e.reason}) ${e.path}\n`);
    else if (e.type === "log") out.write(`${e.level}: ${e.message}\n`);
    else if (e.type === "end") out.write(`${e.status} at iteration ${e.iteration}${e.message ? `: ${e.message}` : ""}\n`);
  };
}

export default defineCommand({
  name: "train",
  description: "one run; events to `<out>/events.jsonl`",
  details:
    'The config may "extends" a base config. SIGINT or SIGTERM (a second one exits at once, code 130) and stdout closing (`adaptseg train ... | head`) checkpoint and stop after the current iteration; the end event is written and the exit code is 0.',
  options: {
    config: { type: "string", value: "file", required: true, description: "the experiment config (JSON)" },
    out: { type: "string", value: "dir", description: "the run folder (default runs/<config name>)" },
    resume: { type: "boolean", description: "continue from the newest intact checkpoint in the run folder" },
    overwrite: { type: "boolean", description: "start afresh in a folder that holds another run's checkpoints (deletes them and its events)" },
    "max-iters": { type: "integer", minimum: 1, description: "stop after this iteration (overrides training.stopIter)" },
    backend: { type: "string", value: "name", description: "compute backend: auto, tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu" },
    seed: { type: "integer", description: "overrides the config's seed" },
    data: { type: "string", value: "dir", description: "data root for relative dataset roots (else ADAPTSEG_DATA)" },
    "json-events": { type: "boolean", description: "print the events as JSON lines on stdout (progress goes to stderr)" },
  },
  async run(v) {
    const json = v["json-events"];
    const human = progressPrinter(json ? process.stderr : stdout);
    let errorEvent = false;
    const onEvent = (e: RunEvent) => {
      errorEvent ||= e.type === "error";
      if (json) stdout.write(JSON.stringify(e) + "\n");
      human(e);
    };
    const stopSignal = { stop: false };
    const stop = (why: string) => {
      if (stopSignal.stop) return;
      stopSignal.stop = true;
      process.stderr.write(`\n${why}: checkpointing and stopping after this iteration\n`);
    };
    const onSignal = (sig: string) => {
      if (stopSignal.stop) process.exit(130);
      stop(sig);
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    onStdoutClosed(() => stop("stdout closed"));
    try {
      const { config, baseDir } = loadConfig(v.config);
      const { train } = await import("@adaptseg/engine");
      await train(config, {
        outDir: resolve(v.out ?? resolve("runs", config.name ?? "run")),
        baseDir,
        resume: v.resume,
        overwrite: v.overwrite,
        stopIter: v["max-iters"],
        seed: v.seed,
        backend: v.backend,
        dataRoot: v.data,
        onEvent,
        stopSignal,
      });
      return 0;
    } catch (e) {
      // Errors before the run starts (bad config, missing data) reach the event stream too.
      const field = e instanceof ConfigError ? e.problems[0]?.split(/[ :]/)[0] : undefined;
      if (json && !errorEvent) stdout.write(JSON.stringify({ type: "error", time: new Date().toISOString(), message: (e as Error).message, file: v.config, field }) + "\n");
      throw e;
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    }
  },
});
