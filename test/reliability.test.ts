// Nothing lost, nothing silent (issue 15): a corpus of bad input and faults against the library —
// config, data, checkpoints, run folders, disk, plugins — each row asserting the exact failure (a
// clear message naming the file or field), and what is on disk afterwards (nothing changed, nothing
// lost). Rows print as a table after the suite. CLI and signal rows: reliability-cli.test.ts.
import { strict as nodeAssert } from "node:assert";
// assert.ok without a message makes Node read the failing line's source to word one, which hangs on
// tsx's transpiled one-line output: every ok() here gets a message.
const assert: typeof nodeAssert = Object.assign(Object.create(nodeAssert), { ok: (v: unknown, m?: string | Error) => nodeAssert.ok(v, m ?? "expected a truthy value") });
import fs, { existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { hostname } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { encode } from "fast-png";
import { createContainer, saveWeights, validateConfig, type ExperimentConfig, type IterationEvent, type LogEvent, type RunEvent } from "@adaptseg/core";
import { Predictor, builtinModules, listCheckpoints, readCheckpoint, train, type TrainOptions } from "@adaptseg/engine";
import { repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";
import { Corpus, bigPng, copyRun, events, poisonCheckpoint, rejects, snapshot, writeHeader } from "./reliability.helpers.js";

const corpus = new Corpus();
const record = corpus.record.bind(corpus);

const opts = (outDir: string, o: Partial<TrainOptions> = {}): TrainOptions => ({ outDir, dataRoot: sharedData, ...o });
const warnings = (evs: RunEvent[]) => evs.filter((e): e is LogEvent => e.type === "log" && e.level === "warn").map((e) => e.message);
const ck = (n: number) => `ckpt-${String(n).padStart(8, "0")}.safetensors`;
/** The base experiment: tiny output-space, 4 iterations, checkpoints at 2 and 4. */
const base = (iters = 4): ExperimentConfig => {
  const c = tinyConfig("output-space", iters);
  return { ...c, evaluation: undefined, training: { ...c.training!, snapshotEvery: 2, keepSnapshots: 10 } };
};
const withTraining = (c: ExperimentConfig, t: NonNullable<ExperimentConfig["training"]>): ExperimentConfig => ({ ...c, training: { ...c.training, ...t } });

describe("reliability: bad input and faults (library)", function () {
  this.timeout(120_000);
  /** A finished run (ckpt-2, ckpt-4, events.jsonl) every checkpoint row starts from a copy of. */
  let finished: string;
  /** Its losses, and those of an uninterrupted 6-iteration run. */
  let ref6: Record<string, number>[];

  before(async function () {
    this.timeout(300_000);
    finished = join(tmp("adaptseg-rel-"), "run");
    await train(base(4), opts(finished));
    ref6 = (await train(base(6), opts(join(tmp("adaptseg-rel-"), "ref6")))).lossHistory;
  });
  after(() => corpus.print("reliability corpus (library)"));

  // ------------------------------------------------------------ config: the schema bounds what must be bounded
  const schemaRows: [kind: string, patch: (c: ExperimentConfig) => void, field: RegExp][] = [
    ["loader.prefetch 100000", (c) => (c.loader = { prefetch: 100000 }), /loader\.prefetch: .*64/],
    ["source.size.width 100000", (c) => (c.source.size = { width: 100000, height: 48 }), /source\.size\.width: .*8192/],
    ["target.size.height 9000", (c) => (c.target.size = { width: 64, height: 9000 }), /target\.size\.height: .*8192/],
    ["evaluation.dataset.size.width 20000", (c) => (c.evaluation = { dataset: { ...c.target, size: { width: 20000, height: 48 } } }), /evaluation\.dataset\.size\.width: .*8192/],
    ["augment.crop 10000 wide", (c) => (c.source.augment = { crop: { width: 10000, height: 32 } }), /source\.augment\.crop\.width: .*8192/],
    ["augment.scale [0.5, 1000]", (c) => (c.source.augment = { scale: [0.5, 1000] }), /source\.augment\.scale\[1\]: .*8/],
    ["model.numClasses 1000 (train ids are bytes)", (c) => (c.model.numClasses = 1000), /model\.numClasses: .*255/],
    ["training.batchSize 100000", (c) => (c.training = { batchSize: 100000 }), /training\.batchSize: .*1024/],
    ["optimizerD.betas [1.5, 0.99]", (c) => (c.training = { optimizerD: { lr: 1e-4, betas: [1.5, 0.99] } }), /training\.optimizerD\.betas\[0\]: .*1/],
    ["optimizerG.momentum 5", (c) => (c.training = { optimizerG: { lr: 0.01, momentum: 5 } }), /training\.optimizerG\.momentum: .*1/],
    ["evaluation.classes [300]", (c) => (c.evaluation = { classes: [300] }), /evaluation\.classes\[0\]: .*254/],
    ["threads 100000", (c) => (c.threads = 100000), /threads: .*1024/],
  ];
  for (const [kind, patch, field] of schemaRows)
    it(`config: ${kind} is a schema error naming the field`, async () => {
      const c = structuredClone(base());
      patch(c);
      const msg = await rejects(() => validateConfig(c, "exp.json"), /^exp\.json: invalid config/, field);
      record("config", kind, "clear error", msg.split("\n")[1]!.trim(), "validation only: nothing written");
    });

  it("config: model.numClasses smaller than the dataset's classes fails before anything is written", async () => {
    const out = join(tmp("adaptseg-rel-"), "run");
    const c = base();
    c.model = { ...c.model, numClasses: 5 };
    const msg = await rejects(train(c, opts(out)), /model\.numClasses: 5 is smaller than the 11 classes of the source dataset "camvid"/);
    assert.ok(!existsSync(out));
    record("config", "model.numClasses 5 < 11 dataset classes", "clear error", msg, "run folder never created");
  });

  it("config: evaluation.classes out of range fails before training, naming the field", async () => {
    const out = join(tmp("adaptseg-rel-"), "run");
    const c = tinyConfig("source-only", 2);
    c.evaluation = { ...c.evaluation, classes: [0, 40] };
    const msg = await rejects(train(c, opts(out)), /^evaluation\.classes\[1\]: 40 is not a class id of the evaluation set \(camvid11 has 11 classes/);
    assert.ok(!existsSync(out));
    record("config", "evaluation.classes [0, 40]", "clear error", msg, "run folder never created (no training first)");
  });

  for (const [kind, classes, re] of [
    ["evaluation.classes [] (empty)", [], /^evaluation\.classes: empty; list at least one class id/],
    ["evaluation.classes [1, 3, 1] (duplicate)", [1, 3, 1], /^evaluation\.classes\[2\]: class 1 is listed twice \(also at \[0\]\)/],
  ] as const)
    it(`config: ${kind} fails before training, naming the field`, async () => {
      const out = join(tmp("adaptseg-rel-"), "run");
      const c = tinyConfig("source-only", 2);
      c.evaluation = { ...c.evaluation, classes: [...classes] };
      const msg = await rejects(train(c, opts(out)), re);
      assert.ok(!existsSync(out));
      record("config", kind, "clear error", msg, "run folder never created");
    });

  for (const n of [0, -3])
    it(`config: stopIter (--max-iters) ${n} is an error`, async () => {
      const out = join(tmp("adaptseg-rel-"), "run");
      const msg = await rejects(train(base(), opts(out, { stopIter: n })), new RegExp(`stopIter \\(--max-iters\\) must be a positive integer, got ${n}`));
      assert.ok(!existsSync(out));
      record("config", `stopIter / --max-iters ${n}`, "clear error", msg, "run folder never created");
    });

  it("config: a stop iteration beyond training.maxIters is a warning saying where it stops", async () => {
    const out = join(tmp("adaptseg-rel-"), "run");
    const r = await train(withTraining(base(), { maxIters: 2, stopIter: 5 }), opts(out));
    assert.equal(r.iteration, 2);
    const w = warnings(events(out)).find((m) => /stop iteration 5 is beyond training\.maxIters 2: stopping at 2/.test(m));
    assert.ok(w, warnings(events(out)).join("\n"));
    record("config", "training.stopIter 5 > maxIters 2", "warning", w!, "stopped at 2, checkpoint ckpt-2");
  });

  it("config: resume and overwrite together are an error", async () => {
    const dir = copyRun(finished);
    const before = snapshot(dir);
    const msg = await rejects(train(base(), opts(dir, { resume: true, overwrite: true })), /resume and overwrite exclude each other/);
    assert.deepEqual(snapshot(dir), before);
    record("config", "resume + overwrite", "clear error", msg, "every file byte-identical");
  });

  // ------------------------------------------------------------ run folders: one run each
  it("folder: a fresh run refuses a folder holding another run's checkpoints", async () => {
    const dir = copyRun(finished);
    const before = snapshot(dir);
    const runId = readCheckpoint(join(dir, ck(4))).meta.runId!;
    assert.ok(runId);
    const msg = await rejects(train(base(), opts(dir)), new RegExp(`already holds 2 checkpoints of run ${runId} \\(newest ${ck(4)}, iteration 4\\).*--resume.*--overwrite.*Nothing was changed`));
    assert.deepEqual(snapshot(dir), before);
    record("folder", "fresh run in a folder with another run's ckpts", "clear error", msg, "every file byte-identical");
  });

  it("folder: overwrite replaces the earlier run (its checkpoints and events), said in a warning", async () => {
    const dir = copyRun(finished);
    const old = readCheckpoint(join(dir, ck(4))).meta.runId;
    const r = await train(base(2), opts(dir, { overwrite: true }));
    const evs = events(dir);
    const ids = new Set(evs.map((e) => (e as { runId?: string }).runId));
    assert.equal(ids.size, 1);
    assert.notEqual([...ids][0], old);
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.iteration),
      [2],
    );
    assert.equal(readCheckpoint(r.checkpoint!).meta.runId, [...ids][0]);
    const w = warnings(evs).find((m) => m.startsWith("--overwrite: deleted 2 checkpoints"));
    assert.ok(w, warnings(evs).join("\n"));
    record("folder", "overwrite: true", "warning", w!, "only the new run's ckpt-2 and events remain");
  });

  it("folder: two runs on one folder at once: the second is refused while the first runs; the first is unharmed", async () => {
    const dir = join(tmp("adaptseg-rel-"), "run");
    // The first trains until told to stop, which happens once the second was refused.
    const stop = { stop: false };
    const first = train(base(1000), opts(dir, { stopSignal: stop }));
    while (!existsSync(join(dir, ".adaptseg.lock"))) await new Promise((r) => setTimeout(r, 20));
    const msg = await rejects(train(base(4), opts(dir)), new RegExp(`${dir} is in use by another run \\(pid ${process.pid} on ${hostname()}`)).finally(() => (stop.stop = true));
    const r = await first;
    assert.equal(r.status, "stopped");
    const evs = events(dir);
    assert.equal(new Set(evs.map((e) => (e as { runId?: string }).runId)).size, 1);
    assert.equal(evs.filter((e) => e.type === "start").length, 1);
    assert.ok(!existsSync(join(dir, ".adaptseg.lock")), "lock released");
    record("folder", "two concurrent runs, one folder", "clear error", msg, "first run's events/ckpts only; lock released");
  });

  it("folder: a lock left by a killed run (dead pid) is taken over, said in a warning", async () => {
    const dir = copyRun(finished);
    writeFileSync(join(dir, ".adaptseg.lock"), JSON.stringify({ pid: 2 ** 22 + 17, hostname: hostname(), started: "2020-01-01T00:00:00.000Z" }));
    const r = await train(base(6), opts(dir, { resume: true }));
    assert.equal(r.iteration, 6);
    const w = warnings(events(dir)).find((m) => /took over the lock of pid 4194321 .*no longer running/.test(m));
    assert.ok(w, warnings(events(dir)).join("\n"));
    assert.ok(!existsSync(join(dir, ".adaptseg.lock")));
    record("folder", "stale lock (kill -9 left it)", "warning", w!, "resumed 4 -> 6; lock removed at the end");
  });

  it("folder: a lock held from another host is refused, saying how to clear it", async () => {
    const dir = copyRun(finished);
    writeFileSync(join(dir, ".adaptseg.lock"), JSON.stringify({ pid: 1, hostname: "other-host.example", started: "2020-01-01T00:00:00.000Z" }));
    const before = snapshot(dir);
    const msg = await rejects(train(base(6), opts(dir, { resume: true })), /is in use by another run \(pid 1 on other-host\.example.*if that run is gone, delete .*\.adaptseg\.lock/);
    assert.deepEqual(snapshot(dir), before);
    record("folder", "lock of a run on another host", "clear error", msg, "every file byte-identical");
  });

  it("folder: a run id in every event and every checkpoint, kept across resumes", async () => {
    const dir = copyRun(finished);
    await train(base(6), opts(dir, { resume: true }));
    const evs = events(dir);
    const ids = new Set(evs.map((e) => (e as { runId?: string }).runId));
    assert.equal(ids.size, 1, [...ids].join());
    const id = [...ids][0]!;
    assert.ok(id, "every event has a runId");
    for (const c of listCheckpoints(dir)) assert.equal(readCheckpoint(c.file).meta.runId, id);
    record("folder", "run id in events and checkpoints", "exact", `run id ${id} in ${evs.length} events, ${listCheckpoints(dir).length} checkpoints`, "ckpt meta.runId = event runId");
  });

  it("folder: the run folder is a file", async () => {
    const dir = tmp("adaptseg-rel-");
    const file = join(dir, "out");
    writeFileSync(file, "not a folder");
    const msg = await rejects(train(base(), opts(file)), new RegExp(`cannot create the run folder ${file}: ${file} exists and is not a folder`));
    assert.equal(readFileSync(file, "utf8"), "not a folder");
    record("folder", "--out is an existing file", "clear error", msg, "the file untouched");
  });

  it("folder: the run folder's parent is a file", async () => {
    const dir = tmp("adaptseg-rel-");
    writeFileSync(join(dir, "f"), "x");
    const out = join(dir, "f", "run");
    const msg = await rejects(train(base(), opts(out)), new RegExp(`cannot create the run folder ${out}: .*ENOTDIR`));
    record("folder", "--out under a file", "clear error", msg, "nothing created");
  });

  // ------------------------------------------------------------ checkpoints: resume falls back, never loses
  it("checkpoint: a truncated newest checkpoint: --resume falls back to the newest intact one, saying why", async () => {
    const dir = copyRun(finished);
    truncateSync(join(dir, ck(4)), 100_000);
    const r = await train(base(6), opts(dir, { resume: true }));
    assert.equal(r.iteration, 6);
    const evs = events(dir);
    const start = evs.findLast((e) => e.type === "start") as { iteration: number };
    assert.equal(start.iteration, 2);
    const w = warnings(evs).find((m) => m.startsWith(`--resume: skipped ${ck(4)}:`));
    assert.ok(w && /offsets .*\(truncated\?\)/.test(w) && w.includes(`kept it as ${ck(4)}.corrupt`), w);
    assert.ok(existsSync(join(dir, `${ck(4)}.corrupt`)), "the broken file is kept aside, not deleted");
    assert.equal(readCheckpoint(join(dir, ck(4))).meta.iteration, 4, "a new, intact ckpt-4 was written");
    record("checkpoint", "truncated newest checkpoint, --resume", "warning", w!, "resumed from ckpt-2; broken file kept as .corrupt");
  });

  it("checkpoint: every checkpoint broken: --resume is an error naming each, nothing changed", async () => {
    const dir = copyRun(finished);
    truncateSync(join(dir, ck(4)), 1000);
    writeHeader(join(dir, ck(2)), "{not json");
    const before = snapshot(dir);
    const msg = await rejects(
      train(base(6), opts(dir, { resume: true })),
      /--resume: no intact checkpoint in .*ckpt-00000004\.safetensors: .*ckpt-00000002\.safetensors: bad JSON header.*Nothing was changed/,
    );
    assert.deepEqual(snapshot(dir), before);
    record("checkpoint", "all checkpoints broken, --resume", "clear error", msg, "every file byte-identical");
  });

  it("checkpoint: a newest checkpoint holding NaN weights is skipped by --resume", async () => {
    const dir = copyRun(finished);
    const name = poisonCheckpoint(join(dir, ck(4)));
    const r = await train(base(6), opts(dir, { resume: true }));
    assert.equal(r.iteration, 6);
    for (const l of r.lossHistory) for (const v of Object.values(l)) assert.ok(Number.isFinite(v));
    const w = warnings(events(dir)).find((m) => m.startsWith(`--resume: skipped ${ck(4)}:`));
    assert.ok(w?.includes(`${name}: 1 of`) && /NaN\/Infinity/.test(w), w);
    record("checkpoint", "NaN weights in the newest checkpoint, --resume", "warning", w!, "resumed from ckpt-2; NaN file kept as .corrupt");
  });

  it("checkpoint: evaluating / predicting with a checkpoint holding NaN weights fails, naming it", async () => {
    const dir = copyRun(finished);
    const file = join(dir, ck(4));
    poisonCheckpoint(file, "G/", Infinity);
    const msg = await rejects(Predictor.open(file), new RegExp(`^${file}: weights are not finite \\(.*1 of \\d+ values are NaN/Infinity`));
    record("checkpoint", "Infinity weights, Predictor.open (eval/predict)", "clear error", msg, "checkpoint untouched");
  });

  const headerRows: [kind: string, make: (file: string) => void, re: RegExp][] = [
    ["header is not JSON", (f) => writeHeader(f, '{"a": [1, 2'), /bad JSON header/],
    ["header entry without shape", (f) => writeHeader(f, JSON.stringify({ x: { dtype: "F32", data_offsets: [0, 4] } })), /bad header: tensor "x" has a bad "shape"/],
    ["header entry with bad offsets", (f) => writeHeader(f, JSON.stringify({ x: { dtype: "F32", shape: [1], data_offsets: "0-4" } })), /bad header: tensor "x" has bad "data_offsets"/],
    ["header is a JSON array", (f) => writeHeader(f, "[1, 2, 3]"), /bad header: not a JSON object/],
    ["__metadata__ is not strings", (f) => writeHeader(f, JSON.stringify({ __metadata__: { adaptseg: { format: 1 } } })), /bad header: "__metadata__" is not a map of strings/],
    ["header length 2^63", (f) => writeHeader(f, "{}", 2n ** 63n), /header length 9223372036854775808 exceeds file size/],
    ["empty file", (f) => writeFileSync(f, ""), /too short for a safetensors header \(0 bytes\)/],
    ["a safetensors file of someone else", (f) => saveWeights(f, { w: { shape: [2], data: [1, 2] } }), /not an AdaptSeg checkpoint/],
    [
      "metadata without iteration",
      (f) => saveWeights(f, { w: { shape: [1], data: [1] } }, { adaptseg: { format: "adaptseg-checkpoint/1", config: {} } }),
      /malformed checkpoint metadata \(missing iteration/,
    ],
  ];
  for (const [kind, make, re] of headerRows)
    it(`checkpoint: ${kind}: an error naming the file`, async () => {
      const file = join(tmp("adaptseg-rel-"), "ckpt-00000001.safetensors");
      make(file);
      const before = snapshot(join(file, ".."));
      const msg = await rejects(() => readCheckpoint(file), new RegExp(`^${file}: `), re);
      await rejects(Predictor.open(file), new RegExp(`^${file}: `), re);
      assert.deepEqual(snapshot(join(file, "..")), before);
      record("checkpoint", kind, "clear error", msg, "file untouched");
    });

  it("checkpoint: a checkpoint path that is a folder", async () => {
    const dir = join(tmp("adaptseg-rel-"), "ckpt.safetensors");
    mkdirSync(dir);
    const msg = await rejects(Predictor.open(dir), new RegExp(`^${dir}: is a directory, not a safetensors file`));
    record("checkpoint", "checkpoint path is a folder (EISDIR)", "clear error", msg, "nothing written");
  });

  it("checkpoint: a missing checkpoint", async () => {
    const file = join(tmp("adaptseg-rel-"), "nope.safetensors");
    const msg = await rejects(Predictor.open(file), new RegExp(`checkpoint not found: ${file}`));
    record("checkpoint", "checkpoint path does not exist", "clear error", msg, "nothing written");
  });

  it("checkpoint: temporary files left by killed writes are removed on the next run, said so", async () => {
    const dir = copyRun(finished);
    const temps = [`.${ck(6)}.999999.tmp`, `.${ck(4)}.4242.tmp`];
    for (const t of temps) writeFileSync(join(dir, t), Buffer.alloc(5000, 1));
    writeFileSync(join(dir, "notes.tmp"), "mine");
    await train(base(6), opts(dir, { resume: true }));
    for (const t of temps) assert.ok(!existsSync(join(dir, t)), t);
    assert.ok(existsSync(join(dir, "notes.tmp")), "only checkpoint temporaries are removed");
    const w = warnings(events(dir)).find((m) => m.startsWith("removed 2 temporary files left by an interrupted checkpoint write"));
    assert.ok(w, warnings(events(dir)).join("\n"));
    record("checkpoint", "leftover .ckpt-*.tmp from a killed write", "warning", w!, "temporaries gone; other files kept");
  });

  // ------------------------------------------------------------ resume: idempotent, exact, explicit
  it("resume: --resume of a finished run changes nothing on disk", async () => {
    const dir = copyRun(finished);
    const before = snapshot(dir);
    const seen: RunEvent[] = [];
    const r = await train(base(4), opts(dir, { resume: true, onEvent: (e) => seen.push(e) }));
    assert.equal(r.iteration, 4);
    assert.deepEqual(snapshot(dir), before);
    const msg = (seen.find((e) => e.type === "log") as LogEvent).message;
    assert.match(msg, /already reached iteration 4 .*nothing to do, nothing written/);
    record("resume", "--resume of a finished run", "exact", msg, "every file byte-identical (mtime too)");
  });

  it("resume: a finished run resumed, then resumed to a later stop, matches the uninterrupted run exactly", async () => {
    const dir = copyRun(finished);
    await train(base(4), opts(dir, { resume: true }));
    const r = await train(base(4), opts(dir, { resume: true, stopIter: 6 }));
    assert.deepEqual(r.lossHistory, ref6.slice(4));
    assert.equal(readCheckpoint(join(dir, ck(6))).meta.loaders.source!.batches, 6);
    record("resume", "finished, --resume, then --resume --max-iters 6", "exact", "losses of iterations 5, 6 equal the uninterrupted run's", "ckpt-6 loader position 6");
  });

  it("resume: stopped before its first iteration, a resumed run does not rewrite its checkpoint", async () => {
    const dir = copyRun(finished);
    const before = snapshot(dir)[ck(4)];
    const r = await train(base(6), opts(dir, { resume: true, stopSignal: { stop: true } }));
    assert.equal(r.status, "stopped");
    assert.equal(r.checkpoint, join(dir, ck(4)));
    assert.equal(snapshot(dir)[ck(4)], before);
    assert.equal(readCheckpoint(join(dir, ck(4))).meta.loaders.source!.batches, 4);
    record("resume", "resume, stop signal before iteration 1", "exact", "stopped at iteration 4, no checkpoint rewrite", "ckpt-4 byte-identical, loader position 4");
  });

  it("resume: a changed learning rate is a printed decision per field", async () => {
    const dir = copyRun(finished);
    const c = withTraining(base(6), { optimizerG: { lr: 0.02 }, optimizerD: { lr: 2e-4 } });
    const r = await train(c, opts(dir, { resume: true }));
    assert.equal(r.iteration, 6);
    const w = warnings(events(dir));
    const g = w.find((m) => m.startsWith(`--resume: training.optimizerG.lr changed 0.01 -> 0.02 since ${ck(4)}: using the new value`));
    assert.ok(g, w.join("\n"));
    assert.ok(
      w.some((m) => m.startsWith("--resume: training.optimizerD.lr changed (default) -> 0.0002")),
      w.join("\n"),
    );
    const its = events(dir).filter((e): e is IterationEvent => e.type === "iteration" && e.iteration > 4);
    assert.ok(Math.abs(its[0]!.lr.G - 0.02 * Math.pow(1 - 4 / 100, 0.9)) < 1e-12);
    record("resume", "learning rates changed on --resume", "warning", g!, "resumed 4 -> 6 with the new rates");
  });

  const fixedRows: [kind: string, change: (c: ExperimentConfig) => ExperimentConfig | undefined, extra: Partial<TrainOptions>, re: RegExp][] = [
    ["image size", (c) => ({ ...c, source: { ...c.source, size: { width: 80, height: 48 } } }), {}, /source\.size\.width 64 -> 80/],
    ["strategy", (c) => ({ ...c, adaptation: { type: "source-only" } }), {}, /adaptation\.type "output-space" -> "source-only"/],
    ["model width", (c) => ({ ...c, model: { ...c.model, widthMultiplier: 0.125 } }), {}, /model\.widthMultiplier 0\.0625 -> 0\.125/],
    ["seed (--seed)", () => undefined, { seed: 99 }, /seed 7 -> 99/],
    ["batch size", (c) => withTraining(c, { batchSize: 2 }), {}, /training\.batchSize \(default\) -> 2/],
  ];
  for (const [kind, change, extra, re] of fixedRows)
    it(`resume: a changed ${kind} is an error naming the field; nothing changed`, async () => {
      const dir = copyRun(finished);
      const before = snapshot(dir);
      const msg = await rejects(
        train(change(base(6)) ?? base(6), opts(dir, { resume: true, ...extra })),
        /^--resume: the config differs from .*ckpt-00000004\.safetensors in (a field|fields) that cannot change within a run: /,
        re,
        /Nothing was changed/,
      );
      assert.deepEqual(snapshot(dir), before);
      record("resume", `${kind} changed on --resume`, "clear error", msg, "every file byte-identical");
    });

  // ------------------------------------------------------------ non-finite weights never reach a checkpoint
  it("nan: an optimiser step that makes weights non-finite: the checkpoint is refused, the last good one kept", async () => {
    const dir = copyRun(finished);
    const good = snapshot(dir)[ck(4)];
    // lr 1e300 is Infinity in float32: iteration 5's loss is finite (computed before the step), its weights are not.
    const c = withTraining(base(6), { optimizerG: { lr: 1e300 }, snapshotEvery: 1, keepSnapshots: 1 });
    const msg = await rejects(
      train(c, opts(dir, { resume: true })),
      new RegExp(`refusing to write .*${ck(5)}: non-finite values after iteration 5 in G/.*NaN/Infinity.*the last good checkpoint is .*${ck(4)} \\(iteration 4\\), kept`),
    );
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.iteration),
      [2, 4],
    );
    assert.equal(snapshot(dir)[ck(4)], good);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith(".tmp")));
    const end = events(dir).at(-1)!;
    assert.ok(end.type === "end" && end.status === "failed");
    record("nan", "weights non-finite after the step (lr 1e300), keepSnapshots 1", "clear error", msg, "ckpt-4 byte-identical, no ckpt-5");
  });

  it("nan: non-finite weights at a fresh run's first checkpoint: nothing is written", async () => {
    const dir = join(tmp("adaptseg-rel-"), "run");
    const c = withTraining(base(3), { optimizerG: { lr: 1e300 }, snapshotEvery: 1 });
    const msg = await rejects(train(c, opts(dir)), new RegExp(`refusing to write .*${ck(1)}: .*no checkpoint of this run was written before`));
    assert.deepEqual(listCheckpoints(dir), []);
    record("nan", "non-finite first checkpoint", "clear error", msg, "no checkpoint written");
  });

  // ------------------------------------------------------------ disk
  it("disk: a short write (disk full mid-write) never leaves a checkpoint under its final name", async () => {
    const dir = tmp("adaptseg-rel-");
    const file = join(dir, ck(8));
    const real = fs.writeSync;
    let calls = 0;
    // The first write stops halfway (what write(2) does when the disk fills), the next fails with ENOSPC.
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Uint8Array, off?: number, len?: number, pos?: number) => {
      if (++calls === 1) return real(fd, buf, off ?? 0, Math.floor((len ?? buf.length) / 2), pos);
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    syncBuiltinESMExports();
    let msg: string;
    try {
      msg = await rejects(
        () => saveWeights(file, { w: { shape: [1000], data: new Float32Array(1000) } }),
        new RegExp(`^cannot write ${file}: ENOSPC.*after \\d+ of \\d+ bytes \\(disk full\\); nothing was replaced`),
      );
    } finally {
      (fs as { writeSync: unknown }).writeSync = real;
      syncBuiltinESMExports();
    }
    assert.deepEqual(readdirSync(dir), []);
    record("disk", "short write then ENOSPC (simulated)", "clear error", msg!, "no final file, no temporary");
  });

  it("disk: a full disk (small tmpfs) stops the run naming the checkpoint; the last good one is intact", async function () {
    const mnt = tmp("adaptseg-rel-tmpfs-");
    const skip = (why: string) => {
      console.log(`      skipped: ${why}`);
      record("disk", "full disk (tmpfs)", "clear error", `SKIPPED: ${why}`, "-");
      this.skip();
    };
    if (process.getuid?.() !== 0) return skip("not root: cannot mount a tmpfs");
    const size = statSync(join(finished, ck(2))).size;
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${Math.ceil((size * 1.5) / 4096) * 4096}`, "tmpfs", mnt], { stdio: "pipe" });
    } catch (e) {
      return skip(`mount -t tmpfs failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
    }
    try {
      const dir = join(mnt, "run");
      const msg = await rejects(train(base(4), opts(dir)), new RegExp(`cannot write ${dir}/${ck(4)}: ENOSPC.*the last good checkpoint is ${dir}/${ck(2)} \\(iteration 2\\), kept`));
      assert.deepEqual(
        listCheckpoints(dir).map((c) => c.iteration),
        [2],
      );
      assert.equal(readCheckpoint(join(dir, ck(2))).meta.iteration, 2);
      assert.ok(!readdirSync(dir).some((f) => f.endsWith(".tmp")), readdirSync(dir).join());
      record("disk", "full disk (tmpfs) at the 2nd checkpoint", "clear error", msg, "ckpt-2 intact, no ckpt-4, no temporary");
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("disk: a read-only file system is named as such (not ENOENT)", async function () {
    const mnt = tmp("adaptseg-rel-ro-");
    if (process.getuid?.() !== 0) {
      console.log("      skipped: not root: cannot mount a read-only tmpfs");
      record("disk", "read-only file system", "clear error", "SKIPPED: not root", "-");
      return this.skip();
    }
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", mnt]);
    try {
      const out = join(mnt, "runs", "a");
      const msg = await rejects(train(base(), opts(out)), new RegExp(`cannot create the run folder ${out}: EROFS: read-only file system, mkdir '${mnt}/runs'`));
      record("disk", "read-only file system for --out", "clear error", msg, "nothing created");
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  // ------------------------------------------------------------ data
  it("data: labels that are all void give a warning naming the file", async () => {
    const root = tmp("adaptseg-rel-data-");
    mkdirSync(join(root, "train"));
    mkdirSync(join(root, "trainannot"));
    const src = join(sharedData, "camvid/CamVid");
    const lines = readFileSync(join(src, "train.txt"), "utf8").trim().split("\n").slice(0, 2);
    const list: string[] = [];
    for (const l of lines) {
      const [img] = l.split(/\s+/);
      const name = img!.split("/").pop()!;
      fs.copyFileSync(join(src, "train", name), join(root, "train", name));
      writeFileSync(join(root, "trainannot", name), encode({ width: 480, height: 360, channels: 1, depth: 8, data: new Uint8Array(480 * 360).fill(11) }));
      list.push(`/SegNet/CamVid/train/${name} /SegNet/CamVid/trainannot/${name}`);
    }
    writeFileSync(join(root, "train.txt"), list.join("\n") + "\n");
    const c = base(1);
    c.source = { type: "camvid", root, split: "train", size: { width: 64, height: 48 } };
    const out = join(tmp("adaptseg-rel-"), "run");
    const r = await train(c, opts(out));
    assert.equal(Math.abs(r.lossHistory[0]!.seg!), 0);
    const w = warnings(events(out)).find((m) => m.includes(join(root, "trainannot")) && /every pixel is void \(ignore index 255\)/.test(m));
    assert.ok(w, warnings(events(out)).join("\n"));
    record("data", "labels all void (seg loss 0)", "warning", w!, "run completes; dataset untouched");
  });

  it("data: a huge image (10000x10000) is an error naming the file, before decoding it", async () => {
    const file = join(tmp("adaptseg-rel-"), "huge.png");
    bigPng(file, 10000, 10000);
    const p = await Predictor.open(join(finished, ck(4)));
    try {
      const msg = await rejects(p.segment(file), new RegExp(`^${file}: image is 10000x10000 pixels, larger than the 8192 pixels a side`));
      record("data", "valid 10000x10000 PNG to predict", "clear error", msg, "nothing written");
    } finally {
      p.dispose();
    }
  });

  it("data: prediction sizes and overlay alpha out of range are errors", async () => {
    const img = join(sharedData, "camvid/CamVid/val/0016E5_07959.png");
    const p = await Predictor.open(join(finished, ck(4)));
    try {
      const m1 = await rejects(p.segment(img, { width: -5, height: 10 }), new RegExp(`^${img}: size must be whole pixels from 8 to 8192 a side, got \\{"width":-5,"height":10\\}`));
      record("data", "negative prediction size", "clear error", m1, "nothing written");
      const s = await p.segment(img);
      for (const a of [Number("abc"), 1.5, -0.1]) {
        const m2 = await rejects(() => p.render(s, a), /^alpha must be a number from 0 to 1, got /);
        if (Number.isNaN(a)) record("data", 'overlay alpha NaN ("abc")', "clear error", m2, "nothing written");
      }
      record("data", "overlay alpha 1.5 / -0.1", "clear error", "alpha must be a number from 0 to 1, got 1.5", "nothing written");
    } finally {
      p.dispose();
    }
  });

  // ------------------------------------------------------------ plugins
  const pluginDir = () => {
    const dir = tmp("adaptseg-rel-plugin-");
    mkdirSync(join(dir, "node_modules"), { recursive: true });
    fs.symlinkSync(fs.realpathSync(join(repoRoot, "packages/core/node_modules/inversify")), join(dir, "node_modules/inversify"), "dir");
    return dir;
  };
  const adapterPlugin = (dir: string, file: string, names: string[]) => {
    writeFileSync(
      join(dir, file),
      `import { ContainerModule } from "inversify";
       const DatasetAdapter = Symbol.for("adaptseg.DatasetAdapter");
       export const containerModule = new ContainerModule(({ bind }) => {
         for (const name of ${JSON.stringify(names)}) bind(DatasetAdapter).toConstantValue({ name, meta() {}, async list() { return []; }, async readLabel() {} });
       });`,
    );
  };

  it("plugins: a plugin registering a built-in's name is an error naming both", async () => {
    const dir = pluginDir();
    adapterPlugin(dir, "dup.mjs", ["camvid"]);
    const msg = await rejects(
      createContainer({ plugins: ["./dup.mjs"] }, { baseDir: dir, modules: builtinModules() }),
      new RegExp(`plugin "\\./dup\\.mjs" \\(${join(dir, "dup.mjs")}\\) registers DatasetAdapter "camvid", a name the built-in CamVidAdapter .* already registers`),
    );
    record("plugins", 'plugin re-uses built-in name "camvid"', "clear error", msg, "nothing written");
  });

  it("plugins: two plugins with one name; one plugin registering a name twice", async () => {
    const dir = pluginDir();
    adapterPlugin(dir, "a.mjs", ["frames"]);
    adapterPlugin(dir, "b.mjs", ["frames"]);
    adapterPlugin(dir, "twice.mjs", ["clips", "clips"]);
    const m1 = await rejects(
      createContainer({ plugins: ["./a.mjs", "./b.mjs"] }, { baseDir: dir, modules: builtinModules() }),
      /plugin "\.\/b\.mjs" .* registers DatasetAdapter "frames", a name plugin "\.\/a\.mjs" .* already registers/,
    );
    record("plugins", "two plugins, one name", "clear error", m1, "nothing written");
    const m2 = await rejects(createContainer({ plugins: ["./twice.mjs"] }, { baseDir: dir, modules: builtinModules() }), /plugin "\.\/twice\.mjs" .* registers DatasetAdapter "clips" 2 times/);
    record("plugins", "one plugin, a name twice", "clear error", m2, "nothing written");
  });
});
