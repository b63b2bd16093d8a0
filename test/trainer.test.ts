// The trainer on real CamVid frames with a tiny network: reproducibility, no tensor leaks,
// kill -9 and resume, the NaN guard, and the CLI's train/eval/predict.
import { strict as assert } from "node:assert";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEvent, type EvalEvent, type IterationEvent, type RunEvent } from "@adaptseg/core";
import { train, listCheckpoints, readCheckpoint } from "@adaptseg/engine";
import { decode } from "fast-png";
import { describeWithData, repoRoot, sharedData, tinyConfig, resumeAndRead, tmp, trainAndKill } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");

describeWithData("trainer", function () {
  this.timeout(300_000);

  for (const strategy of ["source-only", "output-space", "multi-level", "feature-level"]) {
    it(`${strategy}: same seed gives identical losses; tensor count stays flat`, async () => {
      const n = strategy === "feature-level" ? 2 : 4;
      const a = await train(tinyConfig(strategy, n), { outDir: tmp(), dataRoot: sharedData });
      const b = await train(tinyConfig(strategy, n), { outDir: tmp(), dataRoot: sharedData });
      assert.equal(a.lossHistory.length, n);
      assert.deepEqual(a.lossHistory, b.lossHistory);
      const names = Object.keys(a.lossHistory[0]!);
      assert.ok(names.includes("seg"), names.join());
      if (strategy !== "source-only") assert.ok(names.some((n) => n.startsWith("adv_")) && names.some((n) => n.startsWith("d_")), names.join());
      for (const l of a.lossHistory) for (const v of Object.values(l)) assert.ok(Number.isFinite(v));
      assert.deepEqual(new Set(a.tensorCounts.slice(1)).size, 1, `tensor counts grew: ${a.tensorCounts}`);
      assert.equal(a.evals.length, 1);
      assert.ok(a.evals[0]!.miou >= 0 && a.evals[0]!.miou <= 100);
    });
  }

  it("a different seed gives different losses", async () => {
    const a = await train(tinyConfig("output-space", 2), { outDir: tmp(), dataRoot: sharedData });
    const b = await train({ ...tinyConfig("output-space", 2), seed: 8 }, { outDir: tmp(), dataRoot: sharedData });
    assert.notDeepEqual(a.lossHistory, b.lossHistory);
  });

  it("kill -9 mid-run, then --resume, reproduces the uninterrupted loss sequence", async () => {
    const dir = tmp();
    const cfgFile = join(dir, "exp.json");
    writeFileSync(cfgFile, JSON.stringify(tinyConfig("output-space", 8)));
    const full = await train(tinyConfig("output-space", 8), { outDir: join(dir, "full"), dataRoot: sharedData });
    const out = join(dir, "run");
    // Run the CLI and kill it hard once iteration 5 is reported (checkpoint at 4 exists).
    await trainAndKill(cfgFile, out, 5);
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.iteration),
      [2, 4],
    );
    const resumed = resumeAndRead(cfgFile, out);
    assert.equal(resumed.start.iteration, 4);
    assert.deepEqual(
      resumed.iterations.map((e) => e.iteration),
      [5, 6, 7, 8],
    );
    assert.deepEqual(
      resumed.iterations.map((e) => e.losses),
      full.lossHistory.slice(4),
    );
  });

  it("SIGTERM checkpoints at the current iteration and stops; only the last keepSnapshots checkpoints remain", async () => {
    const dir = tmp();
    const cfgFile = join(dir, "exp.json");
    const cfg = tinyConfig("source-only", 50);
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, training: { ...cfg.training, snapshotEvery: 1, keepSnapshots: 2 } }));
    const out = join(dir, "run");
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, [cli, "train", "--config", cfgFile, "--out", out, "--data", sharedData, "--json-events"], { stdio: ["ignore", "pipe", "pipe"] });
      let sent = false;
      p.stdout.on("data", (d) => {
        if (
          !sent &&
          String(d)
            .split("\n")
            .some((l) => parseEvent(l)?.type === "iteration" && (parseEvent(l) as IterationEvent).iteration >= 3)
        ) {
          sent = true;
          p.kill("SIGTERM");
        }
      });
      p.on("exit", (c) => resolve(c));
    });
    assert.equal(code, 0);
    const events = readFileSync(join(out, "events.jsonl"), "utf8")
      .split("\n")
      .map(parseEvent)
      .filter((e): e is RunEvent => !!e);
    const end = events.at(-1)!;
    assert.ok(end.type === "end" && end.status === "stopped", JSON.stringify(end));
    assert.ok(end.iteration >= 3 && end.iteration < 50, `stopped at ${end.iteration}`);
    const signal = events.filter((e) => e.type === "checkpoint" && e.reason === "signal");
    assert.equal(signal.length, 1);
    assert.equal((signal[0] as { iteration: number }).iteration, end.iteration);
    // keepSnapshots 2, atomic writes: the two newest checkpoints and no temporary files.
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.iteration),
      [end.iteration - 1, end.iteration],
    );
    assert.deepEqual(readdirSync(out).sort(), [
      "ckpt-" + String(end.iteration - 1).padStart(8, "0") + ".safetensors",
      "ckpt-" + String(end.iteration).padStart(8, "0") + ".safetensors",
      "events.jsonl",
    ]);
    assert.equal(readCheckpoint(listCheckpoints(out).at(-1)!.file).meta.iteration, end.iteration);
  });

  it("stops on a non-finite loss with a clear message, keeping the last good checkpoint", async () => {
    const out = tmp();
    const cfg = tinyConfig("source-only", 6);
    cfg.training = { ...cfg.training, snapshotEvery: 1, optimizerG: { lr: 1e12 } };
    await assert.rejects(train(cfg, { outDir: out, dataRoot: sharedData }), /non-finite loss at iteration \d+: seg=(NaN|Infinity).*weights were not updated/);
    const cks = listCheckpoints(out);
    assert.ok(cks.length >= 1);
    const ck = readCheckpoint(cks.at(-1)!.file);
    assert.equal(ck.meta.iteration, cks.at(-1)!.iteration);
    const events = readFileSync(join(out, "events.jsonl"), "utf8");
    assert.match(events, /"status":"failed"/);
  });

  it("eval and predict from a checkpoint write metrics and PNGs", async () => {
    const dir = tmp();
    const cfgFile = join(dir, "exp.json");
    writeFileSync(cfgFile, JSON.stringify(tinyConfig("output-space", 2)));
    const r = await train(tinyConfig("output-space", 2), { outDir: join(dir, "run"), dataRoot: sharedData });
    const ev = execFileSync(process.execPath, [cli, "eval", "--config", cfgFile, "--checkpoint", r.checkpoint!, "--out", join(dir, "eval"), "--data", sharedData], { encoding: "utf8" });
    assert.match(ev, /mIoU/);
    const metrics = JSON.parse(readFileSync(join(dir, "eval", "metrics.json"), "utf8"));
    assert.ok(metrics.miou >= 0 && "sky" in metrics.perClass);
    // The same weights on the same backend (the config's wasm): the CLI's mIoU is the trainer's final eval.
    assert.ok(Math.abs(metrics.miou - r.evals[0]!.miou) < 1e-9, `eval CLI mIoU ${metrics.miou} vs trainer ${r.evals[0]!.miou}`);
    assert.equal(metrics.images, 2);
    // Per image: train-id PNG at label size (the shared CamVid frames are 480x360) and a colour PNG that is palette[trainId].
    const { palette, classes } = readCheckpoint(r.checkpoint!).meta;
    const ids = readdirSync(join(dir, "eval", "predictions")).filter((f) => f.endsWith("_trainIds.png"));
    assert.equal(ids.length, 2, ids.join());
    for (const f of ids) {
      const m = decode(readFileSync(join(dir, "eval", "predictions", f)));
      const c = decode(readFileSync(join(dir, "eval", "predictions", f.replace("_trainIds", "_color"))));
      assert.deepEqual([m.width, m.height, m.channels, c.width, c.height, c.channels], [480, 360, 1, 480, 360, 3]);
      for (let i = 0; i < m.width * m.height; i += 97) {
        const id = m.data[i]!;
        assert.ok(id < classes.length, `train id ${id}`);
        assert.deepEqual([c.data[3 * i], c.data[3 * i + 1], c.data[3 * i + 2]], palette[id], `pixel ${i}`);
      }
    }
    const img = join(sharedData, "camvid/CamVid/val/0016E5_07959.png");
    execFileSync(process.execPath, [cli, "predict", "--checkpoint", r.checkpoint!, img, "--out", join(dir, "pred")], { encoding: "utf8" });
    for (const k of ["mask", "color", "overlay"]) assert.ok(existsSync(join(dir, "pred", `0016E5_07959_${k}.png`)), k);
  });

  it("train CLI: a progress bar on a TTY, plain lines otherwise, every loss/lr/timing in the JSON events", () => {
    const dir = tmp();
    const cfgFile = join(dir, "exp.json");
    const cfg = tinyConfig("output-space", 3);
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, training: { ...cfg.training, snapshotEvery: 100 } }));
    const args = (out: string) => [cli, "train", "--config", cfgFile, "--out", join(dir, out), "--data", sharedData];
    // A terminal cannot be attached here portably: the child is told its stdout is a TTY (isTTY = true).
    const tty = execFileSync(process.execPath, ["--import", "data:text/javascript,process.stdout.isTTY=true", ...args("tty")], { encoding: "utf8" });
    for (const [i, bar] of [
      [1, "#######............."],
      [2, "#############......."],
      [3, "####################"],
    ] as const)
      assert.match(
        tty,
        new RegExp(`\\r\\x1b\\[K\\[${bar.replace(/\./g, "\\.")}\\] it ${i}/3  seg \\d+\\.\\d{4}  adv_main [\\d.]+ .* [\\d.]+ it/s  ETA \\d+s`),
        `iteration ${i} in ${JSON.stringify(tty)}`,
      );
    const plain = execFileSync(process.execPath, args("plain"), { encoding: "utf8" });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no carriage return or ANSI escape in plain output
    assert.doesNotMatch(plain, /[\r\x1b]|#/);
    assert.deepEqual(plain.match(/^it \d+\/3 /gm), ["it 1/3 "]); // iteration 1, then every 10th
    assert.match(plain, /^eval @3: mIoU [\d.]+/m);
    // --json-events: stdout is the event stream (the same lines as events.jsonl), progress goes to stderr.
    const json = execFileSync(process.execPath, [...args("json"), "--json-events"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const lines = json.trim().split("\n");
    assert.deepEqual(
      lines,
      readFileSync(join(dir, "json", "events.jsonl"), "utf8")
        .trim()
        .split("\n"),
    );
    const events = lines.map((l) => parseEvent(l)!) as RunEvent[];
    assert.deepEqual(
      events.map((e) => e.type),
      ["start", "iteration", "iteration", "iteration", "checkpoint", "eval", "end"],
    );
    for (const e of events.filter((e): e is IterationEvent => e.type === "iteration")) {
      assert.deepEqual(Object.keys(e.losses).sort(), ["adv_main", "d_main", "d_main_src", "d_main_tgt", "seg"]);
      const expectLr = (base: number) => base * Math.pow(1 - (e.iteration - 1) / 100, 0.9); // poly decay, maxIters 100
      assert.ok(Math.abs(e.lr.G - expectLr(0.01)) < 1e-12 && Math.abs(e.lr.D! - expectLr(1e-4)) < 1e-12, JSON.stringify(e.lr));
      assert.ok(e.secPerIter > 0 && e.itPerSec > 0 && e.etaSec >= 0, JSON.stringify(e));
    }
    assert.equal((events[3] as IterationEvent).etaSec, 0);
    const ev = events.find((e): e is EvalEvent => e.type === "eval")!;
    assert.ok(ev.miou >= 0 && ev.miou <= 100);
    assert.equal(Object.keys(ev.perClass).length, 11);
    assert.ok("road" in ev.perClass && "sky" in ev.perClass, Object.keys(ev.perClass).join());
  });

  it("a bad config is an error naming the field; missing data names the path", () => {
    const dir = tmp();
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ ...tinyConfig(), adaptation: { type: "output-space", lambdaAdv: ["x"] } }));
    assert.throws(
      () => execFileSync(process.execPath, [cli, "train", "--config", bad], { stdio: "pipe" }),
      (e: { stderr: Buffer }) => /adaptation\.lambdaAdv\[0\] must be a number/.test(String(e.stderr)),
    );
    const missing = join(dir, "missing.json");
    writeFileSync(missing, JSON.stringify({ ...tinyConfig(), source: { type: "camvid", root: "no/such/dir" } }));
    assert.throws(
      () => execFileSync(process.execPath, [cli, "train", "--config", missing, "--data", sharedData], { stdio: "pipe" }),
      (e: { stderr: Buffer }) => /root "no\/such\/dir" not found/.test(String(e.stderr)),
    );
  });
});
