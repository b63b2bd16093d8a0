// Conv2d forward and forward+backward throughput per compute backend (3x3, stride 1, 'same',
// batch 1). FLOPs: forward 2*H*W*Cin*Cout*9; backward (input + filter gradients) = 2x forward.
// The pure-JS cpu backend only runs the smallest case, once (its filter gradient is very slow).
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, ortKernelStats, selectBackend, setOrtKernelsActive } from "@adaptseg/compute";

const SIZES: [number, number][] = [
  [128, 64],
  [128, 256],
  [256, 64],
  [256, 256],
];
const BUDGET_MS = Number(process.env.BENCH_CONV_MS ?? 3000); // per measurement, after one warm-up
const CPU_CAP_MS = Number(process.env.BENCH_CONV_CPU_CAP_MS ?? 180_000); // estimated cpu forward+backward

function timeIt(f: () => tf.Tensor | tf.Tensor[], reps: { min: number; budgetMs: number; warm: boolean }): number {
  const once = () => {
    const t0 = performance.now();
    tf.tidy(() => {
      const out = f();
      for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    });
    return performance.now() - t0;
  };
  if (reps.warm) once();
  const times: number[] = [];
  let total = 0;
  while (times.length < reps.min || total < reps.budgetMs) {
    const t = once();
    times.push(t);
    total += t;
    if (times.length >= 20) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function run(): Promise<void> {
  const all = builtinBackends();
  const timed = all.filter((b) => b.name !== "webgpu"); // synchronous reads here: bench/webgpu.bench.ts times webgpu
  // wasm twice: with the onnxruntime conv kernels (where they load) and with plain wasm kernels
  const runs = timed.flatMap((b) =>
    b.name === "wasm"
      ? [
          { b, ort: true },
          { b, ort: false },
        ]
      : [{ b, ort: false }],
  );
  for (const { b, ort } of runs) {
    const isCpu = b.name === "cpu";
    let name = b.name;
    try {
      const choice = await selectBackend(all, b.name);
      if (b.name === "wasm") {
        if (ort && !ortKernelStats().active) {
          console.log(JSON.stringify({ bench: "conv", backend: "wasm+ort", skipped: choice.kernels }));
          continue;
        }
        setOrtKernelsActive(ort);
        name = ort ? "wasm+ort" : "wasm";
      }
    } catch (e) {
      console.log(JSON.stringify({ bench: "conv", backend: b.name, skipped: (e as Error).message.split("\n")[0] }));
      continue;
    }
    const threads = name === "wasm+ort" ? ortKernelStats().threads : b.name === "wasm" ? (await import("@tensorflow/tfjs-backend-wasm")).getThreadsCount() : undefined;
    for (const [hw, c] of isCpu ? SIZES.slice(0, 1) : SIZES) {
      const [x, w, dy] = (
        [
          [1, hw, hw, c],
          [3, 3, c, c],
          [1, hw, hw, c],
        ] as [number, number, number, number][]
      ).map((s) => tf.randomNormal(s) as tf.Tensor4D);
      const flops = 2 * hw * hw * c * c * 9;
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"));
      const reps = isCpu ? { min: 1, budgetMs: 0, warm: false } : { min: 2, budgetMs: BUDGET_MS, warm: true };
      const fwdMs = timeIt(() => tf.conv2d(x, w, 1, "same"), reps);
      // The cpu backend's filter gradient runs ~70x slower than its forward: skip it past the cap.
      const capped = isCpu && fwdMs * 70 > CPU_CAP_MS;
      const allMs = capped ? NaN : timeIt(() => grads([x, w], dy), reps); // forward + both gradients
      const gf = (fl: number, ms: number) => +(fl / ms / 1e6).toFixed(2);
      console.log(
        JSON.stringify({
          bench: "conv",
          backend: name,
          threads,
          shape: `1x${hw}x${hw}x${c}`,
          kernel: "3x3",
          fwd_ms: +fwdMs.toFixed(1),
          fwd_gflops: gf(flops, fwdMs),
          ...(capped
            ? { fwdbwd_skipped: `estimated ${((fwdMs * 70) / 1000).toFixed(0)} s > cap ${CPU_CAP_MS / 1000} s (BENCH_CONV_CPU_CAP_MS)` }
            : { fwdbwd_ms: +allMs.toFixed(1), fwdbwd_gflops: gf(3 * flops, allMs) }),
        }),
      );
      tf.dispose([x, w, dy]);
    }
  }
}
