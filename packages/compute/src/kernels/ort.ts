// onnxruntime-node (MLAS, multi-threaded) behind TF.js kernels on the wasm backend: Conv2D,
// Conv2DBackpropInput and Conv2DBackpropFilter run as small cached ONNX graphs, so the models stay
// plain TF.js. TF.js kernels are synchronous, so onnxruntime-node's native binding is called
// directly (through ../internals.ts, which checks its version). Inputs are fed as views of the wasm heap and outputs are written by ORT
// straight into tensors allocated there (pre-allocated fetches): no copies on either side.
//
// Layouts: TF.js is NHWC / HWIO, ORT's Conv NCHW / OIHW (its CPU provider has no float NHWC conv).
// Each graph transposes at its edges; in isolation the transposes cost about a third of a forward
// conv (128x64x128 map, 3x3, 128 ch: ~35 GFLOP/s with them, ~53 without, 2 threads, loaded machine).
// Measured alternatives that lost: im2col (Concat of the taps) + one MatMul, or per-tap Gemms, for
// the forward (11-15 GFLOP/s); ConvTranspose for stride-1 input gradients (~2x slower than Conv);
// for the filter gradient, a Conv over transposed tensors (~30) and per-tap MatMuls on x
// transposed to [Cin, N, H, W] (same as per-tap Gemm within noise).
// - Conv2D: Transpose -> Conv -> Transpose.
// - Conv2DBackpropInput: stride 1: Transpose -> Conv with the rotated filter -> Transpose; else
//   Transpose -> ConvTranspose (same OIHW weight) -> Transpose.
// - Conv2DBackpropFilter: dW[i,j] = x_tap(i,j)^T dy, one Gemm (transA) per filter tap on a strided
//   Slice of the padded NHWC input, concatenated straight into HWIO.
// Shapes or attributes a graph does not cover go to the kernel registered before (wasm's own or
// ours in ./index.ts), as does everything when `setOrtKernelsActive(false)`.
import * as tf from "@tensorflow/tfjs-core";
import { cpus } from "node:os";
import type { TensorInfo } from "@tensorflow/tfjs-core";
import { overrideWasmKernels, type Args } from "./heap.js";
import { encodeOnnxModel, type OnnxGraph, type OnnxNode } from "./onnx-graph.js";
import { checkWasmInternals, loadOrtNative, wasmHeap, type OrtNative, type OrtSession as NativeSession } from "../internals.js";

type Ort = OrtNative & { threads: number };

type OpStats = { runs: number; ms: number; gflop: number };
const state: { ort?: Ort; active: boolean; sessions: Map<string, NativeSession>; baked: Map<string, NativeSession>; bakedOpened: number; runs: number; byOp: Record<string, OpStats> } = {
  active: false,
  sessions: new Map(),
  baked: new Map(),
  bakedOpened: 0,
  runs: 0,
  byOp: {},
};
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/**
 * Loads onnxruntime-node (its native binding) once. Returns why it cannot be used, or undefined.
 * `module` exists for tests that simulate a missing package.
 */
export async function loadOrt(opts: { threads?: number; module?: string } = {}): Promise<string | undefined> {
  const flag = process.env.ADAPTSEG_ORT;
  if (flag === "0" || flag === "off") return `disabled by ADAPTSEG_ORT=${flag}`;
  if (state.ort && !opts.module) return undefined;
  const spec = opts.module ?? "onnxruntime-node";
  try {
    const native = await loadOrtNative(spec);
    if (typeof native === "string") return native;
    const ort: Ort = Object.assign(native, { threads: Math.max(1, opts.threads ?? cpus().length) });
    try {
      smokeTest(ort);
    } catch (e) {
      return `${spec} loaded but cannot run a conv: ${errText(e)}`;
    }
    state.ort = ort;
    return undefined;
  } catch (e) {
    return `${spec} did not load: ${errText(e)}`;
  }
}

