// Plugin points. Each is a Symbol plus an interface of the same name (Theia style).
// Symbols come from the global registry (Symbol.for) so that the ESM and CJS builds of a package,
// and packages that must not depend on core at run time (metrics), agree on the same identity.
// This module has no run-time dependency on TF.js: it imports its types only.
import type { Tensor, Tensor4D, Scalar, Variable } from "@tensorflow/tfjs-core";
import type { Bind } from "inversify";

// ---------------------------------------------------------------- compute backends
export const ComputeBackend = Symbol.for("adaptseg.ComputeBackend");
export interface ComputeBackend {
  /** `tfjs-node-gpu`, `tfjs-node`, `wasm`, `cpu`. */
  readonly name: string;
  /** Lower is tried first. */
  readonly priority: number;
  /** Loads and registers the backend with tfjs-core; resolves to an error text when it cannot. */
  setup(): Promise<string | undefined>;
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
  /** Variables that get the head learning rate (10x for ResNet heads; empty when one rate for all). */
  readonly headWeights?: ReadonlySet<string>;
}

export const Backbone = Symbol.for("adaptseg.Backbone");
/** A segmentation-network factory, selected by `model.type`. */
export interface Backbone {
  readonly name: string;
  create(options: Record<string, unknown> & { numClasses: number; seed?: number }): SegNetwork;
}

export interface DiscriminatorNet extends Network {
  /** Logit map. */
  apply(x: Tensor4D): Tensor4D;
}

export const Discriminator = Symbol.for("adaptseg.Discriminator");
export interface Discriminator {
  readonly name: string;
  create(inChannels: number, options?: Record<string, unknown> & { seed?: number }): DiscriminatorNet;
}

// ---------------------------------------------------------------- adaptation
/** Named loss terms of one step; `total` is what gets differentiated. */
export interface LossTerms {
  total: Scalar;
  terms: Record<string, Scalar>;
}

/** One strategy instance holds its discriminators and owns SPEC section 2 steps 2 and 3. */
export interface AdaptationRun {
  /** Discriminators by level name (`main`, `aux`, `features`); empty for source-only. */
  readonly discriminators: Map<string, DiscriminatorNet>;
  /** Step 2: adversarial loss for G on target outputs (upsampled logits), labelled SOURCE. */
  generatorLoss(target: SegOutputs): LossTerms | undefined;
  /** Step 3: D loss on DETACHED source and target outputs; each half weighted 0.5. */
  discriminatorLoss(source: SegOutputs, target: SegOutputs): LossTerms | undefined;
  dispose(): void;
}

export const AdaptationStrategy = Symbol.for("adaptseg.AdaptationStrategy");
export interface AdaptationStrategy {
  readonly name: string;
  /** SPEC defaults for this strategy's options (lambdas, gan). */
  readonly defaults: Record<string, unknown>;
  create(
    options: Record<string, unknown>,
    ctx: { numClasses: number; featureChannels: number; discriminator: Discriminator; seed?: number },
  ): AdaptationRun;
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

// ---------------------------------------------------------------- metrics
export interface MetricAccumulator {
  process(gt: ArrayLike<number>, pred: ArrayLike<number>): void;
  compute(): Record<string, unknown>;
}

export const Metric = Symbol.for("adaptseg.Metric");
export interface Metric {
  readonly name: string;
  create(numClasses: number, options?: Record<string, unknown>): MetricAccumulator;
}

// ---------------------------------------------------------------- binding helper
/** Any constructor; injectable classes take only `@inject`ed parameters. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Ctor<T> = new (...args: any[]) => T;

/**
 * Binds a plugin the Theia way: `Impl` as a singleton, the point to it (listed by `getAll`),
 * and a named binding so `container.get(Point, { name })` selects it by config `type`.
 */
export function bindPlugin<T>(bind: Bind, point: symbol, impl: Ctor<T>, name: string): void {
  bind(impl).toSelf().inSingletonScope();
  bind<T>(point).toService(impl);
  bind<T>(point).toDynamicValue((ctx) => ctx.get<T>(impl) as never).whenNamed(name);
}

export type { Tensor, Tensor4D, Scalar, Variable };
