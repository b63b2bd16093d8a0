// The training engine: builds an experiment from a config and runs the loop. The strategy owns each
// step (its batches, networks, losses and state, see AdaptationRun); the engine loads batches,
// applies the optimisers, checks the losses, checkpoints, evaluates and emits events.
import * as tf from "@tensorflow/tfjs-core";
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import type { Container, ContainerModule } from "inversify";
import {
  AdaptationStrategy,
  Backbone,
  ComputeBackend,
  DataPipeline,
  Discriminator,
  applyPluginOptions,
  type AdaptationRun,
  type Batch,
  type DatasetMeta,
  type Loader,
  type OpenedDataset,
  type SegNetwork,
  type StepBatch,
  type StepResult,
  type StrategyContext,
  type ExperimentConfig,
  type ResolvedConfig,
  type RunEvent,
  type UntimedEvent,
  createContainer,
  resolvePlugin,
} from "@adaptseg/core";
import { selectBackend, upsampleFor } from "@adaptseg/compute";
import { builtinModules } from "../builtins.js";
import { Adam, SGD, polyLr } from "./optim.js";
import {
  NonFiniteWeightsError,
  acquireRunLock,
  assignWeights,
  isCheckpoint,
  listCheckpoints,
  readCheckpoint,
  readCheckpointHeader,
  readIntactCheckpoint,
  removeTempFiles,
  saveCheckpoint,
  withPrefix,
  type CheckpointMeta,
  type LoadedCheckpoint,
} from "./checkpoint.js";
import { evaluate, type EvalResult } from "./evaluate.js";

/** SPEC section 2 defaults. */
export const TRAINING_DEFAULTS = {
  maxIters: 250000,
  stopIter: 150000,
  batchSize: 1,
  snapshotEvery: 5000,
  keepSnapshots: 3,
  logEvery: 10,
  optimizerG: { lr: 2.5e-4, momentum: 0.9, weightDecay: 5e-4, power: 0.9 },
  optimizerD: { lr: 1e-4, betas: [0.9, 0.99] as [number, number], power: 0.9 },
};

export class NonFiniteLossError extends Error {}

/** Learning-rate factor of `SegNetwork.headWeights` (official DeepLab: 10x the backbone's). */
export const HEAD_LR_FACTOR = 10;

/** Everything a run needs, built from a config: container, backend, data, networks. */
export interface Experiment {
  /** The config with every default filled in (generic and per plugin). */
  config: ResolvedConfig;
  container: Container;
  backend: string;
  pipeline: DataPipeline;
  source: OpenedDataset;
  target: OpenedDataset;
  evalSet?: OpenedDataset;
  net: SegNetwork;
  /** Builds networks of the same architecture (a teacher). */
  backbone: Backbone;
  modelOptions: CheckpointMeta["model"];
  meta: DatasetMeta;
  /** Logits to a label size, as this model's loss and evaluation see them (`model.upsample`). */
  upsample: (x: tf.Tensor4D, h: number, w: number) => tf.Tensor4D;
}

export interface ExperimentOptions {
  /** Folder relative paths (plugins, dataset roots) resolve against: the config file's folder. */
  baseDir?: string;
  /** Data root (--data / ADAPTSEG_DATA). */
  dataRoot?: string;
  backend?: string;
  seed?: number;
  /** The container's modules (default: builtinModules(config.threads)); the config's plugins are loaded after them. */
  modules?: ContainerModule[];
}