/** Runs a 1x1 conv once, so that a native library that loads but cannot run is caught here. */
function smokeTest(ort: Ort): void {
  const model = encodeOnnxModel({
    nodes: [{ op: "Conv", inputs: ["x", "w"], outputs: ["y"], attrs: { kernel_shape: [1, 1] } }],
    inputs: [
      { name: "x", shape: [1, 1, 1, 2] },
      { name: "w", shape: [1, 1, 1, 1] },
    ],
    outputs: [{ name: "y", shape: [1, 1, 1, 2] }],
  });
  const s = ort.open(model, { intraOpNumThreads: 1 });
  try {
    const y = new Float32Array(2);
    s.run({ x: ort.tensor(new Float32Array([2, 3]), [1, 1, 1, 2]), w: ort.tensor(new Float32Array([4]), [1, 1, 1, 1]) }, { y: ort.tensor(y, [1, 1, 1, 2]) });
    if (y[0] !== 8 || y[1] !== 12) throw new Error(`a 1x1 conv test gave [${y}] instead of [8,12]`);
  } finally {
    s.dispose();
  }
}

/** Whether the ORT kernels run (true) or defer to the previously registered wasm kernels. */
export function setOrtKernelsActive(on: boolean): void {
  if (on && !state.ort) throw new Error("ORT kernels: onnxruntime-node is not loaded (call loadOrt first)");
  state.active = on;
}

/** Whether active, cached sessions (with baked filters), and per graph kind (conv, dx, dw): runs, wall ms and GFLOP since load (for profiles). */
export function ortKernelStats(): { active: boolean; threads: number; sessions: number; baked: number; bakedOpened: number; runs: number; byOp: Record<string, OpStats> } {
  return {
    active: state.active,
    threads: state.ort?.threads ?? 0,
    sessions: state.sessions.size + state.baked.size,
    baked: state.baked.size,
    bakedOpened: state.bakedOpened,
    runs: state.runs,
    byOp: structuredClone(state.byOp),
  };
}

/**
 * LRU caps. A training step of our largest network at one input size uses ~60 (op, shape) pairs;
 * a session with baked weights holds a packed copy of them (up to 38 MB for fc7).
 */
const MAX_SESSIONS = 256;
const MAX_BAKED = 48;

function session(key: string, graph: () => OnnxGraph, baked = false): NativeSession {
  const cache = baked ? state.baked : state.sessions;
  let s = cache.get(key);
  if (s) {
    cache.delete(key); // most recently used last
    cache.set(key, s);
    return s;
  }
  if (cache.size >= (baked ? MAX_BAKED : MAX_SESSIONS)) {
    const [oldKey, old] = cache.entries().next().value as [string, NativeSession];
    old.dispose();
    cache.delete(oldKey);
  }
  const ort = state.ort!;
  if (baked) state.bakedOpened++;
  const model = encodeOnnxModel(graph());
  s = ort.open(model, {
    intraOpNumThreads: ort.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // Dozens of sessions live at once (one per conv shape): an arena per session would keep each
    // one's peak scratch (im2col buffers) for good.
    enableCpuMemArena: false,
    // Do not let the pool threads spin after a run: the wasm kernels between two ORT calls need the
    // cores (measured: a 128x256 training step 4.5-4.8 s without spinning, 6.0-6.5 s with).
    // Denormals flush to zero, as in the PyTorch peer and TensorFlow's CPU runtime.
    extra: { session: { intra_op: { allow_spinning: "0" }, set_denormal_as_zero: "1" } },
  });
  cache.set(key, s);
  return s;
}

/** Runs a cached single-output graph on wasm-heap inputs into a new wasm tensor of `outShape`. */
function runOnHeap(backend: tf.KernelBackend, c: tf.backend_util.Conv2DInfo, op: string, graph: () => OnnxGraph, inputs: Record<string, TensorInfo>, outShape: number[], bakedId?: number): TensorInfo {
  const t0 = performance.now();
  const key = infoKey(op, c) + (bakedId === undefined ? "" : `|w${bakedId}`);
  const h = wasmHeap(backend);
  const s = session(key, graph, bakedId !== undefined);
  const out = h.output(outShape); // may grow the heap: take every view after it
  const ort = state.ort!;
  const feeds: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = ort.tensor(h.view(t), t.shape);
  s.run(feeds, { y: ort.tensor(h.view(out), outShape) });
  state.runs++;
  const st = (state.byOp[op] ??= { runs: 0, ms: 0, gflop: 0 });
  st.runs++;
  st.ms += performance.now() - t0;
  st.gflop += (2 * c.batchSize * c.outHeight * c.outWidth * c.filterHeight * c.filterWidth * c.inChannels * c.outChannels) / 1e9;
  return out;
}

