// webgpu next to wasm: conv2d 3x3 forward and forward+backward, and seconds per training iteration
// (output-space, 1/8-width VGG and D, CamVid frames at 128x256; on a software adapter, the smallest
// conv and 64x48 frames, timed once: lavapipe takes minutes for the rest). Runs in a child process whose
// Vulkan loader also sees Mesa's lavapipe where scripts/mesa.mjs fetched it (VK_ADD_DRIVER_FILES:
// a GPU's driver stays visible, and Dawn prefers it); webgpu is asked for by name, so a software
// adapter is used too (and named). Where webgpu does not load, one line says why.
// BENCH_WEBGPU_ITERS: timed training iterations (default 2, after one warm-up).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..");
const data = process.env.ADAPTSEG_DATA ?? resolve(repo, "../shared/data");
const iters = Number(process.env.BENCH_WEBGPU_ITERS ?? 2);

const child = `
import * as tf from "@tensorflow/tfjs-core";
import { builtinBackends, selectBackend } from "@adaptseg/compute";
import { train } from "@adaptseg/engine";
const [data, iters, out] = process.argv.slice(1);
const all = builtinBackends();
const results = {};
let soft = false; // a software adapter (lavapipe): the smallest cases only, timed once
for (const backend of ["webgpu", "wasm"]) {
  let choice;
  try {
    choice = await selectBackend(all, backend);
  } catch (e) {
    results[backend] = { skipped: e.message.split("\\n")[0] };
    break;
  }
  if (backend === "webgpu") soft = /architecture software/.test(choice.adapter);
  const r = (results[backend] = { adapter: choice.adapter ?? choice.kernels, conv: {} });
  const time = async (f) => {
    const once = async () => {
      const t0 = performance.now();
      const ts = tf.tidy(() => [f()].flat());
      await Promise.all(ts.map((t) => t.data()));
      tf.dispose(ts);
      return performance.now() - t0;
    };
    await once();
    const times = soft ? [await once()] : [await once(), await once(), await once()].sort((a, b) => a - b);
    return +times[times.length >> 1].toFixed(1);
  };
  for (const [hw, c] of soft ? [[64, 32]] : [[128, 64], [256, 64]]) {
    const [x, w, dy] = [[1, hw, hw, c], [3, 3, c, c], [1, hw, hw, c]].map((s) => tf.randomNormal(s));
    const grads = tf.grads((a, b) => tf.conv2d(a, b, 1, "same"));
    r.conv["1x" + hw + "x" + hw + "x" + c] = { fwd_ms: await time(() => tf.conv2d(x, w, 1, "same")), fwdbwd_ms: await time(() => grads([x, w], dy)) };
    tf.dispose([x, w, dy]);
  }
  const size = soft ? { width: 64, height: 48 } : { width: 256, height: 128 };
  const camvid = (options) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit: 4, options });
  const secs = [];
  await train({
    seed: 1, model: { type: "vgg16-deeplab", widthMultiplier: 0.125 }, discriminator: { type: "fc", widthMultiplier: 0.125 },
    adaptation: { type: "output-space" }, source: camvid({ excludeSequences: ["0001TP"] }), target: camvid({ sequences: ["0001TP"] }),
    training: { maxIters: 1000, stopIter: Number(iters) + 1, snapshotEvery: 1000 },
  }, { outDir: out + "/" + backend, dataRoot: data, backend, onEvent: (e) => e.type === "iteration" && secs.push(e.secPerIter) });
  r.train_size = size.width + "x" + size.height;
  r.train_sec_per_iter = +(secs.slice(1).reduce((a, b) => a + b, 0) / (secs.length - 1)).toFixed(3);
}
console.log(JSON.stringify(results));
`;

export async function run(): Promise<void> {
  const env: Record<string, string | undefined> = { ...process.env };
  const mesa = resolve(process.env.ADAPTSEG_MESA_DIR ?? resolve(repo, ".cache/mesa"), "env.json");
  if (existsSync(mesa)) {
    const m = JSON.parse(readFileSync(mesa, "utf8")) as { VK_ICD_FILENAMES: string; LD_LIBRARY_PATH: string };
    env.VK_ADD_DRIVER_FILES = m.VK_ICD_FILENAMES;
    env.LD_LIBRARY_PATH = [env.LD_LIBRARY_PATH, m.LD_LIBRARY_PATH].filter(Boolean).join(":");
  }
  const out = mkdtempSync(resolve(tmpdir(), "adaptseg-bench-"));
  try {
    const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", child, data, String(iters), out], {
      cwd: resolve(repo, "test"),
      encoding: "utf8",
      env,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, { skipped?: string; adapter?: string; conv?: Record<string, object>; train_size?: string; train_sec_per_iter?: number }>;
    const { wasm, webgpu } = r;
    if (!webgpu || webgpu.skipped) {
      console.log(JSON.stringify({ bench: "webgpu", skipped: webgpu?.skipped }));
      return;
    }
    for (const shape of Object.keys(webgpu.conv ?? {}))
      console.log(JSON.stringify({ bench: "webgpu", case: `conv 3x3 ${shape}`, adapter: webgpu.adapter, webgpu: webgpu.conv![shape], wasm: wasm?.conv?.[shape] ?? wasm?.skipped }));
    console.log(
      JSON.stringify({
        bench: "webgpu",
        case: `train output-space 1/8 width ${webgpu.train_size}`,
        adapter: webgpu.adapter,
        webgpu_sec_per_iter: webgpu.train_sec_per_iter,
        wasm_sec_per_iter: wasm?.train_sec_per_iter,
        wasm: wasm?.adapter,
      }),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
