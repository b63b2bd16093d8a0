// `pnpm bench:peer`: ours against the PyTorch peer (../shared/peer/adaptsegnet_torch_bench.py), both
// on CPU, each size in its own process, ours and the peer alternately. Same work on both sides:
// DeepLab-VGG16 full width (official ASPP: branches d=6 and d=12 only = model.aspp "faithful"),
// 19 classes, batch 1, source and target both HxW; single-level output-space step (G on source, G
// on target, D on target softmax, D on both detached softmaxes; SGD momentum 0.9 wd 5e-4 for G,
// Adam (0.9, 0.99) for D); inference = the segmentation net's forward pass only.
// train-resnet101:HxW is the ResNet-101 DeepLab-v2 multi-level step instead (bench/peer-resnet.ts;
// the peer with --model resnet101). infer-onnx:HxW is inference with G exported to ONNX (engine's
// export.ts) in onnxruntime-node: the model's coarse logits, against the peer's inference.
// Prints one JSON line per case: seconds for both, ratio ours/peer, peak RSS of both, load average.
// Env: BENCH_PEER_CASES (default "train:128x256,train:256x512,infer:512x1024,train-resnet101:128x256"), BENCH_PEER_ITERS
// (timed iterations, default 2, after 1 warm-up; 4 for inference), BENCH_PEER_ROUNDS (alternations, default 1),
// BENCH_PEER_PROFILE=1 (ours: per-kernel time of one step), BENCH_PEER_SKIP=peer (ours only, for
// profiling), ADAPTSEG_ORT=0 (ours without onnxruntime), BENCH_PEER_PAIR=0 (G on source and target in
// two calls instead of one batch of 2).
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..");
const peerScript = resolve(repo, "../shared/peer/adaptsegnet_torch_bench.py");
const python = process.env.BENCH_PEER_PYTHON ?? "/usr/bin/python3";
const cases = (process.env.BENCH_PEER_CASES ?? "train:128x256,train:256x512,infer:512x1024,infer-onnx:512x1024,train-resnet101:128x256").split(",");
const iters = Number(process.env.BENCH_PEER_ITERS ?? 2);
const rounds = Number(process.env.BENCH_PEER_ROUNDS ?? 1);