type Conv2DAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
};

const toNCHW = (i: string, o: string): OnnxNode => ({ op: "Transpose", inputs: [i], outputs: [o], attrs: { perm: [0, 3, 1, 2] } });
const toNHWC = (i: string, o: string): OnnxNode => ({ op: "Transpose", inputs: [i], outputs: [o], attrs: { perm: [0, 2, 3, 1] } });
const hwioToOihw = (i: string, o: string): OnnxNode => ({ op: "Transpose", inputs: [i], outputs: [o], attrs: { perm: [3, 2, 0, 1] } });

function convAttrs(c: tf.backend_util.Conv2DInfo) {
  const p = c.padInfo;
  return {
    kernel_shape: [c.filterHeight, c.filterWidth],
    strides: [c.strideHeight, c.strideWidth],
    dilations: [c.dilationHeight, c.dilationWidth],
    pads: [p.top, p.left, p.bottom, p.right],
  };
}
const infoKey = (op: string, c: tf.backend_util.Conv2DInfo) =>
  `${op}|${c.inShape}|${c.filterHeight},${c.filterWidth},${c.inChannels},${c.outChannels}|${c.strideHeight},${c.strideWidth}|${c.dilationHeight},${c.dilationWidth}|${JSON.stringify(c.padInfo)}`;
