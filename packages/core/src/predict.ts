// Inference from a checkpoint: rebuild G from the checkpoint's metadata, segment images, and
// render mask, colour and overlay PNGs plus a legend (used by `predict`, `predict-server`, eval).
import type { Container } from "inversify";
import { Backbone, ComputeBackend, DataPipeline, type RGB, type SegNetwork } from "./contracts.js";
import { createContainer, resolvePlugin } from "./container.js";
import { selectBackend } from "./backend.js";
import { assignWeights, readCheckpoint, withPrefix, type CheckpointMeta } from "./train/checkpoint.js";
import { predictIds } from "./train/evaluate.js";
import { colorize, encodePng, legendEntries, overlay, type LegendEntry } from "./eval/index.js";

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

  static async open(checkpoint: string, opts: { backend?: string; baseDir?: string } = {}): Promise<Predictor> {
    const ck = readCheckpoint(checkpoint);
    const cfg = ck.meta.config as { plugins?: string[]; backend?: string };
    const container = await createContainer({ plugins: cfg.plugins }, { baseDir: opts.baseDir });
    const choice = await selectBackend(container.getAll(ComputeBackend), opts.backend ?? process.env.ADAPTSEG_BACKEND ?? cfg.backend);
    const { type, ...options } = ck.meta.model;
    const net = resolvePlugin<Backbone>(container, Backbone, type, "model.type").create({ ...options, type } as never);
    assignWeights(net, withPrefix(ck.tensors, "G/"), checkpoint);
    return new Predictor(net, ck.meta, container.get<DataPipeline>(DataPipeline), container, choice.name);
  }

  /** The network input size: the checkpoint's target size, else the image's own. */
  get inputSize(): { width: number; height: number } | undefined {
    return (this.meta.config as { target?: { size?: { width: number; height: number } } }).target?.size;
  }

  get palette(): readonly RGB[] {
    return this.meta.palette;
  }

  async segment(file: string, size = this.inputSize): Promise<Segmentation> {
    const img = await this.pipeline.readImage(file, size);
    const ids = predictIds(this.net, img);
    return { ids, width: img.origWidth, height: img.origHeight, rgb: img.rgb, legend: legendEntries(ids, { classes: this.meta.classes, palette: this.meta.palette }) };
  }

  /** PNG bytes: train-id mask, colourised mask, and overlay on the image. */
  render(s: Segmentation, alpha = 0.5): { mask: Uint8Array; color: Uint8Array; overlay: Uint8Array } {
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
