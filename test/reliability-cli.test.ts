// Nothing lost, nothing silent (issue 15), through the `adaptseg` command line as a black box:
// signals (kill -9 during a checkpoint write, SIGINT), two processes on one folder, a used folder,
// a NaN checkpoint, stdout closing, predict's outputs and predict-server's answers. Each row
// asserts the exit code, the message and what is on disk; rows print as a table after the suite.
import { strict as nodeAssert } from "node:assert";
// assert.ok without a message makes Node read the failing line's source to word one, which hangs on
// tsx's transpiled one-line output: every ok() here gets a message.
const assert: typeof nodeAssert = Object.assign(Object.create(nodeAssert), { ok: (v: unknown, m?: string | Error) => nodeAssert.ok(v, m ?? "expected a truthy value") });
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, watch } from "node:fs";
import { join } from "node:path";
import { parseEvent, type IterationEvent, type LogEvent, type RunEvent } from "@adaptseg/core";
import { listCheckpoints, readCheckpoint, readIntactCheckpoint, train } from "@adaptseg/engine";
import { repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";
import { Corpus, configFile, events, poisonCheckpoint, snapshot } from "./reliability.helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");
const corpus = new Corpus();
const record = corpus.record.bind(corpus);
const IMG = join(sharedData, "camvid/CamVid/val/0016E5_07959.png");