// Ours, in a child process (run from test/ so that the workspace packages resolve, as built in dist/).
const child = `
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, selectBackend, ortKernelStats, crossEntropy2d, upsample } from "@adaptseg/compute";
import { SGD, Adam, polyLr } from "@adaptseg/engine";
import { VggDeeplab } from "@adaptseg/models-vgg";
import { FCDiscriminator, OutputSpace } from "@adaptseg/discriminators";
import { applyPair } from "@adaptseg/strategies";
const [kind, size, iters, profile] = process.argv.slice(1);
const [H, W] = size.split("x").map(Number);
const choice = await selectBackend(builtinBackends());
const C = 19;
const net = new VggDeeplab().create({ numClasses: C, seed: 1, aspp: "faithful" });
// G on source and target: one batch-of-2 call as training does (applyPair), or two with BENCH_PEER_PAIR=0.
const pairNet = process.env.BENCH_PEER_PAIR === "0" ? Object.create(net, { batchIndependent: { value: false } }) : net;
const rnd = (seed) => tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([1, H, W, 3], 0, 1, "float32", seed), 255), 128));
const src = rnd(1), tgt = rnd(2);
const times = [], warmTimes = [];
const prof = {};
let ort0;
const timed = async (f, n, warm) => {
  for (let i = 0; i < n + warm; i++) {
    if (i === warm) ort0 = ortKernelStats().byOp;
    const t0 = performance.now();
    if (profile === "1" && i === warm) {
      const p = await tf.profile(f);
      for (const k of p.kernels) prof[k.name] = (prof[k.name] ?? 0) + k.kernelTimeMs;
    } else f();
    (i < warm ? warmTimes : times).push((performance.now() - t0) / 1000);
  }
};
if (kind === "infer") {
  // 4 warm-up forwards: from the 4th use of a filter on, its conv runs in a session with the filter
  // baked in (kernels/ort.ts), as when evaluating a checkpoint on a data set.
  await timed(() => tf.tidy(() => { net.apply(src).main.dataSync(); }), Number(iters), 4);
} else {
  const run = new OutputSpace().create({}, { numClasses: C, featureChannels: net.featureChannels, discriminator: new FCDiscriminator(), seed: 2 });
  const labels = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform([1, H, W], 0, 1, "float32", 3), C)), "int32"));
  const optG = new SGD(0.9, 5e-4), optD = new Adam(0.9, 0.99);
  const dVars = new Map();
  for (const [level, d] of run.discriminators) for (const [n, v] of d.weights) dVars.set(level + "/" + n, v);
  const names = (m) => { const r = new Map(); for (const [n, v] of m) r.set(v.name, n); return r; };
  const gNames = names(net.weights), dNames = names(dVars);
  const byName = (g, m) => Object.fromEntries(Object.entries(g).map(([k, v]) => [m.get(k), v]));
  let it = 0;
  const step = () => tf.tidy(() => {
    let keptS, keptT;
    const g = tf.variableGrads(() => {
      const [os, ot] = applyPair(pairNet, src, tgt);
      const mainS = upsample(os.main, H, W);
      keptS = { main: tf.keep(mainS) };
      const seg = crossEntropy2d(mainS, labels);
      const mainT = upsample(ot.main, H, W);
      keptT = { main: tf.keep(mainT) };
      return seg.add(run.generatorLoss({ main: mainT, features: ot.features }).total);
    }, [...net.weights.values()]);
    const d = tf.variableGrads(() => run.discriminatorLoss(keptS, keptT).total, [...dVars.values()]);
    g.value.dataSync(); d.value.dataSync();
    optG.step(net.weights, byName(g.grads, gNames), polyLr(2.5e-4, it, 250000));
    optD.step(dVars, byName(d.grads, dNames), polyLr(1e-4, it, 250000));
    it++;
    tf.dispose([keptS.main, keptT.main]);
  });
  await timed(step, Number(iters), 1);
}
times.sort((a, b) => a - b);
const median = (times[(times.length - 1) >> 1] + times[times.length >> 1]) / 2; // as Python's statistics.median
// time in the onnxruntime conv kernels per timed iteration, and their GFLOP/s
const ortOps = Object.fromEntries(Object.entries(ortKernelStats().byOp).map(([k, v]) => {
  const ms = v.ms - (ort0[k]?.ms ?? 0), gflop = v.gflop - (ort0[k]?.gflop ?? 0);
  return [k, { sec: +(ms / 1000 / times.length).toFixed(2), gflops: +(gflop / (ms / 1000)).toFixed(1) }];
}));
const top = Object.entries(prof).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, ms]) => k + " " + (ms / 1000).toFixed(2) + "s");
console.log(JSON.stringify({ sec: median, times, warmTimes, kernels: choice.kernels, ortOps, numTensors: tf.memory().numTensors, maxRssMb: process.resourceUsage().maxRSS / 1024, ...(profile === "1" ? { profile: top } : {}) }));
`;

// Ours in onnxruntime: the same G converted to an ONNX model in memory, 1 warm-up run.
const onnxChild = `
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, selectBackend } from "@adaptseg/compute";
import { OnnxSegmenter, segNetToOnnx } from "@adaptseg/engine";
import { VggDeeplab } from "@adaptseg/models-vgg";
const [size, iters] = process.argv.slice(1);
const [H, W] = size.split("x").map(Number);
await selectBackend(builtinBackends());
const backbone = new VggDeeplab();
const net = backbone.create({ numClasses: 19, seed: 1, aspp: "faithful" });
const model = await segNetToOnnx(backbone, net, { classes: [], palette: [], upsample: "half-pixel", model: { type: backbone.name, numClasses: 19 }, iteration: 0 });
net.dispose();
const onnx = await OnnxSegmenter.create(model);
const x = tf.sub(tf.mul(tf.randomUniform([1, H, W, 3], 0, 1, "float32", 1), 255), 128).dataSync();
const times = [], warmTimes = [];
for (let i = 0; i < Number(iters) + 1; i++) {
  const t0 = performance.now();
  await onnx.run(x, H, W, ["coarse_logits"]);
  (i < 1 ? warmTimes : times).push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const median = (times[(times.length - 1) >> 1] + times[times.length >> 1]) / 2;
console.log(JSON.stringify({ sec: median, times, warmTimes, kernels: "onnxruntime-node (whole model)", ortOps: {}, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
`;

