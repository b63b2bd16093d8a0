// Number formatting shared by the dashboard webview and the extension (no `vscode`, no Node modules).

/** Four significant digits: plain decimals where readable (0.001994, 2.398, 1234), exponent form
 * below 0.001 and from a million on (2.5e-5). */
export function sig4(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6)
    return v
      .toExponential(3)
      .replace(/\.?0+e/, "e")
      .replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/** A percentage value (0..100) with `digits` decimals; "–" for null/undefined (a class never seen). */
export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

/** "12.34 ± 0.56". */
export function meanSd(mean: number | undefined, sd: number | undefined, digits = 2): string {
  if (mean === undefined || !Number.isFinite(mean)) return "–";
  return sd === undefined || !Number.isFinite(sd) ? mean.toFixed(digits) : `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`;
}

/** Signed: "+1.23 ± 0.45". */
export function gain(mean: number | undefined, sd: number | undefined, digits = 2): string {
  const s = meanSd(mean, sd, digits);
  return mean !== undefined && Number.isFinite(mean) && mean >= 0 ? `+${s}` : s;
}

/** Seconds as "42s", "3m05s", "1.5h". */
export const fmtSec = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`);

/** Integer ticks for an iteration axis: uPlot picks among these increments. */
export const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000, 250_000, 500_000, 1_000_000];