/** A tiny source-only experiment (the fastest step) that runs `iters` iterations. */
function experiment(dir: string, iters: number, training: Record<string, unknown> = {}): string {
  const c = tinyConfig("source-only", iters);
  return configFile(dir, { ...c, evaluation: undefined, training: { ...c.training!, snapshotEvery: 1000, ...training } });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onLine(line, child)` sees each stdout line (events with --json-events). */
function runCli(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void, input?: string, onSpawn?: (pid: number) => void): Promise<Exit> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    onSpawn?.(p.pid!);
    let stdout = "",
      stderr = "",
      buf = "";
    p.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) onLine?.(l, p);
    });
    p.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    if (input !== undefined) p.stdin!.end(input);
    else p.stdin!.end();
    p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
const iterationOf = (l: string) => {
  const e = parseEvent(l);
  return e?.type === "iteration" ? (e as IterationEvent).iteration : 0;
};
const warnings = (evs: RunEvent[]) => evs.filter((e): e is LogEvent => e.type === "log" && e.level === "warn").map((e) => e.message);

describe("reliability: signals, folders and the command line", function () {
  this.timeout(120_000);
  after(() => corpus.print("reliability corpus (command line)"));

  it("signals: kill -9 during a checkpoint write: every checkpoint intact; --resume takes the lock over, cleans up, finishes", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const cfg = experiment(dir, 12, { snapshotEvery: 1, keepSnapshots: 3 });
    const out = join(dir, "run");
    mkdirSync(out);
    let pid = 0;
    const temps = new Set<string>();
    const watcher = watch(out);
    // Freeze the writer the moment its 3rd temporary file appears (mid-write), then kill -9 it.
    watcher.on("change", (_t, f) => {
      if (!String(f).endsWith(".tmp") || temps.has(String(f))) return;
      temps.add(String(f));
      if (temps.size === 3) {
        process.kill(pid, "SIGSTOP");
        process.kill(pid, "SIGKILL");
      }
    });
    const killed = runCli(["train", "--config", cfg, "--out", out, "--data", sharedData, "--json-events"], undefined, undefined, (p) => (pid = p));
    const k = await killed;
    watcher.close();
    assert.equal(k.signal, "SIGKILL", k.stderr);
    const left = readdirSync(out).filter((f) => f.endsWith(".tmp"));
    const cks = listCheckpoints(out);
    assert.ok(cks.length >= 1);
    for (const c of cks) assert.equal(readIntactCheckpoint(c.file).meta.iteration, c.iteration);
    assert.ok(existsSync(join(out, ".adaptseg.lock")), "the killed run's lock is still there");
    const runId = readCheckpoint(cks.at(-1)!.file).meta.runId;
    const r = spawnSync(process.execPath, [cli, "train", "--config", cfg, "--out", out, "--data", sharedData, "--resume"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      readdirSync(out).filter((f) => f.endsWith(".tmp") || f.startsWith(".adaptseg.lock")),
      [],
    );
    const evs = events(out);
    const w = warnings(evs);
    assert.ok(
      w.some((m) => new RegExp(`took over the lock of pid ${pid} .*no longer running`).test(m)),
      w.join("\n"),
    );
    if (left.length)
      assert.ok(
        w.some((m) => m.startsWith(`removed ${left.length} temporary file`)),
        w.join("\n"),
      );
    const start = evs.findLast((e) => e.type === "start") as { iteration: number; runId: string };
    assert.equal(start.iteration, cks.at(-1)!.iteration);
    assert.equal(start.runId, runId);
    assert.equal(readCheckpoint(listCheckpoints(out).at(-1)!.file).meta.iteration, 12);
    record(
      "signals",
      "kill -9 during a checkpoint write, then --resume",
      "warning",
      w.find((m) => m.startsWith("took over"))!,
      `${cks.length} ckpts intact; ${left.length ? `${left.length} temporary removed` : "killed between writes"}; resumed at ${start.iteration} -> 12; lock released`,
    );
  });

  it("signals: SIGINT checkpoints, ends 'stopped', exits 0 and releases the lock", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const out = join(dir, "run");
    let sent = false;
    const r = await runCli(["train", "--config", experiment(dir, 60), "--out", out, "--data", sharedData, "--json-events"], (l, child) => {
      if (!sent && iterationOf(l) >= 2) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    assert.equal(r.code, 0, r.stderr);
    const evs = events(out);
    const end = evs.at(-1)!;
    assert.ok(end.type === "end" && end.status === "stopped", JSON.stringify(end));
    const signal = evs.find((e) => e.type === "checkpoint" && e.reason === "signal") as { iteration: number; path: string } | undefined;
    assert.ok(signal && signal.iteration === end.iteration);
    assert.equal(readIntactCheckpoint(signal.path).meta.iteration, end.iteration);
    assert.equal(new Set(evs.map((e) => (e as { runId?: string }).runId)).size, 1);
    assert.ok(evs.every((e) => (e as { runId?: string }).runId));
    assert.ok(!existsSync(join(out, ".adaptseg.lock")));
    record("signals", "SIGINT mid-run", "exact", `exit 0; end stopped at ${end.iteration}; signal checkpoint`, "ckpt intact, run id on every event, lock released");
  });

  it("folders: a second trainer on a running run's folder exits 1 naming the holder; the first is unharmed", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const out = join(dir, "run");
    const cfg = experiment(dir, 60);
    let second: Exit | undefined;
    let started = false;
    const first = await runCli(["train", "--config", cfg, "--out", out, "--data", sharedData, "--json-events"], (l, child) => {
      if (!started && iterationOf(l) >= 1) {
        started = true;
        runCli(["train", "--config", cfg, "--out", out, "--data", sharedData]).then((r) => {
          second = r;
          child.kill("SIGINT");
        });
      }
    });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second!.code, 1, second!.stderr);
    assert.match(second!.stderr, new RegExp(`adaptseg: ${out} is in use by another run \\(pid \\d+ on `));
    const evs = events(out);
    assert.equal(evs.filter((e) => e.type === "start").length, 1);
    assert.equal(new Set(evs.map((e) => (e as { runId?: string }).runId)).size, 1);
    record("folders", "two trainers on one --out", "clear error", second!.stderr.trim(), "one run's events and checkpoint; first exits 0");
  });

  it("folders: a fresh train in a folder holding a run's checkpoints exits 1; nothing changed", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const out = join(dir, "run");
    const cfg = experiment(dir, 2);
    assert.equal(spawnSync(process.execPath, [cli, "train", "--config", cfg, "--out", out, "--data", sharedData]).status, 0);
    const before = snapshot(out);
    const r = spawnSync(process.execPath, [cli, "train", "--config", cfg, "--out", out, "--data", sharedData], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already holds 1 checkpoint of run .*--resume.*--overwrite/);
    assert.deepEqual(snapshot(out), before);
    record("folders", "fresh train into a used --out", "clear error", r.stderr.trim(), "every file byte-identical");
  });

  it("checkpoints: eval of a checkpoint with NaN weights exits 1 naming it", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const cfgFile = configFile(dir, tinyConfig("source-only", 1));
    const r0 = await train(tinyConfig("source-only", 1), { outDir: join(dir, "run"), dataRoot: sharedData });
    poisonCheckpoint(r0.checkpoint!);
    const r = spawnSync(process.execPath, [cli, "eval", "--config", cfgFile, "--checkpoint", r0.checkpoint!, "--out", join(dir, "eval"), "--data", sharedData], { encoding: "utf8" });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`${r0.checkpoint}: weights are not finite`));
    assert.ok(!existsSync(join(dir, "eval", "metrics.json")));
    record("checkpoint", "eval of a NaN checkpoint (CLI)", "clear error", r.stderr.trim(), "no metrics.json");
  });

  it("config: --max-iters 0 exits non-zero naming the option", () => {
    const dir = tmp("adaptseg-rel-cli-");
    const out = join(dir, "run");
    const r = spawnSync(process.execPath, [cli, "train", "--config", experiment(dir, 2), "--out", out, "--max-iters", "0", "--data", sharedData], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--max-iters/);
    assert.deepEqual(listCheckpoints(out), []);
    record("config", "--max-iters 0 (CLI)", "clear error", r.stderr.trim(), "no checkpoint");
  });

  // ------------------------------------------------------------ the command line's own items (issue 15)
  it("cli: stdout closing (train | head -n 2) ends the run cleanly: checkpoint, end event, exit 0", () => {
    const dir = tmp("adaptseg-rel-cli-");
    const out = join(dir, "run");
    const cfg = experiment(dir, 40);
    const r = spawnSync(
      "bash",
      ["-c", `"${process.execPath}" "${cli}" train --config "${cfg}" --out "${out}" --data "${sharedData}" --json-events | head -n 2 >/dev/null; echo "rc=\${PIPESTATUS[0]}" >&2`],
      { encoding: "utf8" },
    );
    const rc = /rc=(\d+)/.exec(r.stderr)?.[1];
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, r.stderr);
    assert.equal(rc, "0", r.stderr);
    const evs = events(out);
    const end = evs.at(-1);
    assert.ok(end?.type === "end", JSON.stringify(end));
    const cks = listCheckpoints(out);
    assert.equal(cks.at(-1)?.iteration, end.iteration);
    record("cli", "train --json-events piped into head -n 2 (EPIPE)", "exact", `exit ${rc}, end ${end.status} at ${end.iteration}`, "final checkpoint at the end iteration");
  });

  it("cli: predict of two inputs with one file name in two folders keeps both outputs apart", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const r0 = await train(tinyConfig("source-only", 1), { outDir: join(dir, "run"), dataRoot: sharedData });
    for (const d of ["a", "b"]) {
      mkdirSync(join(dir, "in", d), { recursive: true });
      copyFileSync(IMG, join(dir, "in", d, "x.png"));
    }
    const pred = join(dir, "pred");
    const r = spawnSync(process.execPath, [cli, "predict", "--checkpoint", r0.checkpoint!, join(dir, "in/a/x.png"), join(dir, "in/b/x.png"), "--out", pred], { encoding: "utf8" });
    const masks = existsSync(pred) ? (readdirSync(pred, { recursive: true }) as string[]).filter((f) => f.endsWith("_mask.png")) : [];
    if (r.status === 0) assert.equal(masks.length, 2, masks.join());
    else assert.ok(masks.length === 0 && /in\/a\/x\.png/.test(r.stderr) && /in\/b\/x\.png/.test(r.stderr), r.stderr);
    record("cli", "predict a/x.png b/x.png", r.status === 0 ? "exact" : "clear error", r.status === 0 ? `exit 0: ${masks.sort().join(", ")}` : r.stderr.trim(), "no output overwritten");
  });

  it("cli: --alpha abc and --alpha 2 are errors naming the option", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const r0 = await train(tinyConfig("source-only", 1), { outDir: join(dir, "run"), dataRoot: sharedData });
    for (const a of ["abc", "2"]) {
      const pred = join(dir, `pred-${a}`);
      const r = spawnSync(process.execPath, [cli, "predict", "--checkpoint", r0.checkpoint!, IMG, "--out", pred, "--alpha", a], { encoding: "utf8" });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /--alpha/);
      assert.ok(!existsSync(pred) || readdirSync(pred).length === 0);
      record("cli", `predict --alpha ${a}`, "clear error", r.stderr.trim(), "no output written");
    }
  });

  it("cli: predict-server answers every line (null, a negative size, then a good request)", async () => {
    const dir = tmp("adaptseg-rel-cli-");
    const r0 = await train(tinyConfig("source-only", 1), { outDir: join(dir, "run"), dataRoot: sharedData });
    const lines = [
      "null",
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "predict", params: { image: IMG, maxWidth: -5 } }),
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "predict", params: { image: IMG, maxWidth: 32 } }),
    ];
    const r = await runCli(["predict-server", "--checkpoint", r0.checkpoint!], undefined, lines.join("\n") + "\n");
    const answers = r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    assert.equal(answers.length, 3, r.stdout + r.stderr);
    assert.ok(
      answers.some((a) => a.id === null && a.error),
      "null line answered",
    );
    const neg = answers.find((a) => a.id === 1);
    assert.ok(neg?.error && /maxWidth/.test(neg.error.message), JSON.stringify(neg));
    assert.ok(answers.find((a) => a.id === 2)?.result?.width === 32);
    assert.equal(r.code, 0, r.stderr);
    record("cli", "predict-server: null line, maxWidth -5", "clear error", `${answers[0].error?.message ?? ""} / ${neg.error.message}`, "3 lines, 3 answers; server alive after");
  });
});
