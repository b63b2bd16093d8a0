// Inference from a checkpoint: rebuild G from the checkpoint's metadata, segment images, and
// render mask, colour and overlay PNGs plus a legend (used by `predict`, `predict-server`, eval).
import type { Container, ContainerModule } from "inversify";
import { Backbone, ComputeBackend, DataPipeline, DatasetAdapter, applyPluginOptions, createContainer, resolvePlugin, type ExperimentConfig, type RGB, type SegNetwork } from "@adaptseg/core";
import { resolve } from "node:path";
import { selectBackend } from "@adaptseg/compute";
import { builtinModules } from "./builtins.js";
import { assignWeights, readCheckpoint, withPrefix, type CheckpointMeta } from "./train/checkpoint.js";
import { predictIds } from "./train/evaluate.js";
import { colorize, encodePng, legendEntries, overlay, type LegendEntry } from "./eval/index.js";

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
    readonly net: SegNetwork,
    readonly meta: CheckpointMeta,
    readonly pipeline: DataPipeline,
    readonly container: Container,
    readonly backend: string,
  ) {}

  /** `modules`: the container's modules (default: builtinModules()); the checkpoint config's plugins are loaded after them. */
  static async open(checkpoint: string, opts: { backend?: string; baseDir?: string; modules?: ContainerModule[] } = {}): Promise<Predictor> {
    const ck = readCheckpoint(checkpoint);
    const cfg = ck.meta.config as { plugins?: string[]; backend?: string };
    const container = await createContainer({ plugins: cfg.plugins }, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules() });
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? cfg.backend);
    const { type, ...options } = ck.meta.model;
    const net = resolvePlugin<Backbone>(container, Backbone, type, "model.type").create({ ...options, type } as never);
    assignWeights(net, withPrefix(ck.tensors, "G/"), checkpoint);
    return new Predictor(net, ck.meta, container.get<DataPipeline>(DataPipeline), container, choice.name);
  }

  /**
   * A weights file that is no AdaptSeg checkpoint (an official PyTorch `.pth`, say), read by the
   * config's backbone as its `weights` option; classes and palette from the evaluation set's adapter.
   */
  static async fromWeights(config: ExperimentConfig, file: string, opts: { backend?: string; baseDir?: string; modules?: ContainerModule[] } = {}): Promise<Predictor> {
    const container = await createContainer(config, { baseDir: opts.baseDir, modules: opts.modules ?? builtinModules() });
    const weights = resolve(file);
    const cfg = applyPluginOptions({ ...config, model: { ...config.model, init: undefined, weights } }, container);
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? cfg.backend);
    const ds = cfg.evaluation?.dataset ?? cfg.target;
    const meta = resolvePlugin<DatasetAdapter>(container, DatasetAdapter, ds.type, "dataset type").meta(ds.options ?? {});
    const { init: _init, upsample: _up, ...model } = cfg.model;
    const numClasses = cfg.model.numClasses ?? meta.classes.length;
    const net = resolvePlugin<Backbone>(container, Backbone, model.type, "model.type").create({ ...model, numClasses } as never);
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
    return new Predictor(net, ckMeta, container.get<DataPipeline>(DataPipeline), container, choice.name);
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
    const bytes = img.origWidth * img.origHeight * this.net.numClasses * 4;
    if (bytes > MAX_SCORE_BYTES)
      throw new Error(
        `${file}: a ${img.origWidth}x${img.origHeight} image needs ${(bytes / 2 ** 30).toFixed(1)} GiB of class scores at its own size (${this.net.numClasses} classes), over the ${MAX_SCORE_BYTES / 2 ** 30} GiB limit: downscale it first`,
      );
    const ids = predictIds(this.net, img);
    return { ids, width: img.origWidth, height: img.origHeight, rgb: img.rgb, legend: legendEntries(ids, { classes: this.meta.classes, palette: this.meta.palette }) };
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
    this.net.dispose();
  }
}
