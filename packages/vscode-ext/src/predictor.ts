// Prediction for hovers and previews: one long-lived `node <cliPath> predict-server` child process
// (JSON lines on stdin/stdout), started lazily, with results cached by (image, mtime, checkpoint,
// size), so a repeated hover is answered without a round trip.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import * as fs from "node:fs";
import { backendArgs, checkCli, nodePath, root } from "./cli.js";
import type { PredictParams, PredictRequest, PredictResponse, PredictResult } from "@adaptseg/core/protocol";

export type Prediction = PredictResult;
export type PredictOptions = Omit<PredictParams, "image" | "checkpoint">;

export class PredictClient {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private signature = "";
  private nextId = 1;
  private readonly pending = new Map<number, { proc: ChildProcessWithoutNullStreams; resolve: (p: Prediction) => void; reject: (e: Error) => void }>();
  private readonly cache = new Map<string, Promise<Prediction>>();

  predict(image: string, checkpoint: string, opts: PredictOptions = {}): Promise<Prediction> {
    const mtime = (f: string) => {
      try {
        return fs.statSync(f).mtimeMs;
      } catch {
        return -1;
      }
    };
    const key = JSON.stringify([image, mtime(image), checkpoint, mtime(checkpoint), opts.maxWidth, opts.maxChars, opts.alpha]);
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.request({ image, checkpoint, ...opts });
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
      if (this.cache.size > 64) this.cache.delete(this.cache.keys().next().value!);
    }
    return hit;
  }

  private request(req: { image: string; checkpoint: string } & PredictOptions): Promise<Prediction> {
    const proc = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { proc, resolve, reject });
      proc.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method: "predict", params: req } satisfies PredictRequest) + "\n");
    });
  }

  /** The running server, (re)started when missing or when the settings that launch it changed. */
  private start(): ChildProcessWithoutNullStreams {
    const cli = checkCli();
    const cmd = [nodePath(), cli, "predict-server", ...backendArgs()];
    const sig = JSON.stringify(cmd);
    if (this.proc && this.signature === sig) return this.proc;
    this.dispose();
    const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: root(), stdio: ["pipe", "pipe", "pipe"] });
    this.proc = proc;
    this.signature = sig;
    let stderr = "";
    proc.stderr.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    createInterface({ input: proc.stdout }).on("line", (line) => {
      let m: PredictResponse;
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      const p = typeof m?.id === "number" ? this.pending.get(m.id) : undefined;
      if (!p) return;
      this.pending.delete(m.id as number);
      if (m.error) p.reject(new Error(m.error.message));
      else p.resolve(m.result);
    });
    const fail = (why: string) => {
      if (this.proc === proc) this.proc = undefined;
      const err = new Error(`${why}${stderr ? `: ${stderr.trim().split("\n").slice(-3).join(" ")}` : ""}`);
      for (const [id, p] of this.pending)
        if (p.proc === proc) {
          this.pending.delete(id);
          p.reject(err);
        }
    };
    proc.on("error", (e) => fail(`could not start "${cmd[0]}" (setting adaptseg.nodePath): ${e.message}`));
    proc.on("exit", (code, signal) => fail(`the prediction server (${cli} predict-server) exited with ${signal ?? `code ${code}`}`));
    return proc;
  }

  /** Forgets cached results (e.g. when the settings change). */
  clear(): void {
    this.cache.clear();
  }

  dispose(): void {
    const p = this.proc;
    this.proc = undefined;
    if (p) {
      p.stdin.end();
      p.kill();
    }
  }
}
