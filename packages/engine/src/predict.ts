// Inference from a checkpoint: rebuild G from the checkpoint's metadata, segment images, and
// render mask, colour and overlay PNGs plus a legend (used by `predict`, `predict-server`, eval).
// The network runs in onnxruntime-node when it loads (G converted in memory, or an exported .onnx
// file), TF.js otherwise or when asked (`runtime: "tfjs"`).
import type { Container, ContainerModule } from "inversify";
import {
  Backbone,
  ComputeBackend,
  DataPipeline,
  DatasetAdapter,
  applyPluginOptions,
  createContainer,
  resolvePlugin,
  type ExperimentConfig,
  type NetImage,
  type RGB,
  type SegNetwork,
} from "@adaptseg/core";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { selectBackend, upsampleFor } from "@adaptseg/compute";
import { builtinModules } from "./builtins.js";
import { assignWeights, readCheckpoint, withPrefix, type CheckpointMeta } from "./train/checkpoint.js";
import { predictIds } from "./train/evaluate.js";
import { colorize, encodePng, legendEntries, overlay, type LegendEntry } from "./eval/index.js";
import { OnnxSegmenter, isOnnxFile, segNetToOnnx, type OnnxModelInfo, type Runtime, type UpsampleMode } from "./export.js";

export interface PredictorOptions {
  backend?: string;
  baseDir?: string;
  modules?: ContainerModule[];
  /** "onnx": onnxruntime-node (an error when it cannot run this model); "tfjs"; default: onnx where it can, else tfjs. */
  runtime?: Runtime;
}

/** The in-memory ONNX model of `net`, or undefined (TF.js) when `runtime` allows it and onnxruntime cannot run it. */
async function onnxFor(backbone: Backbone, net: SegNetwork, meta: CheckpointMeta, runtime: Runtime | undefined): Promise<OnnxSegmenter | undefined> {
  if (runtime !== undefined && runtime !== "onnx" && runtime !== "tfjs") throw new Error(`runtime: expected "onnx" or "tfjs", got ${JSON.stringify(runtime)}`);
  if (runtime === "tfjs") return undefined;
  try {
    return await OnnxSegmenter.create(await segNetToOnnx(backbone, net, onnxInfo(meta)));
  } catch (e) {
    if (runtime === "onnx") throw new Error(`runtime onnx: ${(e as Error).message}`);
    return undefined;
  }
}

const onnxInfo = (meta: CheckpointMeta): OnnxModelInfo => ({
  classes: meta.classes,
  palette: meta.palette,
  inputSize: (meta.config as { target?: { size?: { width: number; height: number } } }).target?.size,
  upsample: upsampleMode(meta),
  model: meta.model,
  iteration: meta.iteration,
});

const upsampleMode = (meta: CheckpointMeta): UpsampleMode => ((meta.config as { model?: { upsample?: string } }).model?.upsample === "align-corners" ? "align-corners" : "half-pixel");

/** Class scores at an image's own size (argmax input) may take at most this many bytes. */
export const MAX_SCORE_BYTES = 2 ** 30;

export interface Segmentation {
  /** Train ids at the image's own size. */
  ids: Uint8Array;
  width: number;
  height: number;
  rgb: Uint8Array;
  legend: LegendEntry[];
}

export class Predictor {
  private constructor(
    private readonly tfNet: SegNetwork | undefined,
    readonly meta: CheckpointMeta,
    readonly pipeline: DataPipeline,
    readonly container: Container,
    readonly backend: string,
    /** The network in onnxruntime; undefined: TF.js. */
    readonly onnx?: OnnxSegmenter,
  ) {}

  /** The TF.js network (a predictor of an exported .onnx file has none). */
  get net(): SegNetwork {
    if (!this.tfNet) throw new Error("this predictor runs an exported ONNX model: it has no TF.js network (use the checkpoint)");
    return this.tfNet;
  }

  /** Where the network runs. */
  get runtime(): Runtime {
    return this.onnx ? "onnx" : "tfjs";
  }

  /** How this model's logits are upsampled (its `model.upsample`). */
  get upsampleMode(): UpsampleMode {
    return upsampleMode(this.meta);
  }

