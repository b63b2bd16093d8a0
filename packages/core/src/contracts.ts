// Plugin points. Each is a Symbol plus an interface of the same name (Theia style).
// Symbols come from the global registry (Symbol.for) so that the ESM and CJS builds of a package,
// and plugins that do not depend on core at run time, agree on the same identity.
// This module has no run-time dependency on TF.js: it imports its types only.
import type { Tensor, Tensor3D, Tensor4D, Scalar, Variable } from "@tensorflow/tfjs-core";
import type { Bind } from "inversify";
import type { TSchema } from "@sinclair/typebox";

// ---------------------------------------------------------------- compute backends
export const ComputeBackend = Symbol.for("adaptseg.ComputeBackend");
export interface ComputeBackend {
  /** `tfjs-node-gpu`, `tfjs-node`, `webgpu`, `wasm`, `cpu`. */
  readonly name: string;
  /** Lower is tried first. */
  readonly priority: number;
  /**
   * Loads and registers the backend with tfjs-core; resolves to an error text when it cannot.
   * `requested`: the config or ADAPTSEG_BACKEND named this backend (webgpu then takes a software adapter).
   */
  setup(requested?: boolean): Promise<string | undefined>;
  /** The tfjs-core backend name to `tf.setBackend`. */
  readonly tfName: string;
}

// ---------------------------------------------------------------- networks
/** What a segmentation network returns for a batch [N,H,W,3]. Logits are at output stride. */
export interface SegOutputs {
  main: Tensor4D;
  aux?: Tensor4D;
  /** Backbone features used by feature-level adaptation (e.g. fc7). */
  features?: Tensor4D;
}

/** A trainable network: a plain bag of named TF.js variables plus a forward function. */
export interface Network {
  /** Named weights, in a stable order (checkpoints and parameter counts use these names). */
  readonly weights: Map<string, Variable>;
  dispose(): void;
}

export interface SegNetwork extends Network {
  readonly numClasses: number;
  /** Channels of `features` (for a feature-level discriminator). */
  readonly featureChannels: number;
  apply(x: Tensor4D, opts?: { training?: boolean }): SegOutputs;
  /**
   * True when a training `apply` on a batch gives each image what `apply` on that image alone gives
   * (no batch statistics, no randomness): strategies then run source and target in one call.
   */
  readonly batchIndependent?: boolean;
  /** Variables that get the head learning rate (10x for ResNet heads; empty when one rate for all). */
  readonly headWeights?: ReadonlySet<string>;
}

/**
 * A segmentation network as ONNX nodes (default domain, opset 17 and earlier ops): from the float32
 * NCHW graph tensor named `input` (BGR minus the mean, what `apply` gets, transposed) to the main
 * logits at output stride, NCHW, in the tensor named `output`. Weights are float32 constants
 * (row-major; convs OIHW). Names should carry a prefix of their own (the caller adds its nodes).
 */
export interface OnnxNetGraph {
  nodes: { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, number | number[] | { f: number } | { s: string }> }[];
  floatConstants: { name: string; shape: number[]; data: Float32Array }[];
  int64Constants?: { name: string; values: number[] }[];
  output: string;
}

export const Backbone = Symbol.for("adaptseg.Backbone");
/** A segmentation-network factory, selected by `model.type`. */
export interface Backbone {
  readonly name: string;
  /** TypeBox schema of this backbone's `model` options (besides `type`); defaults declared here. */
  readonly options?: TSchema;
  create(options: Record<string, unknown> & { numClasses: number; seed?: number }): SegNetwork;
  /**
   * Optional: `net` (made by this backbone's `create`) as ONNX nodes with its current weights, for
   * `adaptseg export` and inference in onnxruntime (engine's export.ts adds the input transpose,
   * the upsampling and the argmax). Backbones without it predict with TF.js only.
   */
  toOnnx?(net: SegNetwork, input: string): Promise<OnnxNetGraph>;
}

export interface DiscriminatorNet extends Network {
  /** Logit map. */
  apply(x: Tensor4D): Tensor4D;
}

export const Discriminator = Symbol.for("adaptseg.Discriminator");
export interface Discriminator {
  readonly name: string;
  /** TypeBox schema of this discriminator's options (besides `type`). */
  readonly options?: TSchema;
  create(inChannels: number, options?: Record<string, unknown> & { seed?: number }): DiscriminatorNet;
}