export async function buildExperiment(input: ExperimentConfig, opts: ExperimentOptions = {}): Promise<Experiment> {
  const container = await createContainer(input, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules({ threads: input.threads }) });
  // Each plugin's options, validated against its own schema, with its defaults filled in.
  const config = applyPluginOptions(input, container);
  const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? config.backend);
  if (!container.isBound(DataPipeline)) throw new Error("no DataPipeline is bound: is @adaptseg/datasets installed?");
  const pipeline = container.get<DataPipeline>(DataPipeline);
  const ctx = { dataRoot: opts.dataRoot, baseDir: opts.baseDir };
  const source = await pipeline.open(config.source, ctx);
  const target = await pipeline.open(config.target, ctx);
  pipeline.checkClassSpaces(source.meta, target.meta);
  const evalCfg = config.evaluation?.dataset;
  const evalSet = evalCfg ? await pipeline.open(evalCfg, ctx) : undefined;
  if (evalSet) pipeline.checkClassSpaces(source.meta, evalSet.meta);
  const k = source.meta.classes.length;
  if (config.model.numClasses !== undefined && config.model.numClasses < k)
    throw new Error(
      `model.numClasses: ${config.model.numClasses} is smaller than the ${k} classes of the source dataset "${config.source.type}" (${source.meta.classSpace}): labels ${config.model.numClasses}..${k - 1} would have no output`,
    );
  checkEvaluationClasses(config.evaluation?.classes, (evalSet ?? source).meta, "evaluation.classes");
  const seed = opts.seed ?? config.seed;
  const { type, init, upsample: mode, ...rest } = config.model;
  const modelOptions = { ...rest, type, numClasses: config.model.numClasses ?? source.meta.classes.length };
  const backbone = resolvePlugin<Backbone>(container, Backbone, type, "model.type");
  const initFile = init && resolve(opts.baseDir ?? ".", init);
  // An AdaptSeg checkpoint warm-starts G; any other file is the backbone's to read (ImageNet weights).
  const warm = initFile && isCheckpoint(initFile);
  const net = backbone.create({ ...modelOptions, seed, init: warm ? undefined : initFile });
  if (warm) assignWeights(net, withPrefix(readCheckpoint(initFile).tensors, "G/"), initFile);
  const up = upsampleFor(mode);
  return { config, container, backend: choice.name, pipeline, source, target, evalSet, net, backbone, modelOptions, meta: source.meta, upsample: up };
}

/** Throws, naming `field`, when a class subset for mIoU holds an id the dataset does not have. */
export function checkEvaluationClasses(classes: number[] | undefined, meta: DatasetMeta, field = "evaluation.classes"): void {
  if (!classes) return;
  const n = meta.classes.length;
  if (!classes.length) throw new Error(`${field}: empty; list at least one class id, or leave it out to evaluate every class`);
  classes.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= n) throw new Error(`${field}[${i}]: ${c} is not a class id of the evaluation set (${meta.classSpace} has ${n} classes, ids 0..${n - 1})`);
    if (classes.indexOf(c) !== i) throw new Error(`${field}[${i}]: class ${c} is listed twice (also at [${classes.indexOf(c)}])`);
  });
}

/** The config's adaptation strategy, its discriminator factory and its options. */
export function createAdaptation(
  config: Pick<ResolvedConfig, "adaptation" | "discriminator">,
  container: Container,
  ctx: Omit<StrategyContext, "discriminator" | "discriminatorOptions">,
): { run: AdaptationRun; options: Record<string, unknown> } {
  const strategy = resolvePlugin<AdaptationStrategy>(container, AdaptationStrategy, config.adaptation.type, "adaptation.type");
  const { type: dtype, init: _dinit, ...discriminatorOptions } = config.discriminator;
  const discriminator = resolvePlugin<Discriminator>(container, Discriminator, dtype, "discriminator.type");
  const { type: _type, ...options } = config.adaptation;
  return { run: strategy.create(options, { ...ctx, discriminator, discriminatorOptions }), options };
}

/** The strategy context of an experiment: cloning G, the target frames, the upsampling mode. */
export function strategyContext(exp: Experiment, seed: number): Omit<StrategyContext, "discriminator" | "discriminatorOptions"> {
  const { net, backbone, modelOptions, pipeline, target, config } = exp;
  return {
    net,
    numClasses: net.numClasses,
    featureChannels: net.featureChannels,
    seed,
    upsample: exp.upsample,
    cloneNet: () => {
      const copy = backbone.create({ ...modelOptions, seed });
      for (const [n, v] of copy.weights) v.assign(net.weights.get(n)!);
      return copy;
    },
    targetFrames: async function* () {
      for (const s of target.samples) {
        const img = await pipeline.readImage(s.image, config.target.size);
        yield { x: tf.tensor4d(img.input, [1, img.height, img.width, 3]), id: s.id };
      }
    },
  };
}

