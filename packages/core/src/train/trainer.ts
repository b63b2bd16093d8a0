// The AdaptSegNet trainer: SPEC section 2, steps 1 to 4, for every adaptation strategy.
import * as tf from "@tensorflow/tfjs-core";
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Container } from "inversify";
import {
  AdaptationStrategy,
  Backbone,
  ComputeBackend,
  DataPipeline,
  Discriminator,
  type AdaptationRun,
  type Batch,
  type DatasetMeta,
  type Loader,
  type OpenedDataset,
  type SegNetwork,
  type SegOutputs,
} from "../contracts.js";
import type { ExperimentConfig } from "../config.js";
import { createContainer, resolvePlugin } from "../container.js";
import { selectBackend } from "../backend.js";
import type { RunEvent, UntimedEvent } from "../events.js";
import { Adam, SGD, polyLr } from "./optim.js";
import { crossEntropy2d, upsample } from "./losses.js";
import { assignWeights, listCheckpoints, readCheckpoint, saveCheckpoint, withPrefix, type CheckpointMeta } from "./checkpoint.js";
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

/** Everything a run needs, built from a config: container, backend, data, networks. */
export interface Experiment {
  config: ExperimentConfig;
  container: Container;
  backend: string;
  pipeline: DataPipeline;
  source: OpenedDataset;
  target: OpenedDataset;
  evalSet?: OpenedDataset;
  net: SegNetwork;
  modelOptions: CheckpointMeta["model"];
  meta: DatasetMeta;
}

export interface ExperimentOptions {
  /** Folder relative paths (plugins, dataset roots) resolve against: the config file's folder. */
  baseDir?: string;
  /** Data root (--data / ADAPTSEG_DATA). */
  dataRoot?: string;
  backend?: string;
  seed?: number;
}

export async function buildExperiment(config: ExperimentConfig, opts: ExperimentOptions = {}): Promise<Experiment> {
  const container = await createContainer(config, { baseDir: opts.baseDir });
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
  const seed = opts.seed ?? config.seed ?? 1234;
  const { type, init: _init, ...rest } = config.model;
  const modelOptions = { ...rest, type, numClasses: config.model.numClasses ?? source.meta.classes.length };
  const backbone = resolvePlugin<Backbone>(container, Backbone, type, "model.type");
  const net = backbone.create({ ...modelOptions, seed, init: config.model.init && resolve(opts.baseDir ?? ".", config.model.init) });
  return { config, container, backend: choice.name, pipeline, source, target, evalSet, net, modelOptions, meta: source.meta };
}

/** The config's adaptation strategy and discriminator(s), with the strategy's defaults filled in. */
export function createAdaptation(
  config: Pick<ExperimentConfig, "adaptation" | "discriminator">,
  container: Container,
  net: { numClasses: number; featureChannels: number; seed?: number },
): { run: AdaptationRun; options: Record<string, unknown> } {
  const strategy = resolvePlugin<AdaptationStrategy>(container, AdaptationStrategy, config.adaptation.type, "adaptation.type");
  const discriminator = resolvePlugin<Discriminator>(container, Discriminator, config.discriminator?.type ?? "fc", "discriminator.type");
  const { type: _type, ...adaptOpts } = config.adaptation;
  const { type: _dtype, ...discOpts } = config.discriminator ?? { type: "fc" };
  const options: Record<string, unknown> = { ...strategy.defaults, ...adaptOpts, discriminator: discOpts };
  return { run: strategy.create(options, { ...net, discriminator }), options };
}