function ours(kind: string, size: string) {
  const args =
    kind === "train-resnet101"
      ? ["--import", "tsx", resolve(repo, "bench/peer-resnet.ts"), size, String(iters)]
      : kind === "infer-onnx"
        ? ["--input-type=module", "-e", onnxChild, size, String(Math.max(3, iters))]
        : ["--input-type=module", "-e", child, kind, size, String(iters), process.env.BENCH_PEER_PROFILE ?? "0"];
  const out = execFileSync(process.execPath, args, {
    cwd: resolve(repo, "test"),
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as { sec: number; times: number[]; warmTimes: number[]; kernels?: string; ortOps: object; maxRssMb: number; profile?: string[] };
}

/** The peer's figure (infer-onnx: its inference, run again beside ours: a loaded machine's load changes by the minute). */
function peer(caseKind: string, size: string) {
  const kind = caseKind === "infer-onnx" ? "infer" : caseKind;
  // Inference at a size is measured after training iterations there (the script has no
  // inference-only mode): one training iteration without warm-up, then the timed forwards, at
  // least 3 so that the median leaves out the first (cold) one.
  const args = kind === "infer" ? ["--iters", "1", "--warmup", "0", "--infer-iters", String(Math.max(3, iters))] : ["--iters", String(iters), "--warmup", "1"];
  if (kind === "train-resnet101") args.push("--model", "resnet101");
  const out = execFileSync(python, [peerScript, "--size", size, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  const r = JSON.parse(out.trim().split("\n").at(-1)!) as { sec_per_iter: number; infer_sec: number; peak_rss_mb: number; threads: number };
  return { sec: kind === "infer" ? r.infer_sec : r.sec_per_iter, maxRssMb: r.peak_rss_mb, threads: r.threads };
}

export async function run(): Promise<void> {
  // Minutes long: under `pnpm bench` it runs only when named (`pnpm bench peer`); `pnpm bench:peer` runs it.
  const named = process.argv.slice(2).some((a) => "peer".startsWith(a) && a.length > 0);
  if (!direct && !named) {
    console.log(JSON.stringify({ bench: "peer", skipped: "minutes long: run `pnpm bench:peer` (or `pnpm bench peer`)" }));
    return;
  }
  for (const c of cases) {
    const [kind, size] = c.split(":") as [string, string];
    if (!["train", "infer", "infer-onnx", "train-resnet101"].includes(kind) || !/^\d+x\d+$/.test(size ?? ""))
      throw new Error(`BENCH_PEER_CASES: bad case "${c}" (expected train:HxW, infer:HxW, infer-onnx:HxW or train-resnet101:HxW)`);
    for (let r = 0; r < rounds; r++) {
      const load0 = loadavg()[0];
      const a = ours(kind, size);
      const b = process.env.BENCH_PEER_SKIP === "peer" ? { sec: NaN, maxRssMb: NaN, threads: 0 } : peer(kind, size);
      console.log(
        JSON.stringify({
          bench: "peer",
          case: kind,
          size,
          round: r,
          ours_sec: +a.sec.toFixed(3),
          peer_sec: +b.sec.toFixed(3),
          ratio: +(a.sec / b.sec).toFixed(2),
          ours_peak_rss_mb: Math.round(a.maxRssMb),
          peer_peak_rss_mb: Math.round(b.maxRssMb),
          ours_times: a.times.map((t) => +t.toFixed(2)),
          ours_warmup_times: a.warmTimes.map((t) => +t.toFixed(2)),
          ours_kernels: a.kernels,
          ours_ort_per_iter: a.ortOps,
          peer_threads: b.threads,
          loadavg_1m: [+load0.toFixed(2), +loadavg()[0].toFixed(2)],
          ...(a.profile ? { ours_profile: a.profile } : {}),
        }),
      );
    }
  }
}

const direct = !!process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename);
if (direct) await run();
