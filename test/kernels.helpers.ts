// Shared by kernels*.test.ts, dilated*.test.ts and train-wasm*.test.ts: backend setup, seeded data,
// and a gradient check against central finite differences and the cpu backend.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { builtinBackends, selectBackend, setOrtKernelsActive, type BackendChoice } from "@adaptseg/compute";
import { strict as assert } from "node:assert";

/**
 * Activates wasm through core's setup (which registers the training kernels, and the onnxruntime
 * conv kernels where onnxruntime-node loads) and loads cpu too.
 */
export async function useWasm(): Promise<BackendChoice> {
  return selectBackend(builtinBackends(), "wasm");
}

/** wasm with our wasm training kernels only (the onnxruntime conv kernels turned off). */
export async function useWasmOnly(): Promise<void> {
  await useWasm();
  setOrtKernelsActive(false);
}

export async function onBackend<T>(name: string, f: () => T): Promise<T> {
  const prev = tf.getBackend();
  await tf.setBackend(name);
  try {
    return f();
  } finally {
    await tf.setBackend(prev);
  }
}

/** Deterministic uniform values in [-scale, scale]. */
export function seeded(n: number, seed: number, scale = 0.5): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 * scale - scale;
  }
  return out;
}

export type Shape4 = [number, number, number, number];
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** max |a - b| / max |b| */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "length mismatch");
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / (m || 1);
}

type Fn = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor;

/** Gradients of sum(f(x, w) * r) with respect to x and w on one backend. */
async function grads(backend: string, f: Fn, x: Float32Array, xs: Shape4, w: Float32Array, ws: Shape4, r: Float32Array) {
  return onBackend(backend, () =>
    tf.tidy(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
        const y = f(a as tf.Tensor4D, b as tf.Tensor4D);
        return tf.sum(tf.mul(y, tf.tensor(r, y.shape)));
      })([tf.tensor4d(x, xs), tf.tensor4d(w, ws)]);
      return g.map((t) => t.dataSync() as Float32Array);
    }),
  );
}

/**
 * Checks the x and w gradients of f on wasm against the cpu backend (whole tensors) and against
 * central finite differences (eps 1e-2, projection sum in float64) at `samples` coordinates each.
 * Returns the errors found (relative to each gradient's largest magnitude).
 */
export async function gradCheck(f: Fn, xs: Shape4, ws: Shape4, seed = 1, samples = 6) {
  const x = seeded(size(xs), seed);
  const w = seeded(size(ws), seed + 1);
  const ys = await onBackend("cpu", () => {
    const y = f(tf.zeros(xs), tf.zeros(ws));
    const shape = y.shape;
    tf.dispose(y);
    return shape;
  });
  const r = seeded(size(ys), seed + 2, 1);
  const gw = await grads("wasm", f, x, xs, w, ws, r);
  const gc = await grads("cpu", f, x, xs, w, ws, r);
  const proj = (xv: Float32Array, wv: Float32Array) =>
    tf.tidy(() => {
      const y = f(tf.tensor4d(xv, xs), tf.tensor4d(wv, ws)).dataSync();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * r[i];
      return s;
    });
  const eps = 1e-2;
  const fd = (which: 0 | 1, g: Float32Array) => {
    const base = which === 0 ? x : w;
    let scale = 0;
    for (const v of g) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let k = 0; k < samples; k++) {
      const i = Math.floor(((k + 0.5) / samples) * base.length);
      const plus = base.slice();
      const minus = base.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const lp = which === 0 ? proj(plus, w) : proj(x, plus);
      const lm = which === 0 ? proj(minus, w) : proj(x, minus);
      worst = Math.max(worst, Math.abs((lp - lm) / (2 * eps) - g[i]) / (scale || 1));
    }
    return worst;
  };
  const [fdX, fdW] = await onBackend("wasm", () => [fd(0, gw[0]), fd(1, gw[1])]);
  return { cpuX: relErr(gw[0], gc[0]), cpuW: relErr(gw[1], gc[1]), fdX, fdW, outShape: ys };
}

export type ConvCase = { n: number; h: number; w: number; ci: number; co: number; k: number; s: number; d?: number; pad: "same" | "valid" | number };
/** Conv shapes for gradient and parity tests: strides 1-4, same/valid/explicit padding, batch 1 and 2. */
export const CONV_CASES: ConvCase[] = [
  { n: 1, h: 8, w: 8, ci: 3, co: 4, k: 3, s: 1, pad: "same" },
  { n: 2, h: 9, w: 7, ci: 3, co: 5, k: 3, s: 2, pad: "same" },
  { n: 1, h: 8, w: 8, ci: 2, co: 3, k: 3, s: 1, pad: "valid" },
  { n: 2, h: 9, w: 8, ci: 2, co: 3, k: 4, s: 2, pad: "valid" },
  { n: 2, h: 8, w: 8, ci: 3, co: 2, k: 4, s: 1, pad: "same" },
  { n: 1, h: 10, w: 10, ci: 2, co: 3, k: 4, s: 2, pad: 1 }, // the discriminator's conv
  { n: 1, h: 7, w: 9, ci: 4, co: 3, k: 3, s: 2, pad: "valid" },
  { n: 2, h: 6, w: 6, ci: 3, co: 4, k: 1, s: 1, pad: "valid" },
  { n: 1, h: 10, w: 11, ci: 2, co: 3, k: 2, s: 3, pad: "valid" }, // a phase with no filter taps
  { n: 2, h: 11, w: 10, ci: 2, co: 3, k: 5, s: 3, pad: "same" },
  { n: 1, h: 12, w: 12, ci: 3, co: 2, k: 4, s: 4, pad: "same" },
];