export interface TrainOptions extends ExperimentOptions {
  outDir: string;
  resume?: boolean;
  /**
   * Start afresh in a folder that holds another run's checkpoints: deletes them and its events.jsonl
   * (the CLI's --overwrite). Without it such a folder is refused; with `resume` it is an error.
   */
  overwrite?: boolean;
  /** Stop after this iteration (overrides training.stopIter; the poly horizon stays training.maxIters). */
  stopIter?: number;
  /** Receives every event (the CLI prints them). */
  onEvent?: (e: RunEvent) => void;
  /** Set to true (e.g. from a signal handler) to checkpoint and stop after the current iteration. */
  stopSignal?: { stop: boolean };
}

export interface TrainResult {
  iteration: number;
  status: "completed" | "stopped";
  lossHistory: Record<string, number>[];
  evals: EvalResult[];
  checkpoint?: string;
  /** tf.memory().numTensors after each iteration (must stay flat). */
  tensorCounts: number[];
  /** tf.memory().numBytes after each iteration (must stay flat). */
  tensorBytes: number[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** A source batch (with labels) and a target batch as the strategy sees them. */
function stepBatch(sb: Batch, tb?: Batch): StepBatch {
  const x = (b: Batch) => tf.tensor4d(b.images, [b.batchSize, b.height, b.width, 3]);
  return {
    source: { x: x(sb), y: tf.tensor3d(sb.labels!, [sb.batchSize, sb.height, sb.width], "int32"), labels: sb.labels!, ids: sb.ids },
    target: tb && { x: x(tb), ids: tb.ids },
  };
}

export async function train(config: ExperimentConfig, opts: TrainOptions): Promise<TrainResult> {
  const exp = await buildExperiment(config, opts);
  try {
    return await runTraining(exp, opts);
  } finally {
    exp.net.dispose();
  }
}

/** Config fields that may differ on --resume, each with the decision printed when it does. */
const RESUME_MAY_CHANGE: [prefix: string, decision: string][] = [
  ["name", "using the new value"],
  ["description", "using the new value"],
  ["$schema", "using the new value"],
  ["backend", "using the new value (results may differ slightly from an uninterrupted run)"],
  ["threads", "using the new value"],
  ["training.maxIters", "using the new value: the poly learning-rate horizon changes"],
  ["training.stopIter", "using the new value"],
  ["training.snapshotEvery", "using the new value"],
  ["training.keepSnapshots", "using the new value"],
  ["training.logEvery", "using the new value"],
  ["training.optimizerG", "using the new value"],
  ["training.optimizerD", "using the new value"],
  ["evaluation", "using the new value"],
  ["loader", "using the new value"],
  ["model.init", "ignored on --resume: the weights come from the checkpoint"],
  ["discriminator.init", "ignored on --resume: the weights come from the checkpoint"],
];

/** Leaf paths (`a.b.c`, arrays as values) of a JSON object. */
function leaves(v: unknown, path = "", out = new Map<string, unknown>()): Map<string, unknown> {
  if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  else if (path) out.set(path, v);
  return out;
}

/** Every field where `now` differs from `saved`: a `decision` where it may change on resume, else none. */
export function configChanges(saved: Record<string, unknown>, now: Record<string, unknown>): { field: string; from: unknown; to: unknown; decision?: string }[] {
  const a = leaves(saved),
    b = leaves(now);
  const out: { field: string; from: unknown; to: unknown; decision?: string }[] = [];
  for (const field of new Set([...a.keys(), ...b.keys()])) {
    if (JSON.stringify(a.get(field)) === JSON.stringify(b.get(field))) continue;
    const rule = RESUME_MAY_CHANGE.find(([p]) => field === p || field.startsWith(`${p}.`));
    out.push({ field, from: a.get(field), to: b.get(field), decision: rule?.[1] });
  }
  return out;
}

const show = (v: unknown) => (v === undefined ? "(default)" : JSON.stringify(v));

/** Creates the run folder; errors say why (a read-only file system, a file in the way), not Node's ENOENT of recursive mkdir. */
function makeRunFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // Recursive mkdir reports ENOENT on a read-only file system: find the first folder that cannot be made.
    let first = dir;
    while (!existsSync(dirname(first)) && dirname(first) !== first) first = dirname(first);
    let why = (e as Error).message;
    try {
      if (existsSync(first) && !statSync(first).isDirectory()) why = `${first} exists and is not a folder`;
      else mkdirSync(first);
    } catch (e2) {
      why = (e2 as Error).message;
    }
    throw new Error(`cannot create the run folder ${dir}: ${why}`);
  }
  if (!statSync(dir).isDirectory()) throw new Error(`the run folder ${dir} exists and is not a folder`);
}