export interface TrainOptions extends ExperimentOptions {
  outDir: string;
  resume?: boolean;
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

function toTensors(b: Batch): { x: tf.Tensor4D; y?: tf.Tensor3D } {
  const x = tf.tensor4d(b.images, [b.batchSize, b.height, b.width, 3]);
  const y = b.labels ? tf.tensor3d(b.labels, [b.batchSize, b.height, b.width], "int32") : undefined;
  return { x, y };
}

/** Upsampled copies of the logits (and the raw features) that outlive the gradient tape. */
function keepOutputs(o: SegOutputs, h: number, w: number): SegOutputs {
  return {
    main: tf.keep(upsample(o.main, h, w).clone()),
    aux: o.aux && tf.keep(upsample(o.aux, h, w).clone()),
    features: o.features && tf.keep(o.features.clone()),
  };
}

function disposeOutputs(o?: SegOutputs): void {
  if (o) tf.dispose([o.main, o.aux, o.features].filter(Boolean) as tf.Tensor[]);
}

export async function train(config: ExperimentConfig, opts: TrainOptions): Promise<TrainResult> {
  const exp = await buildExperiment(config, opts);
  try {
    return await runTraining(exp, opts);
  } finally {
    exp.net.dispose();
  }
}

export async function runTraining(exp: Experiment, opts: TrainOptions): Promise<TrainResult> {
  const { config, container, pipeline, net } = exp;
  const t = { ...TRAINING_DEFAULTS, ...config.training };
  const oG = { ...TRAINING_DEFAULTS.optimizerG, ...config.training?.optimizerG };
  const oD = { ...TRAINING_DEFAULTS.optimizerD, ...config.training?.optimizerD };
  const seed = opts.seed ?? config.seed ?? 1234;
  const stopIter = Math.min(opts.stopIter ?? t.stopIter, t.maxIters);
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const eventsFile = resolve(outDir, "events.jsonl");
  const emit = (e: UntimedEvent) => {
    const ev = { time: new Date().toISOString(), ...e } as RunEvent;
    appendFileSync(eventsFile, JSON.stringify(ev) + "\n");
    opts.onEvent?.(ev);
  };

  const { run, options: strategyOptions } = createAdaptation(config, container, { numClasses: net.numClasses, featureChannels: net.featureChannels, seed: seed + 1 });
  const lambdaSeg = Number(strategyOptions.lambdaSeg ?? 0);
  const optG = new SGD(oG.momentum, oG.weightDecay);
  const optD = new Adam(oD.betas[0], oD.betas[1]);
  const loaderOpts = { batchSize: t.batchSize, prefetch: config.loader?.prefetch ?? 2, onError: config.loader?.onError ?? "fail", onWarn: (m: string) => emit({ type: "log", level: "warn", message: m }) } as const;
  const srcLoader: Loader = pipeline.loader(exp.source, config.source, { ...loaderOpts, seed, labels: true });
  const adaptive = run.discriminators.size > 0;
  const tgtLoader: Loader | undefined = adaptive ? pipeline.loader(exp.target, config.target, { ...loaderOpts, seed: seed + 7, labels: false }) : undefined;

  let iteration = 0;
  const dVars = new Map<string, tf.Variable>();
  for (const [level, d] of run.discriminators) for (const [n, v] of d.weights) dVars.set(`${level}/${n}`, v);

  const last = opts.resume ? listCheckpoints(outDir).at(-1) : undefined;
  if (opts.resume && !last) emit({ type: "log", level: "warn", message: `--resume: no checkpoint in ${outDir}; starting from iteration 0` });
  if (last) {
    const ck = readCheckpoint(last.file);
    assignWeights(net, withPrefix(ck.tensors, "G/"), last.file);
    for (const [level, d] of run.discriminators) assignWeights(d, withPrefix(ck.tensors, `D/${level}/`), last.file);
    optG.restore(withPrefix(ck.tensors, "opt/G/"), ck.meta.optimizers.G ?? {});
    optD.restore(withPrefix(ck.tensors, "opt/D/"), ck.meta.optimizers.D ?? {});
    if (ck.meta.loaders.source) srcLoader.restore(ck.meta.loaders.source);
    if (tgtLoader && ck.meta.loaders.target) tgtLoader.restore(ck.meta.loaders.target);
    iteration = ck.meta.iteration;
  }

  const gNames = new Map<string, string>();
  for (const [n, v] of net.weights) gNames.set(v.name, n);
  const dNames = new Map<string, string>();
  for (const [n, v] of dVars) dNames.set(v.name, n);
  const byName = (grads: tf.NamedTensorMap, names: Map<string, string>) => {
    const out: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) out[names.get(k) ?? k] = g;
    return out;
  };

  let lastCheckpoint: string | undefined;
  const checkpoint = (reason: "interval" | "signal" | "final") => {
    lastCheckpoint = saveCheckpoint(
      outDir,
      { G: net, D: run.discriminators, optimizers: { G: optG, D: optD } },
      {
        iteration,
        config: config as unknown as Record<string, unknown>,
        model: exp.modelOptions,
        classes: [...exp.meta.classes],
        palette: exp.meta.palette.map((c) => [...c] as [number, number, number]),
        loaders: { source: srcLoader.state(), ...(tgtLoader ? { target: tgtLoader.state() } : {}) },
      },
      t.keepSnapshots,
    );
    emit({ type: "checkpoint", iteration, path: lastCheckpoint, reason });
  };

  const evals: EvalResult[] = [];
  const runEval = async () => {
    if (!exp.evalSet) return;
    const r = await evaluate(net, pipeline, exp.evalSet, { size: config.evaluation?.dataset?.size ?? config.target.size, classes: config.evaluation?.classes });
    evals.push(r);
    emit({ type: "eval", iteration, miou: r.miou, pixelAccuracy: r.pixelAccuracy, perClass: r.perClassByName, split: config.evaluation?.dataset?.split });
  };