const nhwc = (c: tf.backend_util.Conv2DInfo) => ({
  x: [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
  w: [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels],
  y: [c.batchSize, c.outHeight, c.outWidth, c.outChannels],
});

/** weights: baked into the model as a constant (ORT then pre-packs them) instead of an input. */
function conv2dGraph(c: tf.backend_util.Conv2DInfo, weights?: Float32Array): OnnxGraph {
  const s = nhwc(c);
  return {
    nodes: [toNCHW("x", "xt"), hwioToOihw("w", "wt"), { op: "Conv", inputs: ["xt", "wt"], outputs: ["yt"], attrs: convAttrs(c) }, toNHWC("yt", "y")],
    inputs: weights
      ? [{ name: "x", shape: s.x }]
      : [
          { name: "x", shape: s.x },
          { name: "w", shape: s.w },
        ],
    outputs: [{ name: "y", shape: s.y }],
    ...(weights ? { floatConstants: [{ name: "w", shape: s.w, data: weights }] } : {}),
  };
}

/**
 * Forward convs whose filter tensor (TF.js data is immutable: same dataId, same values) has been
 * used BAKE_AFTER times get a session with the filter baked in: ORT then packs it once into its
 * NCHWc layout, 20-40% faster per call (fc7 at 64x128: 64 -> 87 GFLOP/s). Inference reuses
 * filters across images; a training step uses each G filter twice and each D filter three times
 * before the optimiser replaces it, so training never pays for baking.
 */
const BAKE_AFTER = 4;
const filterUses = new WeakMap<object, { uses: number; id: number }>();
let nextBakedId = 0;

/** ConvTranspose's output_padding that yields TF's input shape, or null if out of its range. */
function outputPadding(c: tf.backend_util.Conv2DInfo): [number, number] | null {
  const p = c.padInfo;
  const extra = (size: number, s: number, out: number, k: number, a: number, b: number) => size - (s * (out - 1) + k - a - b);
  const eh = extra(c.inHeight, c.strideHeight, c.outHeight, c.effectiveFilterHeight, p.top, p.bottom);
  const ew = extra(c.inWidth, c.strideWidth, c.outWidth, c.effectiveFilterWidth, p.left, p.right);
  if (eh < 0 || ew < 0 || eh >= c.strideHeight || ew >= c.strideWidth) return null;
  return [eh, ew];
}

function inputGradGraph(c: tf.backend_util.Conv2DInfo, outPad: [number, number]): OnnxGraph {
  const s = nhwc(c);
  const p = c.padInfo;
  const [kh, kw] = [c.filterHeight, c.filterWidth];
  const flipPads = [kh - 1 - p.top, kw - 1 - p.left, kh - 1 - p.bottom, kw - 1 - p.right];
  const io = {
    inputs: [
      { name: "dy", shape: s.y },
      { name: "w", shape: s.w },
    ],
    outputs: [{ name: "y", shape: s.x }],
  };
  if (c.strideHeight === 1 && c.strideWidth === 1 && c.dilationHeight === 1 && c.dilationWidth === 1 && flipPads.every((v) => v >= 0))
    // stride 1: a plain Conv of dy with the filter rotated 180 degrees, in/out swapped (MLAS runs
    // Conv ~2x faster than ConvTranspose here)
    return {
      ...io,
      nodes: [
        toNCHW("dy", "dyt"),
        { op: "Transpose", inputs: ["w"], outputs: ["wt"], attrs: { perm: [2, 3, 0, 1] } }, // [Cin, Cout, kh, kw]
        { op: "Slice", inputs: ["wt", "flipStart", "flipEnd", "flipAxes", "flipSteps"], outputs: ["wr"] },
        { op: "Conv", inputs: ["dyt", "wr"], outputs: ["yt"], attrs: { kernel_shape: [kh, kw], pads: flipPads } },
        toNHWC("yt", "y"),
      ],
      int64Constants: [
        { name: "flipStart", values: [-1, -1] },
        { name: "flipEnd", values: [-kh - 1, -kw - 1] },
        { name: "flipAxes", values: [2, 3] },
        { name: "flipSteps", values: [-1, -1] },
      ],
    };
  return {
    ...io,
    nodes: [toNCHW("dy", "dyt"), hwioToOihw("w", "wt"), { op: "ConvTranspose", inputs: ["dyt", "wt"], outputs: ["yt"], attrs: { ...convAttrs(c), output_padding: outPad } }, toNHWC("yt", "y")],
  };
}

function filterGradGraph(c: tf.backend_util.Conv2DInfo): OnnxGraph {
  const s = nhwc(c);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = c;
  const { top, left } = c.padInfo;
  // pad (or crop) x so that every tap's strided window lies inside it
  const bottom = (oh - 1) * sh + (kh - 1) * dh + 1 - top - H;
  const right = (ow - 1) * sw + (kw - 1) * dw + 1 - left - W;
  const nodes: OnnxNode[] = [{ op: "Reshape", inputs: ["dy", "rowsCo"], outputs: ["dy2"] }];
  const consts = [
    { name: "rowsCo", values: [n * oh * ow, co] },
    { name: "rowsCi", values: [n * oh * ow, ci] },
    { name: "hwio", values: [kh, kw, ci, co] },
    { name: "steps", values: [1, sh, sw, 1] },
  ];
  let src = "x";
  const pads = [0, top, left, 0, 0, bottom, right, 0];
  if (pads.some((v) => v !== 0)) {
    consts.push({ name: "pads", values: pads.map((v) => Math.max(0, v)) });
    nodes.push({ op: "Pad", inputs: ["x", "pads"], outputs: ["xp"] });
    src = "xp";
  }
  const taps: string[] = [];
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) {
      const k = `${i}_${j}`;
      const r0 = i * dh; // TF's pads are never negative: tap (0,0) starts at row 0 of xp
      const c0 = j * dw;
      consts.push({ name: `st${k}`, values: [0, r0, c0, 0] }, { name: `en${k}`, values: [n, r0 + (oh - 1) * sh + 1, c0 + (ow - 1) * sw + 1, ci] });
      nodes.push(
        { op: "Slice", inputs: [src, `st${k}`, `en${k}`, "", "steps"], outputs: [`win${k}`] },
        { op: "Reshape", inputs: [`win${k}`, "rowsCi"], outputs: [`a${k}`] },
        { op: "Gemm", inputs: [`a${k}`, "dy2"], outputs: [`g${k}`], attrs: { transA: 1 } },
      );
      taps.push(`g${k}`);
    }
  nodes.push(taps.length > 1 ? { op: "Concat", inputs: taps, outputs: ["cat"], attrs: { axis: 0 } } : { op: "Identity", inputs: taps, outputs: ["cat"] });
  nodes.push({ op: "Reshape", inputs: ["cat", "hwio"], outputs: ["y"] });
  return {
    nodes,
    inputs: [
      { name: "x", shape: s.x },
      { name: "dy", shape: s.y },
    ],
    outputs: [{ name: "y", shape: s.w }],
    int64Constants: consts,
  };
}

