// CBST's class-balanced thresholds (Zou et al., ECCV 2018; SPEC section 7).

/**
 * Per-class thresholds k_c: among the pixels predicted as c, sorted by confidence descending, the
 * confidence at the top `portion` (index round(n_c * portion) - 1, at least 0). A class never
 * predicted gets Infinity (no pixel is pseudo-labelled with it).
 */
export function classThresholds(pred: ArrayLike<number>, conf: ArrayLike<number>, numClasses: number, portion: number): number[] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < pred.length; i++) byClass[pred[i]!]?.push(conf[i]!);
  return byClass.map((v) => {
    if (!v.length) return Infinity;
    v.sort((a, b) => b - a);
    return v[Math.max(0, Math.round(v.length * portion) - 1)]!;
  });
}

/** The portion of round r (0-based): start + step * r, at most max (CBST: 0.2, +0.05, 0.5). */
export const roundPortion = (round: number, o: { start: number; step: number; max: number }) => Math.min(o.max, o.start + o.step * round);