// ---------------------------------------------------------------- adaptation
/** Named loss terms of one step; `total` is what gets differentiated. */
export interface LossTerms {
  total: Scalar;
  terms: Record<string, Scalar>;
}

/** One step's input, as tensors the engine owns and disposes after the step. */
export interface StepBatch {
  /** Source images [N,H,W,3] (BGR minus the mean), train-id labels [N,H,W] int32 (255 ignored) and the same labels on the CPU. */
  source: { x: Tensor4D; y: Tensor3D; labels: Uint8Array; ids: string[] };
  /** Target images; present when the run `needsTarget`. */
  target?: { x: Tensor4D; ids: string[] };
}

export interface StepInfo {
  /** Iterations finished before this one (0 on the first). */
  iteration: number;
}

/**
 * What a step returns: every loss term to log and the gradients per optimiser group, keyed by
 * `Variable.name`. `G` updates the segmentation network (optimizerG), `D` every discriminator
 * (optimizerD). Terms computed inside `tf.variableGrads` must be `tf.keep`t; the engine disposes them.
 */
export interface StepResult {
  terms: Record<string, Scalar>;
  grads: { G: Record<string, Tensor>; D?: Record<string, Tensor> };
}

/**
 * One strategy instance owns its whole training step (SPEC section 2 and section 7): which batches it
 * needs, its extra networks, its loss terms and weights, and its checkpointable state. The engine
 * loads batches, applies the optimisers, checks the losses, checkpoints and emits events.
 */
export interface AdaptationRun {
  /** Whether each step needs a target batch. */
  readonly needsTarget: boolean;
  /** Trained by optimizer D; saved in checkpoints under `D/<name>/`. */
  readonly discriminators: Map<string, DiscriminatorNet>;
  /** Networks the run keeps but does not optimise (a teacher); saved under `N/<name>/`. */
  readonly networks: Map<string, Network>;
  /** Runs before each step, outside any tape (e.g. CBST's per-round thresholds over the target set). */
  beforeStep?(info: StepInfo): Promise<void>;
  /** The forward and backward passes of one iteration. Called inside `tf.tidy`. */
  step(batch: StepBatch, info: StepInfo): StepResult;
  /** After the optimisers stepped (e.g. the EMA teacher update). Called inside `tf.tidy`. */
  afterStep?(info: StepInfo): void;
  /** JSON state beyond the networks (RNG, thresholds, round), restored on resume. */
  state?(): Record<string, unknown>;
  restore?(state: Record<string, unknown>): void;
  dispose(): void;
}

/** What a strategy gets to build a run. */
export interface StrategyContext {
  /** The segmentation network being trained (the student). */
  net: SegNetwork;
  numClasses: number;
  featureChannels: number;
  /** The configured discriminator factory (`discriminator.type`) and its options. */
  discriminator: Discriminator;
  discriminatorOptions: Record<string, unknown>;
  /** A new network of the student's architecture with the student's current weights. */
  cloneNet(): SegNetwork;
  /** Every target frame at the target size, un-augmented, one at a time ([1,H,W,3]; disposed by the caller). */
  targetFrames(): AsyncIterable<{ x: Tensor4D; id: string }>;
  /** Logits to (h, w) the way this model's loss sees them (half-pixel centres, or align-corners in faithful mode). */
  upsample(x: Tensor4D, h: number, w: number): Tensor4D;
  seed: number;
}

export const AdaptationStrategy = Symbol.for("adaptseg.AdaptationStrategy");
export interface AdaptationStrategy<O = Record<string, unknown>> {
  readonly name: string;
  /** TypeBox schema of this strategy's options (defaults declared here, once). */
  readonly options: TSchema;
  /** `options` as validated against the schema; defaults missing here (a direct library call) are filled from it. */
  create(options: Partial<O>, ctx: StrategyContext): AdaptationRun;
}

// ---------------------------------------------------------------- datasets
export type RGB = readonly [number, number, number];

export interface DatasetMeta {
  /** Class names in train-id order. */
  readonly classes: readonly string[];
  readonly palette: readonly RGB[];
  /** Label value that means "ignore" after mapping (255 throughout). */
  readonly ignoreIndex: number;
  /** Identifies the class space, e.g. `cityscapes19`, `cityscapes16`, `cityscapes13`, `camvid11`. */
  readonly classSpace: string;
}

export interface Sample {
  image: string;
  /** Absent for unlabelled frames. */
  label?: string;
  /** Stable id (e.g. file stem) used for output names. */
  id: string;
}