export async function runTraining(exp: Experiment, opts: TrainOptions): Promise<TrainResult> {
  if (opts.stopIter !== undefined && !(Number.isInteger(opts.stopIter) && opts.stopIter >= 1)) throw new Error(`stopIter (--max-iters) must be a positive integer, got ${opts.stopIter}`);
  if (opts.resume && opts.overwrite) throw new Error("resume and overwrite exclude each other: --resume continues the run in the folder, --overwrite replaces it");
  const outDir = resolve(opts.outDir);
  makeRunFolder(outDir);
  // One run per folder: a lock while this process trains (a killed run's lock is taken over).
  const lock = acquireRunLock(outDir);
  try {
    return await runLocked(exp, opts, outDir, lock.stale);
  } finally {
    lock.release();
  }
}

async function runLocked(exp: Experiment, opts: TrainOptions, outDir: string, staleLock?: { pid: number; hostname: string; started: string }): Promise<TrainResult> {
  const { config, container, pipeline, net } = exp;
  const t = { ...TRAINING_DEFAULTS, ...config.training };
  const oG = { ...TRAINING_DEFAULTS.optimizerG, ...config.training?.optimizerG };
  const oD = { ...TRAINING_DEFAULTS.optimizerD, ...config.training?.optimizerD };
  const seed = opts.seed ?? config.seed;
  const stopIter = Math.min(opts.stopIter ?? t.stopIter, t.maxIters);
  // The config as checkpoints record it: with the seed this run uses (--seed included).
  const savedConfig = { ...config, seed } as unknown as Record<string, unknown>;
  const eventsFile = resolve(outDir, "events.jsonl");
  /** Log events decided before the start event, emitted right after it. */
  const notes: UntimedEvent[] = [];
  const note = (level: "info" | "warn", message: string) => notes.push({ type: "log", level, message });
  if (staleLock) note("warn", `took over the lock of pid ${staleLock.pid} on ${staleLock.hostname} (since ${staleLock.started}), which is no longer running`);
  const explicitStop = opts.stopIter ?? config.training?.stopIter;
  if (explicitStop !== undefined && explicitStop > t.maxIters) note("warn", `stop iteration ${explicitStop} is beyond training.maxIters ${t.maxIters}: stopping at ${t.maxIters}`);

  // What the folder holds decides where this run starts; refusals change nothing on disk.
  const existing = listCheckpoints(outDir);
  let from: { file: string; ck: LoadedCheckpoint } | undefined;
  const skipped: { file: string; reason: string }[] = [];
  if (opts.resume) {
    // The newest intact checkpoint (complete, ours, every tensor finite); newer broken ones are skipped, said so.
    for (const c of [...existing].reverse()) {
      try {
        from = { file: c.file, ck: readIntactCheckpoint(c.file) };
        break;
      } catch (e) {
        skipped.push({ file: c.file, reason: (e as Error).message });
      }
    }
    if (!from && skipped.length) throw new Error(`--resume: no intact checkpoint in ${outDir}: ${skipped.map((s) => s.reason).join("; ")}. Nothing was changed`);
    if (!from) note("warn", `--resume: no checkpoint in ${outDir}; starting from iteration 0`);
  } else if (existing.length && !opts.overwrite) {
    const newest = existing.at(-1)!;
    const owner = readCheckpointHeader(newest.file)?.runId;
    throw new Error(
      `${outDir} already holds ${existing.length} checkpoint${existing.length > 1 ? "s" : ""} of ${owner ? `run ${owner}` : "an earlier run"} (newest ${basename(newest.file)}, iteration ${newest.iteration}): ` +
        `continue it with --resume, replace it with --overwrite, or choose another output folder. Nothing was changed`,
    );
  }
  if (from) {
    const changes = configChanges(from.ck.meta.config, savedConfig);
    const fixed = changes.filter((c) => !c.decision);
    if (fixed.length)
      throw new Error(
        `--resume: the config differs from ${from.file} in ${fixed.length > 1 ? "fields that" : "a field that"} cannot change within a run: ${fixed.map((c) => `${c.field} ${show(c.from)} -> ${show(c.to)}`).join("; ")}. ` +
          `Restore ${fixed.length > 1 ? "them" : "it"}, or start a new run (another output folder, or --overwrite). Nothing was changed`,
      );
    for (const c of changes) note("warn", `--resume: ${c.field} changed ${show(c.from)} -> ${show(c.to)} since ${basename(from.file)}: ${c.decision}`);
  }
  const runId = from?.ck.meta.runId ?? `${config.name ?? "run"}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const stamp = (e: UntimedEvent) => ({ time: new Date().toISOString(), runId, ...e }) as RunEvent;

  // Resuming a run that already reached its stop iteration changes nothing on disk.
  if (from && from.ck.meta.iteration >= stopIter) {
    for (const n of notes) opts.onEvent?.(stamp(n));
    const it = from.ck.meta.iteration;
    opts.onEvent?.(
      stamp({
        type: "log",
        level: "info",
        message: `--resume: run ${runId} already reached iteration ${it} (${from.file}), at or past the stop iteration ${stopIter}: nothing to do, nothing written`,
      }),
    );
    opts.onEvent?.(stamp({ type: "end", iteration: it, status: "completed" }));
    return { iteration: it, status: "completed", lossHistory: [], evals: [], checkpoint: from.file, tensorCounts: [], tensorBytes: [] };
  }

  // Starting: the folder is this run's now.
  if (opts.overwrite && !opts.resume) {
    const owners = [...new Set(existing.map((c) => readCheckpointHeader(c.file)?.runId ?? "an earlier run"))];
    for (const c of existing) rmSync(c.file, { force: true });
    const hadEvents = existsSync(eventsFile);
    rmSync(eventsFile, { force: true });
    if (existing.length || hadEvents)
      note("warn", `--overwrite: deleted ${existing.length} checkpoint${existing.length === 1 ? "" : "s"} (${owners.join(", ")})${hadEvents ? " and the events.jsonl" : ""} that ${outDir} held`);
  } else if (!from && existsSync(eventsFile) && statSync(eventsFile).size > 0) {
    note("warn", `${eventsFile} already holds events of an earlier run (without checkpoints): this run's events (run id ${runId}) follow them`);
  }
  for (const s of skipped) {
    let aside = `${s.file}.corrupt`;
    if (existsSync(aside)) aside = `${s.file}.${Date.now()}.corrupt`;
    renameSync(s.file, aside);
    note("warn", `--resume: skipped ${basename(s.file)}: ${s.reason}; kept it as ${basename(aside)}`);
  }
  const temps = removeTempFiles(outDir);
  if (temps.length) note("warn", `removed ${temps.length} temporary file${temps.length > 1 ? "s" : ""} left by an interrupted checkpoint write: ${temps.join(", ")}`);

  // Events: appended to events.jsonl and passed to onEvent, each with the run id. A failing append
  // (a full disk) is said once and does not hide the error that is being reported.
  let eventsBroken = false;
  const emit = (e: UntimedEvent) => {
    const ev = stamp(e);
    try {
      appendFileSync(eventsFile, JSON.stringify(ev) + "\n");
    } catch (err) {
      if (!eventsBroken) opts.onEvent?.(stamp({ type: "log", level: "warn", message: `cannot append to ${eventsFile}: ${(err as Error).message}; events go to the caller only` }));
      eventsBroken = true;
    }
    opts.onEvent?.(ev);
  };

  const { run } = createAdaptation(config, container, strategyContext(exp, seed + 1));
  const optG = new SGD(oG.momentum, oG.weightDecay);
  const optD = new Adam(oD.betas[0], oD.betas[1]);
  const loaderOpts = {
    batchSize: t.batchSize,
    prefetch: config.loader?.prefetch ?? 2,
    onError: config.loader?.onError ?? "fail",
    onWarn: (m: string) => emit({ type: "log", level: "warn", message: m }),
  } as const;
  const srcLoader: Loader = pipeline.loader(exp.source, config.source, { ...loaderOpts, seed, labels: true });
  const tgtLoader: Loader | undefined = run.needsTarget ? pipeline.loader(exp.target, config.target, { ...loaderOpts, seed: seed + 7, labels: false }) : undefined;
  const adaptive = run.discriminators.size > 0;

  let iteration = 0;
  const dVars = new Map<string, tf.Variable>();
  for (const [level, d] of run.discriminators) for (const [n, v] of d.weights) dVars.set(`${level}/${n}`, v);
  const dInit = config.discriminator.init && resolve(opts.baseDir ?? ".", config.discriminator.init);
  if (dInit) {
    const tensors = readCheckpoint(dInit).tensors;
    for (const [level, d] of run.discriminators) assignWeights(d, withPrefix(tensors, `D/${level}/`), dInit);
  }

  const last = from;
  if (last) {
    const ck = last.ck;
    assignWeights(net, withPrefix(ck.tensors, "G/"), last.file);
    for (const [level, d] of run.discriminators) assignWeights(d, withPrefix(ck.tensors, `D/${level}/`), last.file);
    for (const [name, n] of run.networks) assignWeights(n, withPrefix(ck.tensors, `N/${name}/`), last.file);
    optG.restore(withPrefix(ck.tensors, "opt/G/"), ck.meta.optimizers.G ?? {});
    optD.restore(withPrefix(ck.tensors, "opt/D/"), ck.meta.optimizers.D ?? {});
    if (ck.meta.loaders.source) srcLoader.restore(ck.meta.loaders.source);
    if (tgtLoader && ck.meta.loaders.target) tgtLoader.restore(ck.meta.loaders.target);
    if (ck.meta.strategy) run.restore?.(ck.meta.strategy);
    iteration = ck.meta.iteration;
  }
  const firstIteration = iteration;

  // The heads (net.headWeights: ResNet-101's ASPP classifiers) learn at 10x G's rate, as the official code.
  const heads = new Map([...net.weights].filter(([n]) => net.headWeights?.has(n)));
  const body = new Map([...net.weights].filter(([n]) => !heads.has(n)));
  const names = new Map<string, string>();
  for (const [n, v] of net.weights) names.set(v.name, n);
  for (const [n, v] of dVars) names.set(v.name, n);
  const byName = (grads: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k) ?? k, g]));

  // The newest checkpoint known good (verified when written, or resumed from): named when a write fails.
  let lastCheckpoint: string | undefined = last?.file;
  let lastGoodIteration = last?.ck.meta.iteration;
  const checkpoint = async (reason: "interval" | "signal" | "final") => {
    let file: string;
    try {
      file = await saveCheckpoint(
        outDir,
        { G: net, D: run.discriminators, N: run.networks, optimizers: { G: optG, D: optD } },
        {
          iteration,
          runId,
          config: savedConfig,
          model: exp.modelOptions,
          classes: [...exp.meta.classes],
          palette: exp.meta.palette.map((c) => [...c] as [number, number, number]),
          loaders: { source: srcLoader.state(), ...(tgtLoader ? { target: tgtLoader.state() } : {}) },
          ...(run.state ? { strategy: run.state() } : {}),
        },
        t.keepSnapshots,
      );
    } catch (e) {
      const kept = lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint} (iteration ${lastGoodIteration}), kept` : "no checkpoint of this run was written before";
      if (e instanceof NonFiniteWeightsError)
        throw new NonFiniteWeightsError(`${e.message}: the optimiser step made the weights non-finite (learning rate too high?); the run stops; ${kept}`, e.file, e.tensors);
      throw Object.assign(new Error(`${(e as Error).message}; the run stops; ${kept}`), { code: (e as NodeJS.ErrnoException).code });
    }
    lastCheckpoint = file;
    lastGoodIteration = iteration;
    emit({ type: "checkpoint", iteration, path: file, reason });
  };

  const evals: EvalResult[] = [];
  const runEval = async () => {
    if (!exp.evalSet) return;
    const r = await evaluate(net, pipeline, exp.evalSet, { size: config.evaluation?.dataset?.size ?? config.target.size, classes: config.evaluation?.classes, upsample: exp.upsample });
    evals.push(r);
    emit({ type: "eval", iteration, miou: r.miou, pixelAccuracy: r.pixelAccuracy, perClass: r.perClassByName, split: config.evaluation?.dataset?.split });
  };

  emit({
    type: "start",
    runId,
    name: config.name,
    strategy: config.adaptation.type,
    backend: exp.backend,
    iteration,
    maxIters: t.maxIters,
    stopIter,
    resumed: !!last,
    outDir,
  });
  if (last) notes.push({ type: "log", level: "info", message: `--resume: continuing run ${runId} from ${last.file} (iteration ${iteration})` });
  for (const n of notes) emit(n);

  const lossHistory: Record<string, number>[] = [];
  const times: number[] = [];
  const tensorCounts: number[] = [];
  const tensorBytes: number[] = [];
  let status: "completed" | "stopped" = "completed";
  try {
    while (iteration < stopIter) {
      if (opts.stopSignal?.stop) {
        status = "stopped";
        break;
      }
      const t0 = performance.now();
      const sb = await srcLoader.next();
      const tb = tgtLoader ? await tgtLoader.next() : undefined;
      const info = { iteration };
      await run.beforeStep?.(info);
      const lrG = polyLr(oG.lr, iteration, t.maxIters, oG.power);
      const lrD = polyLr(oD.lr, iteration, t.maxIters, oD.power);
      // The step's graph in one scope (only its loss terms and gradients kept), the loss values read
      // with `await data()` (no synchronous read: webgpu has none, a GPU would stall), the optimiser
      // steps in a second scope.
      const { terms, grads } = tf.tidy(() => run.step(stepBatch(sb, tb), info) as unknown as tf.TensorContainerObject) as unknown as StepResult;
      const losses: Record<string, number> = {};
      try {
        const keys = Object.keys(terms);
        const stacked = tf.stack(keys.map((n) => terms[n]!));
        const values = await stacked.data().finally(() => stacked.dispose());
        keys.forEach((n, i) => (losses[n] = values[i]!));
        const bad = keys.filter((n) => !Number.isFinite(losses[n]!));
        if (bad.length) throw new NonFiniteLossError(`non-finite loss at iteration ${iteration + 1}: ${bad.map((n) => `${n}=${losses[n]}`).join(", ")}; weights were not updated`);
        tf.tidy(() => {
          // Step 4: one optimiser step each.
          const gG = byName(grads.G);
          optG.step(body, gG, lrG);
          if (heads.size) optG.step(heads, gG, lrG * HEAD_LR_FACTOR);
          if (grads.D) optD.step(dVars, byName(grads.D), lrD);
          run.afterStep?.(info);
        });
      } finally {
        tf.dispose([...Object.values(terms), ...Object.values(grads.G), ...Object.values(grads.D ?? {})]);
      }
      iteration++;
      lossHistory.push(losses);
      const dt = (performance.now() - t0) / 1000;
      times.push(dt);
      const sec = mean(times.slice(-20));
      emit({ type: "iteration", iteration, losses, lr: { G: lrG, ...(adaptive ? { D: lrD } : {}) }, secPerIter: dt, itPerSec: 1 / sec, etaSec: sec * (stopIter - iteration) });
      if (iteration % t.snapshotEvery === 0 && iteration < stopIter) await checkpoint("interval");
      const every = config.evaluation?.every ?? 0;
      if (every && iteration % every === 0 && iteration < stopIter) await runEval();
      const mem = tf.memory();
      tensorCounts.push(mem.numTensors);
      tensorBytes.push(mem.numBytes);
    }
    // A resumed run stopped before its first iteration: its checkpoint is already on disk, unchanged.
    if (!(last && iteration === firstIteration)) await checkpoint(status === "stopped" ? "signal" : "final");
    if (status === "completed") await runEval();
    emit({ type: "end", iteration, status });
    return { iteration, status, lossHistory, evals, checkpoint: lastCheckpoint, tensorCounts, tensorBytes };
  } catch (e) {
    const file = (e as { file?: unknown }).file;
    emit({ type: "error", message: (e as Error).message, ...(typeof file === "string" ? { file } : {}) });
    emit({ type: "end", iteration, status: "failed", message: (e as Error).message });
    throw e;
  } finally {
    srcLoader.close();
    tgtLoader?.close();
    run.dispose();
    optG.dispose();
    optD.dispose();
  }
}

/** Resolves a config file's folder (for relative paths). */
export const configDir = (file: string) => dirname(resolve(file));
