// `adaptseg sweep`: expansion and validation (a bad sweep fails before any run starts, naming the
// path), a local 2 x 2 sweep of tiny runs (re-running runs nothing; a deleted run runs again), and
// the same sweep on a real Redis through two `adaptseg worker` processes, one killed mid-run.
import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { parseEvent, type ExperimentConfig, type IterationEvent, type RunEvent, type StartEvent } from "@adaptseg/core";
import { checkpointIterations, expandSweep, loadSweepFile, pluginChecks, runSweep, type RunMetrics, type SweepFile, type SweepJson } from "@adaptseg/sweep";
import { DEFAULT_METHODS, DEMO, demoConfig } from "../packages/cli/src/cli/demo.js";
import { repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");
const ITERS = 8;

/** 2 settings x 2 seeds of tiny CamVid runs, one thread each (two run side by side here). */
function tinySweep(o: Partial<SweepFile> = {}): SweepFile {
  const base = { ...tinyConfig("output-space", ITERS), threads: 1 };
  return { name: "tiny", base, axes: { "adaptation.lambdaAdv": [[0.001], [0.01]] }, seeds: [1, 2], baseline: "lambdaAdv=0.001", ...o };
}
const IDS = ["lambdaAdv=0.001/seed-1", "lambdaAdv=0.01/seed-1", "lambdaAdv=0.001/seed-2", "lambdaAdv=0.01/seed-2"];

const events = (dir: string): RunEvent[] =>
  existsSync(join(dir, "events.jsonl"))
    ? readFileSync(join(dir, "events.jsonl"), "utf8")
        .split("\n")
        .map(parseEvent)
        .filter((e): e is RunEvent => !!e)
    : [];
const completedEnds = (dir: string) => events(dir).filter((e) => e.type === "end" && e.status === "completed").length;
const metricsById = (json: SweepJson) => Object.fromEntries(json.runs.map((r) => [r.id, r.metrics])) as Record<string, RunMetrics | undefined>;

describe("sweep expansion", () => {
  it("settings x seeds: stable readable ids, one folder each, the axis value and seed in each config", () => {
    const s = expandSweep(tinySweep(), { out: "/tmp/sw" });
    assert.deepEqual(
      s.runs.map((r) => r.id),
      IDS,
    );
    assert.deepEqual(
      s.settings.map((x) => x.id),
      ["lambdaAdv=0.001", "lambdaAdv=0.01"],
    );
    const r = s.runs[1]!;
    assert.equal(r.outDir, "/tmp/sw/lambdaAdv=0.01/seed-1");
    assert.deepEqual(r.config.adaptation.lambdaAdv, [0.01]);
    assert.equal(r.config.seed, 1);
    assert.equal(s.baseline, "lambdaAdv=0.001");
    // The same file expands to the same runs.
    assert.deepEqual(expandSweep(tinySweep(), { out: "/tmp/sw" }).runs, s.runs);
  });

  it("a warm-up per seed runs first; every run of its seed waits for it and starts from its final checkpoint", () => {
    const s = expandSweep(tinySweep({ warmup: { adaptation: { type: "source-only" }, "training.stopIter": 4 } }), { out: "/tmp/sw" });
    assert.deepEqual(
      s.runs.map((r) => r.id),
      ["warmup/seed-1", "warmup/seed-2", ...IDS],
    );
    assert.deepEqual(s.runs[0]!.config.adaptation, { type: "source-only" });
    assert.equal(s.runs[0]!.config.model.init, undefined);
    for (const r of s.runs.slice(2)) {
      assert.deepEqual(r.dependsOn, [`warmup/seed-${r.seed}`]);
      assert.equal(r.config.model.init, `/tmp/sw/warmup/seed-${r.seed}/ckpt-00000004.safetensors`);
    }
  });

  it("named settings cross the axes; the baseline may name a setting", () => {
    const s = expandSweep(
      tinySweep({ settings: { so: { adaptation: { type: "source-only" } }, os: { "adaptation.type": "output-space" } }, axes: { "training.stopIter": [2, 4] }, seeds: [3], baseline: "so,stopIter=2" }),
      { out: "/tmp/sw" },
    );
    assert.deepEqual(
      s.runs.map((r) => r.id),
      ["so,stopIter=2/seed-3", "so,stopIter=4/seed-3", "os,stopIter=2/seed-3", "os,stopIter=4/seed-3"],
    );
    assert.equal(s.runs[3]!.config.training!.stopIter, 4);
    assert.equal(s.baseline, "so,stopIter=2");
  });

  it("the base is a config file whose `extends` is followed (or inline); relative paths in it become absolute", () => {
    const dir = tmp();
    const { name: _n, ...cfg } = tinyConfig("output-space", 2);
    writeFileSync(join(dir, "base.json"), JSON.stringify({ ...cfg, model: { ...cfg.model, init: "weights/vgg.safetensors" } }));
    writeFileSync(join(dir, "child.json"), JSON.stringify({ extends: "base.json", adaptation: { type: "source-only" } }));
    const file = join(dir, "s.sweep.json");
    const s = expandSweep({ base: "child.json", axes: { "training.stopIter": [1, 2] } }, { file, out: join(dir, "out") });
    assert.equal(s.name, "s");
    assert.deepEqual(s.runs[0]!.config.adaptation, { type: "source-only" });
    assert.deepEqual(s.runs[0]!.config.source, cfg.source);
    assert.equal(s.runs[0]!.config.model.init, join(dir, "weights/vgg.safetensors"));
    const inline = expandSweep({ base: { extends: "base.json", seed: 5 }, seeds: [3] }, { file, out: join(dir, "out") });
    assert.deepEqual(
      inline.runs.map((r) => [r.id, r.config.seed, r.config.adaptation.type]),
      [["base/seed-3", 3, "output-space"]],
    );
  });

  for (const f of ["gta2cityscapes-lambda.sweep.json", "camvid-day2dusk.sweep.json", "camvid-day2dusk-lambda.sweep.json"])
    it(`examples/${f} expands, and every run's config passes the plugins' validation`, async () => {
      const file = join(repoRoot, "examples", f);
      const spec = loadSweepFile(file);
      const s = expandSweep(spec, { file, out: "/tmp/sw", plugins: await pluginChecks(spec, file) });
      assert.equal(s.runs.length, f.startsWith("camvid") ? 3 + 7 * 3 : 3 * 3);
      assert.ok(s.baseline);
    });

  it("examples/camvid-day2dusk.sweep.json trains exactly the demo's configs (adaptseg demo), noise-floor's seed offset included", async () => {
    const file = join(repoRoot, "examples/camvid-day2dusk.sweep.json");
    const spec = loadSweepFile(file);
    const s = expandSweep(spec, { file, out: "/tmp/sw", plugins: await pluginChecks(spec, file) });
    const demo = { width: DEMO.width, height: DEMO.height, warmup: DEMO.warmup, iters: DEMO.iters, lr: DEMO.lr };
    // What may differ: the name, the warm-up checkpoint's path, how often checkpoints are written,
    // and an explicit default (evaluation.every 0: at the end only).
    const numerics = (c: ExperimentConfig) => {
      const { name: _n, $schema: _$, ...rest } = structuredClone(c) as ExperimentConfig & { $schema?: string };
      const { snapshotEvery: _s, keepSnapshots: _k, ...training } = rest.training!;
      const evaluation = { every: 0, ...rest.evaluation };
      return { ...rest, model: { ...rest.model, init: rest.model.init ? "warm-up" : undefined }, evaluation, training };
    };
    assert.deepEqual(Object.keys(spec.settings!).sort(), [...DEFAULT_METHODS].sort());
    for (const r of s.runs) {
      const want = r.stage === "warmup" ? demoConfig("source-only", { ...demo, seed: r.seed }) : demoConfig(r.setting, { ...demo, seed: r.seed }, "ckpt");
      assert.deepEqual(numerics(r.config), numerics(want), r.id);
    }
    assert.deepEqual(
      s.runs.filter((r) => r.setting === "noise-floor").map((r) => [r.seed, r.config.seed]),
      [
        [1, 1001],
        [2, 1002],
        [3, 1003],
      ],
    );
  });

  it("a setting's seedOffset shifts its runs' seeds, still paired by seed; a non-integer one is named", () => {
    const s = expandSweep(tinySweep({ axes: undefined, baseline: "a", settings: { a: {}, b: { seedOffset: 100 } } }), { out: "/tmp/sw" });
    assert.deepEqual(
      s.runs.map((r) => [r.id, r.seed, r.config.seed]),
      [
        ["a/seed-1", 1, 1],
        ["b/seed-1", 1, 101],
        ["a/seed-2", 2, 2],
        ["b/seed-2", 2, 102],
      ],
    );
    assert.throws(() => expandSweep(tinySweep({ axes: undefined, settings: { b: { seedOffset: 0.5 } } })), /settings\["b"\]\["seedOffset"\]: must be an integer, got 0.5/);
  });

  // Run as `adaptseg sweep`: the error names the sweep file's path, and no run folder appears.
  const bad: [string, Partial<SweepFile>, string][] = [
    ["an unknown path", { axes: { "adaptation.lamdaAdv": [[0.001]] } }, 'axes["adaptation.lamdaAdv"]: unknown config path'],
    ["a wrong type", { axes: { "adaptation.lambdaAdv": [0.001, 0.01] } }, 'axes["adaptation.lambdaAdv"][0] (0.001): adaptation.lambdaAdv must be an array'],
    ["an empty axis", { axes: { "training.stopIter": [] } }, 'axes["training.stopIter"]: empty axis'],
  ];
  for (const [what, patch, message] of bad)
    it(`a sweep file with ${what} fails before any run starts, naming the path`, () => {
      const dir = tmp();
      const file = join(dir, "bad.sweep.json");
      writeFileSync(file, JSON.stringify(tinySweep({ baseline: undefined, ...patch })));
      const out = join(dir, "out");
      const p = spawnSync(process.execPath, [cli, "sweep", file, "--out", out, "--data", sharedData], { encoding: "utf8" });
      assert.equal(p.status, 1, p.stdout + p.stderr);
      assert.ok(p.stderr.includes(message), p.stderr);
      assert.equal(existsSync(out), false, "the sweep created its output folder");
    });
});

describe("sweep (slow)", function () {
  // About 20 s on an idle 2-core machine; generous for a loaded one.
  this.timeout(300_000);
  const outLocal = tmp("adaptseg-sweep-");
  let local: SweepJson | undefined;

  it("a local 2 x 2 sweep: each run once, sweep.json, tables and the chart", async () => {
    const t0 = Date.now();
    const r = await runSweep({ sweep: tinySweep(), out: outLocal, cli, workers: 2, data: sharedData });
    local = r.json;
    assert.deepEqual([...r.executed].sort(), [...IDS].sort());
    assert.deepEqual(r.failed, []);
    assert.equal(r.json.state, "done");
    for (const id of IDS) {
      const dir = join(outLocal, id);
      assert.equal(completedEnds(dir), 1, id);
      assert.ok(existsSync(join(dir, "result.json")) && existsSync(join(dir, `ckpt-${String(ITERS).padStart(8, "0")}.safetensors`)), id);
      const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.equal(cfg.seed, Number(id.at(-1)));
      assert.deepEqual(cfg.adaptation.lambdaAdv, [Number(/lambdaAdv=([\d.]+)/.exec(id)![1])]);
    }
    const json = JSON.parse(readFileSync(join(outLocal, "sweep.json"), "utf8")) as SweepJson;
    assert.deepEqual(
      json.runs.map((x) => x.id),
      IDS,
    );
    for (const s of json.settings) {
      const v = Object.values(s.perSeed) as number[];
      assert.equal(v.length, 2);
      assert.ok(Math.abs(s.miou.mean! - (v[0]! + v[1]!) / 2) < 1e-9);
      assert.ok(Math.abs(s.miou.sd! - Math.abs(v[0]! - v[1]!) / Math.SQRT2) < 1e-9);
    }
    const [b, x] = json.settings;
    assert.equal(b!.diff, undefined);
    for (const seed of [1, 2]) assert.ok(Math.abs(x!.diff!.perSeed[seed]! - (x!.perSeed[seed]! - b!.perSeed[seed]!)) < 1e-9);
    assert.match(readFileSync(join(outLocal, "results.md"), "utf8"), /\| lambdaAdv=0\.01 \| [\d.]+ \| [\d.]+ \| [\d.]+ ± [\d.]+ \(n=2\) \| [-+][\d.]+ \| [-+][\d.]+ \| [-+][\d.]+ ± [\d.]+ \(n=2\) \|/);
    assert.equal(readFileSync(join(outLocal, "results.csv"), "utf8").trim().split("\n").length, 3);
    assert.deepEqual([...readFileSync(join(outLocal, "miou.png")).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    console.log(`      (local 2 x 2 sweep: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });

  it("running it again runs nothing", async () => {
    assert.ok(local, "needs the local sweep");
    const before = IDS.map((id) => readFileSync(join(outLocal, id, "events.jsonl"), "utf8"));
    const r = await runSweep({ sweep: tinySweep(), out: outLocal, cli, workers: 2, data: sharedData });
    assert.deepEqual(r.executed, []);
    assert.deepEqual([...r.reused].sort(), [...IDS].sort());
    assert.deepEqual(
      IDS.map((id) => readFileSync(join(outLocal, id, "events.jsonl"), "utf8")),
      before,
    );
    assert.deepEqual(metricsById(r.json), metricsById(local!));
  });

  it("deleting one run's output re-runs only that run, with the same result", async () => {
    assert.ok(local, "needs the local sweep");
    const gone = IDS[2]!;
    const others = IDS.filter((id) => id !== gone);
    const before = others.map((id) => readFileSync(join(outLocal, id, "events.jsonl"), "utf8"));
    rmSync(join(outLocal, gone), { recursive: true });
    const r = await runSweep({ sweep: tinySweep(), out: outLocal, cli, workers: 2, data: sharedData });
    assert.deepEqual(r.executed, [gone]);
    assert.deepEqual(
      others.map((id) => readFileSync(join(outLocal, id, "events.jsonl"), "utf8")),
      before,
    );
    assert.equal(completedEnds(join(outLocal, gone)), 1);
    assert.deepEqual(metricsById(r.json), metricsById(local!));
  });

  it("a warm-up per seed runs first; its seed's runs start from its final checkpoint", async () => {
    const out = tmp("adaptseg-sweep-warm-");
    const spec = tinySweep({ warmup: { adaptation: { type: "source-only" }, "training.stopIter": 2 }, overrides: { "training.stopIter": 2 }, seeds: [1] });
    const r = await runSweep({ sweep: spec, out, cli, workers: 2, data: sharedData });
    assert.equal(r.json.state, "done");
    assert.deepEqual(r.executed[0], "warmup/seed-1");
    const warmEnd = events(join(out, "warmup/seed-1")).find((e) => e.type === "end")!;
    for (const id of ["lambdaAdv=0.001/seed-1", "lambdaAdv=0.01/seed-1"]) {
      const cfg = JSON.parse(readFileSync(join(out, id, "config.json"), "utf8"));
      assert.equal(cfg.model.init, join(out, "warmup/seed-1/ckpt-00000002.safetensors"));
      const ev = events(join(out, id));
      assert.ok(ev[0]!.time >= warmEnd.time, `${id} started before its warm-up ended`);
      assert.equal(completedEnds(join(out, id)), 1);
    }
  });

  describe("on a Redis queue", () => {
    let redis: ChildProcess | undefined;
    let url = "";
    const workers: (ChildProcess & { lines: string[] })[] = [];
    const queueName = `adaptseg-test-${process.pid}`;

    before(async () => {
      const port = await freePort();
      redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
      await new Promise<void>((resolve, reject) => {
        let out = "";
        redis!.on("error", (e) => reject(new Error(`redis-server did not start (${e.message}); npm test installs it (scripts/setup.mjs), or apt-get install redis-server`)));
        redis!.on("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
        redis!.stdout!.on("data", (d) => {
          out += d;
          if (out.includes("Ready to accept connections")) resolve();
        });
      });
      url = `redis://127.0.0.1:${port}`;
    });

    after(async () => {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
      if (redis && redis.exitCode === null) {
        redis.kill("SIGTERM");
        await new Promise((r) => redis!.once("exit", r));
      }
    });

    const startWorker = async (...extra: string[]) => {
      const w = spawn(
        process.execPath,
        [cli, "worker", "--queue", url, "--queue-name", queueName, "--data", sharedData, "--work", tmp(), "--lock-duration", "3000", "--stalled-interval", "1000", "--drain-delay", "1", ...extra],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      ) as ChildProcess & { lines: string[] };
      w.lines = [];
      let buf = "";
      const onData = (d: Buffer) => {
        buf += d;
        const ls = buf.split("\n");
        buf = ls.pop()!;
        w.lines.push(...ls);
      };
      w.stdout!.on("data", onData);
      w.stderr!.on("data", onData);
      workers.push(w);
      await waitFor(() => w.lines.some((l) => l.includes(" on redis://")) || w.exitCode !== null, 30_000, "the worker to connect");
      assert.equal(w.exitCode, null, w.lines.join("\n"));
      return w;
    };
    const stopWorker = async (w: ChildProcess) => {
      if (w.exitCode !== null || w.signalCode !== null) return;
      w.kill("SIGTERM");
      await new Promise((r) => w.once("exit", r));
    };

    it("two workers, one killed with SIGKILL mid-run: every run completes exactly once; results equal the local sweep's", async () => {
      assert.ok(local, "needs the local sweep");
      const t0 = Date.now();
      const a = await startWorker();
      const b = await startWorker();
      const out = tmp("adaptseg-sweep-queue-");
      const sweep = runSweep({ sweep: tinySweep(), out, cli, queue: url, queueName });
      // Kill whichever worker first holds a run that has written a checkpoint but not finished.
      let killed: { worker: typeof a; run: string; iteration: number } | undefined;
      await waitFor(
        () => {
          for (const w of [a, b]) {
            const started = w.lines
              .map((l) => / ([^ ]+\/seed-\d+): starting in (.+)$/.exec(l))
              .filter((m) => !!m)
              .at(-1);
            if (!started) continue;
            const ck = checkpointIterations(started[2]!);
            if (ck.length && !ck.includes(ITERS) && !w.lines.some((l) => l.includes(`${started[1]}: completed`))) {
              w.kill("SIGKILL");
              killed = { worker: w, run: started[1]!, iteration: ck.at(-1)! };
              return true;
            }
          }
          return false;
        },
        60_000,
        "a run with a checkpoint to kill",
      );
      const r = await sweep;
      const survivor = killed!.worker === a ? b : a;
      assert.equal(r.json.state, "done", JSON.stringify(r.json.runs.map((x) => [x.id, x.status, x.error])));
      assert.deepEqual([...r.executed].sort(), [...IDS].sort());
      assert.deepEqual(r.failed, []);
      // The killed run: resumed from its checkpoint by the other worker; the dead worker's run process wrote nothing after that.
      assert.ok(
        survivor.lines.some((l) => l.includes(`${killed!.run}: resuming from iteration`)),
        survivor.lines.join("\n"),
      );
      const ev = events(join(out, killed!.run));
      const starts = ev.filter((e): e is StartEvent => e.type === "start");
      assert.equal(starts.length, 2);
      assert.equal(starts[1]!.resumed, true);
      assert.ok(starts[1]!.iteration >= killed!.iteration && starts[1]!.iteration < ITERS, `resumed at ${starts[1]!.iteration}`);
      const after = ev.slice(ev.indexOf(starts[1]!)).filter((e): e is IterationEvent => e.type === "iteration");
      assert.deepEqual(
        after.map((e) => e.iteration),
        Array.from({ length: ITERS - starts[1]!.iteration }, (_, i) => starts[1]!.iteration + 1 + i),
      );
      // Exactly once: one completed end per run, one completion per run across both workers.
      for (const id of IDS) assert.equal(completedEnds(join(out, id)), 1, id);
      const done = [...a.lines, ...b.lines].map((l) => / ([^ ]+\/seed-\d+): completed/.exec(l)?.[1]).filter(Boolean);
      assert.deepEqual([...done].sort(), [...IDS].sort());
      assert.deepEqual(metricsById(r.json), metricsById(local!));
      await stopWorker(survivor);
      console.log(`      (queue sweep with a killed worker: ${((Date.now() - t0) / 1000).toFixed(1)} s; killed ${killed!.run} at checkpoint ${killed!.iteration})`);
    });

    it("a worker that cannot use the sweep's folder trains in its own; the job result brings metrics and events.jsonl back", async () => {
      assert.ok(local, "needs the local sweep");
      const w = await startWorker("--isolated");
      const out = tmp("adaptseg-sweep-queue-");
      const r = await runSweep({ sweep: tinySweep({ axes: { "adaptation.lambdaAdv": [[0.001]] }, seeds: [1] }), out, cli, queue: url, queueName });
      const id = IDS[0]!;
      assert.deepEqual(r.executed, [id]);
      assert.ok(
        w.lines.some((l) => l.includes(`${id}: starting in`) && !l.includes(out)),
        w.lines.join("\n"),
      );
      assert.deepEqual(checkpointIterations(join(out, id)), [], "the worker trained in the sweep's folder");
      assert.equal(completedEnds(join(out, id)), 1);
      assert.deepEqual(r.json.runs[0]!.metrics, metricsById(local!)[id]);
      assert.ok(r.json.runs[0]!.worker?.includes(String(w.pid)));
      await stopWorker(w);
    });
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
