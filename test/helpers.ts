// Shared test helpers.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEvent, type ExperimentConfig, type IterationEvent } from "@adaptseg/core";

export const repoRoot = resolve(fileURLToPath(import.meta.url), "../..");
/** The checkout this one was cloned from, when it is a local folder (CI clones /work/main anywhere). */
function originDir(): string | undefined {
  try {
    const url = execFileSync("git", ["-C", repoRoot, "config", "--get", "remote.origin.url"], { encoding: "utf8" }).trim();
    return url.startsWith("/") ? url : undefined;
  } catch {
    return undefined;
  }
}
/** The team's real data (never copied into the repo): ADAPTSEG_SHARED_DATA, else ../shared/data beside this checkout or the one it was cloned from. */
const dataCandidates = process.env.ADAPTSEG_SHARED_DATA ? [process.env.ADAPTSEG_SHARED_DATA] : [repoRoot, originDir()].filter((d) => d !== undefined).map((d) => resolve(d, "../shared/data"));
/**
 * Where the shared data is (or, when it is absent, the first place looked): a path only, so that
 * files can build paths from it at import. Tests that read it are declared with `describeWithData` /
 * `itWithData`, which skip them, saying why, when the data is absent.
 */
export const sharedData = dataCandidates.find((d) => existsSync(d)) ?? dataCandidates[0]!;
export const hasSharedData = existsSync(sharedData);
const noData = `shared data not found at ${dataCandidates.join(" or ")} (set ADAPTSEG_SHARED_DATA)`;

/** `describe` for a suite that reads the shared data; without it, one pending test says why (the body is not run). */
export function describeWithData(title: string, fn: (this: Mocha.Suite) => void): void {
  if (hasSharedData) describe(title, fn);
  else describe(title, () => it.skip(`skipped: ${noData}`));
}

/** `it` for a test that reads the shared data; without it, the test is pending and says why. */
export function itWithData(title: string, fn: Mocha.Func | Mocha.AsyncFunc): void {
  if (hasSharedData) it(title, fn as Mocha.Func);
  else it.skip(`${title} (skipped: ${noData})`);
}

export function tmp(prefix = "adaptseg-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A tiny CamVid day -> dusk experiment (1/16-width G) that trains in well under a second per iteration. */
export function tinyConfig(strategy = "output-space", iters = 6): ExperimentConfig {
  // Feature-level D sees 1/8-size features through five stride-2 convs: it needs 256x256 images.
  const size = strategy === "feature-level" ? { width: 256, height: 256 } : { width: 64, height: 48 };
  const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
  return {
    name: "tiny",
    seed: 7,
    backend: "wasm",
    model: { type: "vgg16-deeplab", widthMultiplier: 0.0625, auxHead: strategy === "multi-level" },
    discriminator: { type: "fc", widthMultiplier: 0.125 },
    adaptation: { type: strategy, lambdaSeg: 0.1 },
    source: { ...camvid({ excludeSequences: ["0001TP"] }, 5), augment: { mirror: true } },
    target: camvid({ sequences: ["0001TP"] }, 3),
    evaluation: { dataset: camvid({ sequences: ["0001TP"], fraction: [0.9, 1] }, 2) },
    training: { maxIters: 100, stopIter: iters, snapshotEvery: 2, keepSnapshots: 10, optimizerG: { lr: 0.01 } },
  };
}

/** Runs `adaptseg train --config cfgFile --out out` and kills it with SIGKILL once iteration `at` is reported. */
export function trainAndKill(cfgFile: string, out: string, at: number): Promise<void> {
  const cli = join(repoRoot, "packages/cli/dist/cli.js");
  return new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, [cli, "train", "--config", cfgFile, "--out", out, "--data", sharedData, "--json-events"], { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    p.stdout.on("data", (d) => {
      buf += d;
      if (buf.split("\n").some((l) => parseEvent(l)?.type === "iteration" && (parseEvent(l) as IterationEvent).iteration >= at)) p.kill("SIGKILL");
    });
    p.on("exit", (code, sig) => (sig === "SIGKILL" ? resolve() : reject(new Error(`exited ${code} before the kill`))));
  });
}

/** `adaptseg train --resume` on cfgFile into out; the start event and the iteration events of that resumed process. */
export function resumeAndRead(cfgFile: string, out: string): { start: { iteration: number }; iterations: IterationEvent[] } {
  const cli = join(repoRoot, "packages/cli/dist/cli.js");
  execFileSync(process.execPath, [cli, "train", "--config", cfgFile, "--out", out, "--data", sharedData, "--resume"], { stdio: "pipe" });
  const events = readFileSync(join(out, "events.jsonl"), "utf8")
    .split("\n")
    .map(parseEvent)
    .filter((e) => e !== undefined);
  const i = events.findLastIndex((e) => e.type === "start");
  return { start: events[i] as unknown as { iteration: number }, iterations: events.slice(i).filter((e): e is IterationEvent => e.type === "iteration") };
}
