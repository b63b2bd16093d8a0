// Ours for `pnpm bench:peer`'s ResNet-101 case: one AdaptSegNet multi-level training step
// (train_gta2cityscapes_multi.py, as ../shared/peer/adaptsegnet_torch_bench.py --model resnet101
// times it), run as a child process: `node --import tsx bench/peer-resnet.ts HxW iters [width]`.
// Same work as the peer: DeeplabMulti full width, 19 classes, batch 1, source and target both HxW,
// BN in train mode (bn "faithful": batch statistics, running ones updated), official 2-branch ASPP,
// logits upsampled with align_corners=True; L_seg = CE(main) + 0.1 CE(aux) on source, L_adv =
// 0.0002 BCE(D1(softmax aux_t)) + 0.001 BCE(D2(softmax main_t)) vs SOURCE into G; each D on the
// detached source (SOURCE) and target (TARGET) outputs, halved; SGD (momentum 0.9, wd 5e-4, heads at
// 10x lr) for G, Adam (0.9, 0.99) for D1 and D2. Prints one JSON line: median seconds per step,
// the step times, peak RSS.
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, selectBackend, crossEntropy2d, upsampleAlignCorners } from "@adaptseg/compute";
import { SGD, Adam, polyLr } from "@adaptseg/engine";
import { ResnetDeeplabNet } from "@adaptseg/models-resnet";
import { FCDiscriminator, ganLoss, SOURCE, TARGET } from "@adaptseg/discriminators";

const [size = "128x256", itersArg = "2", widthArg = "1"] = process.argv.slice(2);
const [H, W] = size.split("x").map(Number) as [number, number];
const iters = Number(itersArg);
const C = 19;
const choice = await selectBackend(builtinBackends());
const G = new ResnetDeeplabNet({ numClasses: C, seed: 1, widthMultiplier: Number(widthArg), aspp: "faithful", bn: "faithful" });
const fc = new FCDiscriminator();
const D = { aux: fc.create(C, { seed: 2 }), main: fc.create(C, { seed: 3 }) };
const rnd = (seed: number) => tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([1, H, W, 3], 0, 1, "float32", seed), 255), 128)) as tf.Tensor4D;
const src = rnd(1),
  tgt = rnd(2);
const labels = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform([1, H, W], 0, 1, "float32", 3), C)), "int32")) as tf.Tensor3D;

const backbone = new Map([...G.weights].filter(([n, v]) => v.trainable && !G.headWeights.has(n)));
const heads = new Map([...G.weights].filter(([n]) => G.headWeights.has(n)));
const dVars = new Map<string, tf.Variable>();
for (const [level, d] of Object.entries(D)) for (const [n, v] of d.weights) dVars.set(`${level}/${n}`, v);
const byName = (grads: tf.NamedTensorMap, vars: Map<string, tf.Variable>) => {
  const out: Record<string, tf.Tensor> = {};
  for (const [n, v] of vars) if (grads[v.name]) out[n] = grads[v.name]!;
  return out;
};
const optG = new SGD(0.9, 5e-4),
  optD = new Adam(0.9, 0.99);
const up = (x: tf.Tensor4D) => upsampleAlignCorners(x, H, W);
const levels = ["aux", "main"] as const;
const lambdaAdv = { aux: 0.0002, main: 0.001 };

let it = 0;
// Two backward passes, as the official script's two loss.backward() calls: the source pass's
// activations are freed before the target pass runs (one tape over both does not fit wasm's 4 GiB
// heap at 128x256 with ResNet-101); the gradients are summed.
const step = () =>
  tf.tidy(() => {
    const kept: Record<"s" | "t", Partial<Record<(typeof levels)[number], tf.Tensor4D>>> = { s: {}, t: {} };
    const gVars = [...backbone.values(), ...heads.values()];
    const gs = tf.variableGrads(() => {
      const os = G.apply(src, { training: true });
      const s = { main: up(os.main), aux: up(os.aux!) };
      for (const l of levels) kept.s[l] = tf.keep(tf.softmax(s[l]));
      return tf.add(crossEntropy2d(s.main, labels), tf.mul(crossEntropy2d(s.aux, labels), 0.1)) as tf.Scalar;
    }, gVars);
    const gt = tf.variableGrads(() => {
      const ot = G.apply(tgt, { training: true });
      const t = { main: up(ot.main), aux: up(ot.aux!) };
      let adv: tf.Tensor = tf.scalar(0);
      for (const l of levels) {
        kept.t[l] = tf.keep(tf.softmax(t[l]));
        adv = tf.add(adv, tf.mul(ganLoss(D[l].apply(kept.t[l]!), SOURCE, "vanilla"), lambdaAdv[l]));
      }
      return adv as tf.Scalar;
    }, gVars);
    const d = tf.variableGrads(() => {
      let loss: tf.Tensor = tf.scalar(0);
      for (const l of levels) {
        loss = tf.add(loss, tf.mul(ganLoss(D[l].apply(kept.s[l]!), SOURCE, "vanilla"), 0.5));
        loss = tf.add(loss, tf.mul(ganLoss(D[l].apply(kept.t[l]!), TARGET, "vanilla"), 0.5));
      }
      return loss as tf.Scalar;
    }, [...dVars.values()]);
    gs.value.dataSync();
    gt.value.dataSync();
    d.value.dataSync();
    const grads: tf.NamedTensorMap = {};
    for (const v of gVars) if (gs.grads[v.name] && gt.grads[v.name]) grads[v.name] = tf.add(gs.grads[v.name]!, gt.grads[v.name]!);
    const lr = polyLr(2.5e-4, it, 250000);
    optG.step(backbone, byName(grads, backbone), lr);
    optG.step(heads, byName(grads, heads), 10 * lr);
    optD.step(dVars, byName(d.grads, dVars), polyLr(1e-4, it, 250000));
    it++;
    tf.dispose([...Object.values(kept.s), ...Object.values(kept.t)] as tf.Tensor[]);
  });

const times: number[] = [],
  warmTimes: number[] = [];
for (let i = 0; i < iters + 1; i++) {
  const t0 = performance.now();
  step();
  (i === 0 ? warmTimes : times).push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const median = (times[(times.length - 1) >> 1]! + times[times.length >> 1]!) / 2;
const wasmHeapMb = ((tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0) / 2 ** 20;
console.log(
  JSON.stringify({ sec: median, times, warmTimes, backend: choice.name, kernels: choice.kernels, numTensors: tf.memory().numTensors, wasmHeapMb, maxRssMb: process.resourceUsage().maxRSS / 1024 }),
);
