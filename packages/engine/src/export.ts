// ONNX export and onnxruntime inference of the segmentation network G (issue 14). The backbone
// plugin owns how its network becomes ONNX nodes (the optional `Backbone.toOnnx` of core's
// contracts); this file adds the model's edges and metadata:
//   image [batch, height, width, 3] float32: NHWC, BGR minus IMG_MEAN (what `SegNetwork.apply` gets)
//   -> Transpose -> the backbone's nodes -> coarse_logits [batch, C, h/8, w/8]
//   -> Resize to the input size (linear; half_pixel or align_corners as the model's `upsample`) -> logits
//   -> ArgMax over classes, Cast -> mask [batch, height, width] uint8 (train ids).
// Every input size runs (symbolic dims). metadata_props say how to use it (classes, palette, input
// size, preprocessing). `OnnxSegmenter` runs such a model with onnxruntime-node's public API.
import * as tf from "@tensorflow/tfjs-core";
import { cpus } from "node:os";
import { readFileSync } from "node:fs";
import { encodeOnnxModel, loadOnnxRuntime, readOnnxMetadata, upsampleFor, type OnnxGraph, type OnnxRuntime } from "@adaptseg/compute";
import { IMG_MEAN } from "@adaptseg/datasets";
import type { Backbone, SegNetwork } from "@adaptseg/core";

export const ONNX_FORMAT = "adaptseg-onnx/1";
export type UpsampleMode = "half-pixel" | "align-corners";
export type Runtime = "onnx" | "tfjs";

/** What an exported model carries besides its graph (its metadata_props, JSON-encoded). */
export interface OnnxModelInfo {
  classes: string[];
  palette: [number, number, number][];
  /** The size it was trained at: predict's default input size (any size runs). */
  inputSize?: { width: number; height: number };
  upsample: UpsampleMode;
  /** The backbone options (type, numClasses, widthMultiplier, ...). */
  model: Record<string, unknown> & { type: string; numClasses: number };
  iteration: number;
}

export const isOnnxFile = (file: string) => file.toLowerCase().endsWith(".onnx");

/** `net` as an ONNX model (IR 8, opset 17) with `info` in its metadata_props. */
export async function segNetToOnnx(backbone: Backbone, net: SegNetwork, info: OnnxModelInfo): Promise<Uint8Array> {
  if (!backbone.toOnnx) throw new Error(`model type "${backbone.name}" cannot be exported to ONNX: its backbone plugin has no toOnnx`);
  const g = await backbone.toOnnx(net, "edge.image_nchw");
  const C = net.numClasses;
  const graph: OnnxGraph = {
    nodes: [
      { op: "Transpose", inputs: ["image"], outputs: ["edge.image_nchw"], attrs: { perm: [0, 3, 1, 2] } },
      ...g.nodes,
      { op: "Identity", inputs: [g.output], outputs: ["coarse_logits"] },
      // Resize's sizes: [N, C] of the logits, [H, W] of the image
      { op: "Shape", inputs: ["image"], outputs: ["edge.image_shape"] },
      { op: "Gather", inputs: ["edge.image_shape", "edge.hw_axes"], outputs: ["edge.hw"], attrs: { axis: 0 } },
      { op: "Shape", inputs: ["coarse_logits"], outputs: ["edge.coarse_shape"] },
      { op: "Slice", inputs: ["edge.coarse_shape", "edge.zero", "edge.two"], outputs: ["edge.nc"] },
      { op: "Concat", inputs: ["edge.nc", "edge.hw"], outputs: ["edge.sizes"], attrs: { axis: 0 } },
      {
        op: "Resize",
        inputs: ["coarse_logits", "", "", "edge.sizes"],
        outputs: ["logits"],
        attrs: { mode: { s: "linear" }, coordinate_transformation_mode: { s: info.upsample === "align-corners" ? "align_corners" : "half_pixel" } },
      },
      { op: "ArgMax", inputs: ["logits"], outputs: ["edge.argmax"], attrs: { axis: 1, keepdims: 0 } },
      { op: "Cast", inputs: ["edge.argmax"], outputs: ["mask"], attrs: { to: 2 } }, // TensorProto UINT8
    ],
    inputs: [{ name: "image", shape: ["batch", "height", "width", 3] }],
    outputs: [
      { name: "logits", shape: ["batch", C, "height", "width"] },
      { name: "mask", shape: ["batch", "height", "width"], type: "uint8" },
      { name: "coarse_logits", shape: ["batch", C, "coarse_height", "coarse_width"] },
    ],
    floatConstants: g.floatConstants,
    int64Constants: [...(g.int64Constants ?? []), { name: "edge.hw_axes", values: [1, 2] }, { name: "edge.zero", values: [0] }, { name: "edge.two", values: [2] }],
    docString: `AdaptSeg ${info.model.type} segmentation network (G), iteration ${info.iteration}`,
    metadata: {
      format: ONNX_FORMAT,
      classes: JSON.stringify(info.classes),
      palette: JSON.stringify(info.palette),
      ...(info.inputSize ? { input_size: JSON.stringify(info.inputSize) } : {}),
      preprocessing: JSON.stringify({
        input: "image: float32 [batch, height, width, 3] (NHWC); any height and width, input_size is the trained one",
        resize: "bicubic to input_size",
        channels: "BGR",
        mean: [...IMG_MEAN],
        scale: 1,
        formula: "pixel (0..255) minus mean, per channel",
      }),
      outputs: JSON.stringify({
        logits: "float32 [batch, classes, height, width]: scores upsampled bilinearly to the input size",
        mask: "uint8 [batch, height, width]: argmax of logits (train ids)",
        coarse_logits: "float32 [batch, classes, height/8, width/8]: scores at output stride, to upsample to another size",
      }),
      upsample: info.upsample,
      model: JSON.stringify(info.model),
      iteration: String(info.iteration),
    },
  };
  return encodeOnnxModel(graph);
}

