// mIoU against a numeric axis (e.g. lambdaAdv), mean ± sd error bars and each seed's point:
// a Vega-Lite spec rendered to SVG by Vega (no canvas needed), then to PNG by sharp.
import { writeFileSync } from "node:fs";
import type { ExpandedSweep } from "./expand.js";
import type { SweepSettingJson } from "./types.js";

/** The value on a numeric axis: a number, or a one-number array (`lambdaAdv: [0.001]`). */
export function numericValue(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (Array.isArray(v) && v.length === 1) return numericValue(v[0]);
  return undefined;
}

/** The first axis whose every value is numeric (and takes at least two values). */
export function numericAxis(axes: ExpandedSweep["axes"]): ExpandedSweep["axes"][number] | undefined {
  return axes.find((a) => a.values.length > 1 && a.values.every((v) => numericValue(v) !== undefined));
}

export interface ChartPoint {
  x: number;
  series: string;
  mean: number;
  lo: number;
  hi: number;
}

/** The Vega-Lite spec of the chart, or undefined when the sweep has no numeric axis or no results. */
export function chartSpec(sweep: Pick<ExpandedSweep, "name" | "axes" | "seeds">, settings: SweepSettingJson[]): Record<string, unknown> | undefined {
  const axis = numericAxis(sweep.axes);
  if (!axis) return undefined;
  const seriesOf = (s: SweepSettingJson) =>
    s.id
      .split(",")
      .filter((p) => !p.startsWith(`${axis.label}=`))
      .join(",") || "mean ± sd";
  const means: ChartPoint[] = [];
  const seeds: { x: number; series: string; seed: string; miou: number }[] = [];
  for (const s of settings) {
    const x = numericValue(s.values[axis.path]);
    if (x === undefined || s.miou.mean === null) continue;
    const sd = s.miou.sd ?? 0;
    means.push({ x, series: seriesOf(s), mean: s.miou.mean, lo: s.miou.mean - sd, hi: s.miou.mean + sd });
    for (const [seed, m] of Object.entries(s.perSeed)) if (m !== null) seeds.push({ x, series: seriesOf(s), seed, miou: m });
  }
  if (!means.length) return undefined;
  const xs = means.map((m) => m.x);
  const log = xs.every((x) => x > 0) && Math.max(...xs) / Math.min(...xs) >= 4;
  const x = { field: "x", type: "quantitative", title: axis.path, scale: log ? { type: "log", nice: false, padding: 24 } : { zero: false, nice: false, padding: 24 } };
  const y = { type: "quantitative", title: "mIoU (%)", scale: { zero: false } };
  const color = { field: "series", type: "nominal", title: null, legend: new Set(means.map((m) => m.series)).size > 1 ? {} : null };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `${sweep.name}: mIoU against ${axis.label}`, subtitle: `mean ± sd over ${sweep.seeds.length} seed${sweep.seeds.length > 1 ? "s" : ""}; dots: single seeds` },
    width: 520,
    height: 320,
    background: "white",
    layer: [
      { data: { values: seeds }, mark: { type: "point", opacity: 0.45, size: 30 }, encoding: { x, y: { ...y, field: "miou" }, color } },
      { data: { values: means }, mark: { type: "errorbar", ticks: true }, encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color } },
      { data: { values: means }, mark: { type: "line", point: { filled: true, size: 60 } }, encoding: { x, y: { ...y, field: "mean" }, color } },
    ],
  };
}

/** Renders a Vega-Lite spec to PNG bytes. */
export async function renderPng(spec: Record<string, unknown>, scale = 2): Promise<Buffer> {
  const [vega, vl, { default: sharp }] = await Promise.all([import("vega"), import("vega-lite"), import("sharp")]);
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    const svg = await view.toSVG(scale);
    return await sharp(Buffer.from(svg)).png().toBuffer();
  } finally {
    view.finalize();
  }
}

/** Writes the chart PNG; returns false (writing nothing) when the sweep has no numeric axis with results. */
export async function writeChart(file: string, sweep: Pick<ExpandedSweep, "name" | "axes" | "seeds">, settings: SweepSettingJson[]): Promise<boolean> {
  const spec = chartSpec(sweep, settings);
  if (!spec) return false;
  writeFileSync(file, await renderPng(spec));
  return true;
}