  emit({
    type: "start",
    runId: `${config.name ?? "run"}-${Date.now().toString(36)}`,
    name: config.name,
    strategy: config.adaptation.type,
    backend: exp.backend,
    iteration,
    maxIters: t.maxIters,
    stopIter,
    resumed: !!last,
    outDir,
  });

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
      const lrG = polyLr(oG.lr, iteration, t.maxIters, oG.power);
      const lrD = polyLr(oD.lr, iteration, t.maxIters, oD.power);
      const losses = tf.tidy(() => {
        const s = toTensors(sb);
        const tg = tb && toTensors(tb);
        const terms: Record<string, tf.Scalar> = {};
        let keptS: SegOutputs | undefined;
        let keptT: SegOutputs | undefined;
        // Steps 1 and 2: L_seg on source + L_adv on target, gradients into G only (D frozen).
        const g = tf.variableGrads(() => {
          const os = net.apply(s.x, { training: true });
          const mainS = upsample(os.main, sb.height, sb.width);
          let loss = (terms.seg = tf.keep(crossEntropy2d(mainS, s.y!)));
          if (os.aux && lambdaSeg > 0) {
            terms.seg_aux = tf.keep(crossEntropy2d(upsample(os.aux, sb.height, sb.width), s.y!));
            loss = loss.add(terms.seg_aux.mul(lambdaSeg));
          }
          if (tg) {
            keptS = keepOutputs(os, sb.height, sb.width);
            const ot = net.apply(tg.x, { training: true });
            keptT = keepOutputs(ot, tb!.height, tb!.width);
            const adv = run.generatorLoss({ main: upsample(ot.main, tb!.height, tb!.width), aux: ot.aux && upsample(ot.aux, tb!.height, tb!.width), features: ot.features });
            if (adv) {
              for (const [k, v] of Object.entries(adv.terms)) terms[k] = tf.keep(v);
              loss = loss.add(adv.total);
            }
          }
          return loss as tf.Scalar;
        }, [...net.weights.values()]);
        // Step 3: D on detached source (SOURCE) and target (TARGET) outputs.
        const d =
          keptS && keptT && dVars.size
            ? tf.variableGrads(() => {
                const dl = run.discriminatorLoss(keptS!, keptT!)!;
                for (const [k, v] of Object.entries(dl.terms)) terms[k] = tf.keep(v);
                return dl.total;
              }, [...dVars.values()])
            : undefined;
        try {
          const names = Object.keys(terms);
          const values = tf.stack(names.map((n) => terms[n]!)).dataSync();
          const out: Record<string, number> = {};
          names.forEach((n, i) => (out[n] = values[i]!));
          const bad = names.filter((n) => !Number.isFinite(out[n]!));
          if (bad.length) throw new NonFiniteLossError(`non-finite loss at iteration ${iteration + 1}: ${bad.map((n) => `${n}=${out[n]}`).join(", ")}; weights were not updated`);
          // Step 4: one optimiser step each.
          optG.step(net.weights, byName(g.grads, gNames), lrG);
          if (d) optD.step(dVars, byName(d.grads, dNames), lrD);
          return out;
        } finally {
          tf.dispose(Object.values(terms));
          disposeOutputs(keptS);
          disposeOutputs(keptT);
        }
      });
      iteration++;
      lossHistory.push(losses);
      const dt = (performance.now() - t0) / 1000;
      times.push(dt);
      const sec = mean(times.slice(-20));
      emit({ type: "iteration", iteration, losses, lr: { G: lrG, ...(adaptive ? { D: lrD } : {}) }, secPerIter: dt, itPerSec: 1 / sec, etaSec: sec * (stopIter - iteration) });
      if (iteration % t.snapshotEvery === 0 && iteration < stopIter) checkpoint("interval");
      const every = config.evaluation?.every ?? 0;
      if (every && iteration % every === 0 && iteration < stopIter) await runEval();
      const mem = tf.memory();
      tensorCounts.push(mem.numTensors);
      tensorBytes.push(mem.numBytes);
    }
    checkpoint(status === "stopped" ? "signal" : "final");
    if (status === "completed") await runEval();
    emit({ type: "end", iteration, status });
    return { iteration, status, lossHistory, evals, checkpoint: lastCheckpoint, tensorCounts, tensorBytes };
  } catch (e) {
    emit({ type: "error", message: (e as Error).message });
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
