import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { train } from "../train/trainer.js";
import type { RunEvent } from "../events.js";
import { ConfigError } from "../config.js";
import { fmtSec, intOption, loadConfig } from "./common.js";

export const trainArgs = {
  config: { type: "string" },
  out: { type: "string" },
  resume: { type: "boolean" },
  "max-iters": { type: "string" },
  backend: { type: "string" },
  seed: { type: "string" },
  data: { type: "string" },
  "json-events": { type: "boolean" },
} as const;

/** A text progress bar: `[#####.....]`. */
export function progressBar(done: number, total: number, width = 20): string {
  const n = total > 0 ? Math.max(0, Math.min(width, Math.round((done / total) * width))) : 0;
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

/** Prints progress: an updating progress-bar line on a TTY, plain lines (every `every` iterations) otherwise. */
export function progressPrinter(out: Pick<NodeJS.WriteStream, "write"> & { isTTY?: boolean }, every = 10): (e: RunEvent) => void {
  const tty = !!out.isTTY;
  let start = 0;
  let stop = 0;
  return (e) => {
    if (e.type === "iteration") {
      const losses = Object.entries(e.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join("  ");
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

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: trainArgs });
  const json = !!v["json-events"];
  const human = progressPrinter(json ? process.stderr : process.stdout);
  const onEvent = (e: RunEvent) => {
    if (json) process.stdout.write(JSON.stringify(e) + "\n");
    human(e);
  };
  try {
    return await trainCommand(v, onEvent);
  } catch (e) {
    // Errors before the run starts (bad config, missing data) reach the event stream too.
    const field = e instanceof ConfigError ? e.problems[0]?.split(/[ :]/)[0] : undefined;
    if (json) process.stdout.write(JSON.stringify({ type: "error", time: new Date().toISOString(), message: (e as Error).message, file: v.config, field }) + "\n");
    throw e;
  }
}

async function trainCommand(v: { [k: string]: string | boolean | undefined }, onEvent: (e: RunEvent) => void): Promise<number> {
  const { config, baseDir } = loadConfig(v.config as string | undefined);
  const stopSignal = { stop: false };
  const onSignal = (sig: string) => {
    if (stopSignal.stop) process.exit(130);
    stopSignal.stop = true;
    process.stderr.write(`\n${sig}: checkpointing and stopping after this iteration\n`);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  const outDir = resolve((v.out as string | undefined) ?? resolve("runs", config.name ?? "run"));
  await train(config, {
    outDir,
    baseDir,
    resume: !!v.resume,
    stopIter: intOption(v["max-iters"] as string | undefined, "--max-iters"),
    seed: intOption(v.seed as string | undefined, "--seed"),
    backend: v.backend as string | undefined,
    dataRoot: v.data as string | undefined,
    onEvent,
    stopSignal,
  });
  return 0;
}