/** A decoded label in train ids (ignoreIndex where unknown). */
export interface LabelMap {
  width: number;
  height: number;
  data: Uint8Array;
}

export const DatasetAdapter = Symbol.for("adaptseg.DatasetAdapter");
export interface DatasetAdapter {
  readonly name: string;
  /** Meta for the given options (class space can depend on them, e.g. SYNTHIA 16 vs 13). */
  meta(options: Record<string, unknown>): DatasetMeta;
  /** Lists samples from the real on-disk layout; `root` is the dataset folder. */
  list(options: Record<string, unknown> & { root: string; split?: string }): Promise<Sample[]>;
  /** Reads a label file into train ids, checking its encoding. */
  readLabel(file: string, options: Record<string, unknown>): Promise<LabelMap>;
}

/** One batch, ready for the network: NHWC BGR mean-subtracted images, train-id labels. */
export interface Batch {
  images: Float32Array;
  labels?: Uint8Array;
  ids: string[];
  batchSize: number;
  width: number;
  height: number;
}

/** An endless, seeded, prefetching batch stream whose position can be saved and restored exactly. */
export interface Loader {
  /** Number of samples. */
  readonly size: number;
  /** Samples skipped for bad input so far (onError "skip"). */
  readonly skipped: number;
  next(): Promise<Batch>;
  state(): Record<string, unknown>;
  restore(state: Record<string, unknown>): void;
  close(): void;
}

export interface OpenedDataset {
  adapter: DatasetAdapter;
  meta: DatasetMeta;
  samples: Sample[];
  /** The adapter options used (root resolved). */
  options: Record<string, unknown> & { root: string };
}

/** A decoded image, preprocessed for the network, plus its RGB pixels for overlays. */
export interface NetImage {
  /** [H,W,3] BGR minus IMG_MEAN at the requested size. */
  input: Float32Array;
  width: number;
  height: number;
  /** Original RGB pixels and size. */
  rgb: Uint8Array;
  origWidth: number;
  origHeight: number;
}

export const DataPipeline = Symbol.for("adaptseg.DataPipeline");
/** Decoding, preprocessing and loading (bound by @adaptseg/datasets). */
export interface DataPipeline {
  /** Resolves `root` (against dataRoot, then baseDir), picks the adapter by `type` and lists samples. */
  open(cfg: import("./config.js").DatasetConfig, ctx: { dataRoot?: string; baseDir?: string }): Promise<OpenedDataset>;
  loader(
    ds: OpenedDataset,
    cfg: import("./config.js").DatasetConfig,
    opts: { batchSize: number; seed: number; shuffle?: boolean; labels?: boolean; prefetch?: number; onError?: "fail" | "skip"; onWarn?: (msg: string) => void },
  ): Loader;
  readImage(file: string, size?: { width: number; height: number }): Promise<NetImage>;
  /** Throws when source and target do not share a class space (or declare a mapping). */
  checkClassSpaces(source: DatasetMeta, target: DatasetMeta): void;
  /**
   * The data root: `dataRoot` (--data), else ADAPTSEG_DATA, else the defaults; with `ensure`, a public
   * dataset of that type that is absent is downloaded first (the demo's CamVid frames).
   */
  dataRoot(dataRoot?: string, ensure?: string): Promise<string>;
}

// ---------------------------------------------------------------- binding helper
/** Any constructor; injectable classes take only `@inject`ed parameters. */
export type Ctor<T> = new (...args: any[]) => T;

/**
 * Binds a plugin the Theia way: `Impl` as a singleton and the point to it (listed by `getAll`;
 * `resolvePlugin` selects the instance whose `name` is the config's `type`). `name`, when given, is
 * checked against the instance's `name` when the point is resolved.
 */
export function bindPlugin<T extends { readonly name: string }>(bind: Bind, point: symbol, impl: Ctor<T>, name?: string): void {
  bind(impl).toSelf().inSingletonScope();
  if (name === undefined) {
    bind<T>(point).toService(impl);
    return;
  }
  bind<T>(point).toDynamicValue((ctx) => {
    const plugin = ctx.get<T>(impl);
    if (plugin.name !== name) throw new Error(`bindPlugin: ${impl.name} was bound as "${name}" but its name is "${plugin.name}"`);
    return plugin;
  });
}

export type { Tensor, Tensor4D, Scalar, Variable };