const dil = (d: Conv2DAttrs["dilations"]) => d ?? 1;
function two(a: Args, kernel: string, p: string, q: string): [TensorInfo, TensorInfo] {
  const [u, v] = [a.inputs[p], a.inputs[q]];
  if (!u || !v) throw new Error(`${kernel} (ORT kernel): missing input ${u ? q : p}`);
  return [u, v];
}

const conv2D = (a: Args) => {
  const at = a.attrs as unknown as Conv2DAttrs;
  const [x, filter] = two(a, tf.Conv2D, "x", "filter");
  if (at.dataFormat === "NCHW" || x.dtype !== "float32") return null;
  const c = tf.backend_util.computeConv2DInfo(x.shape as never, filter.shape as never, at.strides, dil(at.dilations), at.pad, at.dimRoundingMode);
  const f = filterUses.get(filter.dataId) ?? { uses: 0, id: nextBakedId++ };
  filterUses.set(filter.dataId, f);
  if (++f.uses < BAKE_AFTER) return runOnHeap(a.backend, c, "conv", () => conv2dGraph(c), { x, w: filter }, nhwc(c).y);
  const h = wasmHeap(a.backend);
  return runOnHeap(a.backend, c, "conv", () => conv2dGraph(c, h.view(filter).slice()), { x }, nhwc(c).y, f.id);
};

const conv2DBackpropInput = (a: Args) => {
  const at = a.attrs as unknown as Conv2DAttrs & { inputShape: [number, number, number, number] };
  const [dy, filter] = two(a, tf.Conv2DBackpropInput, "dy", "filter");
  if (at.dataFormat === "NCHW") return null;
  const c = tf.backend_util.computeConv2DInfo(at.inputShape, filter.shape as never, at.strides, 1, at.pad, at.dimRoundingMode);
  const op = outputPadding(c);
  if (!op) return null;
  return runOnHeap(a.backend, c, "dx", () => inputGradGraph(c, op), { dy, w: filter }, nhwc(c).x);
};

const conv2DBackpropFilter = (a: Args) => {
  const at = a.attrs as unknown as Conv2DAttrs & { filterShape: [number, number, number, number] };
  const [x, dy] = two(a, tf.Conv2DBackpropFilter, "x", "dy");
  if (at.dataFormat === "NCHW") return null;
  const c = tf.backend_util.computeConv2DInfo(x.shape as never, at.filterShape, at.strides, 1, at.pad, at.dimRoundingMode);
  return runOnHeap(a.backend, c, "dw", () => filterGradGraph(c), { x, dy }, nhwc(c).w);
};

const TAG = Symbol.for("adaptseg.ortKernels");

/**
 * Wraps the wasm backend's Conv2D and both conv gradients (call after registerWasmTrainingKernels)
 * so that they run in onnxruntime while active. Idempotent; does not activate them.
 */
export function registerOrtKernels(): void {
  const reg = globalThis as unknown as Record<symbol, boolean>;
  if (reg[TAG]) return;
  checkWasmInternals();
  const ifActive = (f: (a: Args) => TensorInfo | null) => (a: Args) => (state.active ? f(a) : null);
  overrideWasmKernels("ORT kernel", [
    [tf.Conv2D, ifActive(conv2D)],
    [tf.Conv2DBackpropInput, ifActive(conv2DBackpropInput)],
    [tf.Conv2DBackpropFilter, ifActive(conv2DBackpropFilter)],
  ]);
  reg[TAG] = true;
}
