// Sweep statistics: mean ± sample sd of the final mIoU per setting, and the paired difference
// against the baseline seed by seed; printed as a console table, Markdown and CSV.
import type { ExpandedSweep } from "./expand.js";
import type { Stats, SweepRunJson, SweepSettingJson } from "./types.js";

export function stats(xs: number[]): Stats {
  const n = xs.length;
  if (!n) return { n, mean: null, sd: null };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : null;
  return { n, mean, sd };
}

export function settingsSummary(sweep: Pick<ExpandedSweep, "settings" | "seeds" | "baseline">, runs: SweepRunJson[]): SweepSettingJson[] {
  const miou = (setting: string, seed: number) => {
    const r = runs.find((x) => x.stage === "main" && x.setting === setting && x.seed === seed);
    return r?.status === "completed" && r.metrics ? r.metrics.miou : null;
  };
  return sweep.settings.map((s) => {
    const perSeed: Record<string, number | null> = {};
    for (const seed of sweep.seeds) perSeed[seed] = miou(s.id, seed);
    const done = runs.filter((x) => x.stage === "main" && x.setting === s.id && x.status === "completed" && x.metrics);
    let perClass: Record<string, number | null> | undefined;
    if (done.length) {
      perClass = {};
      for (const c of Object.keys(done[0]!.metrics!.perClass)) {
        const vals = done.map((r) => r.metrics!.perClass[c]).filter((v): v is number => typeof v === "number");
        perClass[c] = vals.length ? stats(vals).mean : null;
      }
    }
    const setRuns = done.map((r) => ({ id: r.id, seed: r.seed, miou: r.metrics!.miou, perClass: r.metrics!.perClass }));
    const out: SweepSettingJson = { id: s.id, values: s.values, perSeed, runs: setRuns, miou: stats(Object.values(perSeed).filter((v): v is number => v !== null)), perClass };
    if (sweep.baseline && s.id !== sweep.baseline) {
      const d: Record<string, number | null> = {};
      for (const seed of sweep.seeds) {
        const a = miou(s.id, seed);
        const b = miou(sweep.baseline, seed);
        d[seed] = a !== null && b !== null ? a - b : null;
      }
      out.diff = { perSeed: d, stats: stats(Object.values(d).filter((v): v is number => v !== null)) };
    }
    return out;
  });
}

const f2 = (x: number | null | undefined, sign = false) => {
  if (x === null || x === undefined) return "-";
  const r = Math.abs(x) < 0.005 ? 0 : x; // no "-0.00"
  return `${sign && r >= 0 ? "+" : ""}${r.toFixed(2)}`;
};
const pm = (s: Stats, sign = false) => (s.mean === null ? "-" : `${f2(s.mean, sign)} ± ${s.sd === null ? "-" : s.sd.toFixed(2)}`);

/** Header and rows of the results table (strings). */
export function tableRows(settings: SweepSettingJson[], seeds: number[], baseline?: string): { header: string[]; rows: string[][] } {
  const header = ["setting", ...seeds.map((s) => `seed ${s}`), "mIoU mean ± sd"];
  if (baseline) header.push(...seeds.map((s) => `Δ seed ${s}`), `Δ vs ${baseline} mean ± sd`);
  const rows = settings.map((s) => {
    const r = [s.id + (s.id === baseline ? " (baseline)" : ""), ...seeds.map((seed) => f2(s.perSeed[seed])), `${pm(s.miou)} (n=${s.miou.n})`];
    if (baseline) r.push(...seeds.map((seed) => (s.diff ? f2(s.diff.perSeed[seed], true) : "")), s.diff ? `${pm(s.diff.stats, true)} (n=${s.diff.stats.n})` : "");
    return r;
  });
  return { header, rows };
}

export function consoleTable(settings: SweepSettingJson[], seeds: number[], baseline?: string): string {
  const { header, rows } = tableRows(settings, seeds, baseline);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(header), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].map((l) => l.trimEnd()).join("\n") + "\n";
}

export function markdownTable(settings: SweepSettingJson[], seeds: number[], baseline?: string, title?: string): string {
  const { header, rows } = tableRows(settings, seeds, baseline);
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    ...(title ? [`# ${title}`, ""] : []),
    "Final mIoU (%) per seed; mean ± sample sd over seeds" + (baseline ? `; Δ: paired difference against ${baseline}, seed by seed.` : "."),
    "",
    `| ${header.map(esc).join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
    "",
  ].join("\n");
}

export function csvTable(settings: SweepSettingJson[], seeds: number[], axes: { path: string }[], baseline?: string): string {
  const q = (v: unknown) => {
    const s = v === null || v === undefined ? "" : typeof v === "string" ? v : typeof v === "number" ? String(v) : JSON.stringify(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const header = ["setting", ...axes.map((a) => a.path), "n", "miou_mean", "miou_sd", ...seeds.map((s) => `miou_seed_${s}`)];
  if (baseline) header.push("baseline", "diff_n", "diff_mean", "diff_sd", ...seeds.map((s) => `diff_seed_${s}`));
  const rows = settings.map((s) => {
    const r: unknown[] = [s.id, ...axes.map((a) => s.values[a.path]), s.miou.n, s.miou.mean, s.miou.sd, ...seeds.map((seed) => s.perSeed[seed])];
    if (baseline) r.push(baseline, s.diff?.stats.n ?? "", s.diff?.stats.mean ?? "", s.diff?.stats.sd ?? "", ...seeds.map((seed) => s.diff?.perSeed[seed] ?? ""));
    return r.map(q).join(",");
  });
  return [header.join(","), ...rows].join("\n") + "\n";
}