  /**
   * `checkpoint`: an AdaptSeg checkpoint, or a .onnx file from `adaptseg export` (onnxruntime only).
   * `modules`: the container's modules (default: builtinModules()); the checkpoint config's plugins are loaded after them.
   */
  static async open(checkpoint: string, opts: PredictorOptions = {}): Promise<Predictor> {
    if (isOnnxFile(checkpoint)) return Predictor.openOnnx(checkpoint, opts);
    const ck = readCheckpoint(checkpoint);
    const cfg = ck.meta.config as { plugins?: string[]; backend?: string };
    const container = await createContainer({ plugins: cfg.plugins }, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules() });
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? cfg.backend);
    const { type, ...options } = ck.meta.model;
    const backbone = resolvePlugin<Backbone>(container, Backbone, type, "model.type");
    const net = backbone.create({ ...options, type } as never);
    assignWeights(net, withPrefix(ck.tensors, "G/"), checkpoint);
    const onnx = await onnxFor(backbone, net, ck.meta, opts.runtime);
    return new Predictor(net, ck.meta, container.get<DataPipeline>(DataPipeline), container, choice.name, onnx);
  }

  /** An exported model (`adaptseg export`): classes, palette, sizes and upsampling from its metadata. */
  private static async openOnnx(file: string, opts: PredictorOptions): Promise<Predictor> {
    if (opts.runtime === "tfjs") throw new Error(`${file}: an ONNX model runs in onnxruntime only (runtime tfjs needs a checkpoint)`);
    if (!existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
    const onnx = await OnnxSegmenter.create(file);
    const i = onnx.info;
    const container = await createContainer({}, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules() });
    // TF.js upsamples the coarse logits when the output size is not the input size
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND);
    const meta: CheckpointMeta = {
      format: "onnx",
      iteration: i.iteration,
      config: { model: { ...i.model, upsample: i.upsample }, ...(i.inputSize ? { target: { size: i.inputSize } } : {}) },
      model: i.model,
      classes: i.classes,
      palette: i.palette,
      optimizers: {},
      loaders: {},
    };
    return new Predictor(undefined, meta, container.get<DataPipeline>(DataPipeline), container, choice.name, onnx);
  }

  /**
   * A weights file that is no AdaptSeg checkpoint (an official PyTorch `.pth`, say), read by the
   * config's backbone as its `weights` option; classes and palette from the evaluation set's adapter.
   */
  static async fromWeights(config: ExperimentConfig, file: string, opts: PredictorOptions = {}): Promise<Predictor> {
    const container = await createContainer(config, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules() });
    const weights = resolve(file);
    const cfg = applyPluginOptions({ ...config, model: { ...config.model, init: undefined, weights } }, container);
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? cfg.backend);
    const ds = cfg.evaluation?.dataset ?? cfg.target;
    const meta = resolvePlugin<DatasetAdapter>(container, DatasetAdapter, ds.type, "dataset type").meta(ds.options ?? {});
    const { init: _init, upsample: _up, ...model } = cfg.model;
    const numClasses = cfg.model.numClasses ?? meta.classes.length;
    const backbone = resolvePlugin<Backbone>(container, Backbone, model.type, "model.type");
    const net = backbone.create({ ...model, numClasses } as never);
    const ckMeta: CheckpointMeta = {
      format: "external",
      iteration: 0,
      config: cfg as unknown as Record<string, unknown>,
      model: { ...model, numClasses },
      classes: [...meta.classes],
      palette: meta.palette.map((c) => [...c] as [number, number, number]),
      optimizers: {},
      loaders: {},
    };
    return new Predictor(net, ckMeta, container.get<DataPipeline>(DataPipeline), container, choice.name, await onnxFor(backbone, net, ckMeta, opts.runtime));
  }

  /** The network input size: the checkpoint's target size, else the image's own. */
  get inputSize(): { width: number; height: number } | undefined {
    return (this.meta.config as { target?: { size?: { width: number; height: number } } }).target?.size;
  }

  get palette(): readonly RGB[] {
    return this.meta.palette;
  }

  async segment(file: string, size = this.inputSize): Promise<Segmentation> {
    if (size !== undefined) {
      const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 8 && (v as number) <= 8192;
      if (!size || typeof size !== "object" || !ok(size.width) || !ok(size.height)) throw new Error(`${file}: size must be whole pixels from 8 to 8192 a side, got ${JSON.stringify(size)}`);
    }
    const img = await this.pipeline.readImage(file, size);
    const bytes = img.origWidth * img.origHeight * this.meta.model.numClasses * 4;
    if (bytes > MAX_SCORE_BYTES)
      throw new Error(
        `${file}: a ${img.origWidth}x${img.origHeight} image needs ${(bytes / 2 ** 30).toFixed(1)} GiB of class scores at its own size (${this.meta.model.numClasses} classes), over the ${MAX_SCORE_BYTES / 2 ** 30} GiB limit: downscale it first`,
      );
    const ids = await this.predictIds(img);
    return { ids, width: img.origWidth, height: img.origHeight, rgb: img.rgb, legend: legendEntries(ids, { classes: this.meta.classes, palette: this.meta.palette }) };
  }

  /** The TF.js network as an ONNX model with this checkpoint's classes, palette, sizes and upsampling (`adaptseg export`). */
  async toOnnx(): Promise<Uint8Array> {
    const backbone = resolvePlugin<Backbone>(this.container, Backbone, this.meta.model.type, "model.type");
    return segNetToOnnx(backbone, this.net, onnxInfo(this.meta));
  }

  /** Train ids at (h, w) (default: the image's own size), upsampled by `mode` (default: the model's); in onnxruntime or TF.js. */
  async predictIds(img: NetImage, h = img.origHeight, w = img.origWidth, mode = this.upsampleMode): Promise<Uint8Array> {
    if (this.onnx) return this.onnx.predictIds(img.input, img.height, img.width, h, w, mode);
    return predictIds(this.net, img, h, w, upsampleFor(mode));
  }

  /** PNG bytes: train-id mask, colourised mask, and overlay on the image. */
  render(s: Segmentation, alpha = 0.5): { mask: Uint8Array; color: Uint8Array; overlay: Uint8Array } {
    if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) throw new Error(`alpha must be a number from 0 to 1, got ${typeof alpha === "number" ? alpha : JSON.stringify(alpha)}`);
    const color = colorize(s.ids, this.palette);
    return {
      mask: encodePng(s.ids, s.width, s.height, 1),
      color: encodePng(color, s.width, s.height, 3),
      overlay: encodePng(overlay(s.rgb, color, alpha), s.width, s.height, 3),
    };
  }

  dispose(): void {
    this.tfNet?.dispose();
    this.onnx?.dispose();
  }
}
