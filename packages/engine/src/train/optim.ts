// Optimisers with PyTorch semantics and explicit, checkpointable state.
// G: SGD with momentum and weight decay; D: Adam. Both under poly learning-rate decay.
import * as tf from "@tensorflow/tfjs-core";

/** Poly decay: lr * (1 - iter / maxIters) ^ power (official `lr_poly`). */
export function polyLr(base: number, iter: number, maxIters: number, power = 0.9): number {
  return base * Math.pow(Math.max(0, 1 - iter / maxIters), power);
}

export interface Optimizer {
  /** Applies one update with learning rate `lr`. Grads are not disposed. */
  step(vars: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void;
  /** Named state tensors (for checkpoints) and a JSON part. */
  state(): { tensors: Record<string, tf.Tensor>; json: Record<string, unknown> };
  restore(tensors: Map<string, { shape: number[]; data: Float32Array }>, json: Record<string, unknown>): void;
  dispose(): void;
}

abstract class Slots {
  protected slots = new Map<string, tf.Variable>();
  protected slot(key: string, like: tf.Tensor): tf.Variable {
    let v = this.slots.get(key);
    if (!v) this.slots.set(key, (v = tf.variable(tf.zerosLike(like), false)));
    return v;
  }
  state() {
    return { tensors: Object.fromEntries(this.slots) as Record<string, tf.Tensor>, json: this.json() };
  }
  protected json(): Record<string, unknown> {
    return {};
  }
  restore(tensors: Map<string, { shape: number[]; data: Float32Array }>, json: Record<string, unknown>): void {
    this.dispose();
    for (const [k, t] of tensors) this.slots.set(k, tf.variable(tf.tensor(t.data, t.shape), false));
    this.restoreJson(json);
  }
  protected restoreJson(_json: Record<string, unknown>): void {}
  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

/** torch.optim.SGD: g += wd * w; buf = momentum * buf + g (buf = g on the first step); w -= lr * buf. */
export class SGD extends Slots implements Optimizer {
  constructor(
    readonly momentum = 0.9,
    readonly weightDecay = 5e-4,
  ) {
    super();
  }
  step(vars: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    for (const [name, w] of vars) {
      const g0 = grads[name];
      if (!g0) continue;
      tf.tidy(() => {
        const g = this.weightDecay ? g0.add(w.mul(this.weightDecay)) : g0;
        let d = g;
        if (this.momentum) {
          const first = !this.slots.has(`${name}/momentum`);
          const buf = this.slot(`${name}/momentum`, w);
          d = first ? g : buf.mul(this.momentum).add(g);
          buf.assign(d);
        }
        w.assign(w.sub(d.mul(lr)));
      });
    }
  }
}

/** torch.optim.Adam (no weight decay): bias-corrected first and second moments. */
export class Adam extends Slots implements Optimizer {
  private t = 0;
  constructor(
    readonly beta1 = 0.9,
    readonly beta2 = 0.99,
    readonly eps = 1e-8,
  ) {
    super();
  }
  step(vars: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const bc1 = 1 - Math.pow(this.beta1, this.t);
    const bc2 = 1 - Math.pow(this.beta2, this.t);
    for (const [name, w] of vars) {
      const g = grads[name];
      if (!g) continue;
      tf.tidy(() => {
        const m = this.slot(`${name}/m`, w);
        const v = this.slot(`${name}/v`, w);
        m.assign(m.mul(this.beta1).add(g.mul(1 - this.beta1)));
        v.assign(v.mul(this.beta2).add(g.square().mul(1 - this.beta2)));
        const denom = v.div(bc2).sqrt().add(this.eps);
        w.assign(w.sub(m.div(denom).mul(lr / bc1)));
      });
    }
  }
  protected json() {
    return { t: this.t };
  }
  protected restoreJson(json: Record<string, unknown>): void {
    this.t = Number(json.t ?? 0);
  }
}