/** The OnnxModelInfo of an exported model file's metadata_props; throws when it is not one. */
export function onnxModelInfo(model: Uint8Array, source: string): OnnxModelInfo {
  const m = readOnnxMetadata(model);
  if (m.format !== ONNX_FORMAT)
    throw new Error(`${source}: not an AdaptSeg ONNX model (metadata format ${JSON.stringify(m.format ?? null)}, expected "${ONNX_FORMAT}"); export one with \`adaptseg export\``);
  return {
    classes: JSON.parse(m.classes!),
    palette: JSON.parse(m.palette!),
    ...(m.input_size ? { inputSize: JSON.parse(m.input_size) } : {}),
    upsample: m.upsample === "align-corners" ? "align-corners" : "half-pixel",
    model: JSON.parse(m.model!),
    iteration: Number(m.iteration ?? 0),
  };
}

type Session = Awaited<ReturnType<OnnxRuntime["InferenceSession"]["create"]>>;

/** An exported segmentation model in onnxruntime-node (all cores, graph optimisations on). */
export class OnnxSegmenter {
  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: Session,
    readonly info: OnnxModelInfo,
  ) {}

  /** `model`: ONNX bytes or a .onnx file. Throws when onnxruntime-node cannot load or the model is not ours. */
  static async create(model: Uint8Array | string, opts: { threads?: number } = {}): Promise<OnnxSegmenter> {
    const ort = await loadOnnxRuntime();
    if (typeof ort === "string") throw new Error(ort);
    const bytes = typeof model === "string" ? new Uint8Array(readFileSync(model)) : model;
    const info = onnxModelInfo(bytes, typeof model === "string" ? model : "ONNX model");
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: Math.max(1, opts.threads ?? cpus().length),
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      // Pool threads spin between the model's ops (3-4% faster than without at 256x512, measured);
      // denormals flush to zero, as in PyTorch.
      extra: { session: { intra_op: { allow_spinning: "1" }, set_denormal_as_zero: "1" } },
    });
    return new OnnxSegmenter(ort, session, info);
  }

  /** Runs one image (NHWC, preprocessed, H x W); `outputs`: which of logits, mask, coarse_logits. */
  async run(input: Float32Array, H: number, W: number, outputs: string[] = ["coarse_logits"]): Promise<Record<string, { data: Float32Array | Uint8Array; dims: number[] }>> {
    const r = await this.session.run({ image: new this.ort.Tensor("float32", input, [1, H, W, 3]) }, outputs);
    return Object.fromEntries(outputs.map((k) => [k, { data: r[k]!.data as Float32Array | Uint8Array, dims: [...r[k]!.dims] }]));
  }

  /**
   * Train ids at (h, w) for one image: the model's mask when (h, w) is the input size and `mode` the
   * model's; else its coarse logits upsampled in TF.js by `mode`, then argmax (as `predictIds`).
   */
  async predictIds(input: Float32Array, H: number, W: number, h = H, w = W, mode: UpsampleMode = this.info.upsample): Promise<Uint8Array> {
    if (h === H && w === W && mode === this.info.upsample) return (await this.run(input, H, W, ["mask"])).mask!.data as Uint8Array;
    const { coarse_logits: c } = await this.run(input, H, W, ["coarse_logits"]);
    const up = upsampleFor(mode);
    const ids = tf.tidy(() => up(tf.tensor4d(c!.data as Float32Array, c!.dims as [number, number, number, number]).transpose([0, 2, 3, 1]) as tf.Tensor4D, h, w).argMax(-1));
    const data = await ids.data();
    ids.dispose();
    return Uint8Array.from(data);
  }

  dispose(): void {
    void this.session.release();
  }
}

/**
 * Runs `net` in TF.js and the model in onnxruntime on one seeded random image of size H x W and
 * returns the largest absolute differences of the coarse and the upsampled logits, and the largest
 * |logit| (for a relative tolerance).
 */
export async function compareOnnxWithTfjs(net: SegNetwork, onnx: OnnxSegmenter, H: number, W: number, seed = 1): Promise<{ coarse: number; logits: number; maxAbs: number }> {
  const x = tf.randomUniform([1, H, W, 3], -128, 128, "float32", seed) as tf.Tensor4D;
  const input = (await x.data()) as Float32Array;
  const up = upsampleFor(onnx.info.upsample);
  const ref = tf.tidy(() => {
    const main = net.apply(x).main;
    return [main.transpose([0, 3, 1, 2]), up(main, H, W).transpose([0, 3, 1, 2])];
  });
  x.dispose();
  const got = await onnx.run(input, H, W, ["coarse_logits", "logits"]);
  const [coarseRef, logitsRef] = (await Promise.all(ref.map((t) => t.data()))) as Float32Array[];
  tf.dispose(ref);
  const maxDiff = (a: Float32Array, b: Float32Array) => {
    if (a.length !== b.length) throw new Error(`ONNX check: ${a.length} values from onnxruntime, ${b.length} from TF.js`);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
    return m;
  };
  let maxAbs = 0;
  for (const v of coarseRef!) maxAbs = Math.max(maxAbs, Math.abs(v));
  return { coarse: maxDiff(got.coarse_logits!.data as Float32Array, coarseRef!), logits: maxDiff(got.logits!.data as Float32Array, logitsRef!), maxAbs };
}
