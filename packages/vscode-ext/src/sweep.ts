// sweep.json, as the dashboard reads it. `adaptseg sweep` (packages/sweep) writes
// `<out>/sweep.json` in the format "adaptseg-sweep/1" (`SweepJson` in packages/sweep/src/types.ts):
//   { format, name, state: "running"|"done"|"incomplete", baseline, metric: "miou", seeds,
//     settings: [{ id, values, perSeed: { seed: miou|null }, runs: [{ id, seed, miou, perClass }],
//                  miou: { n, mean, sd }, perClass?, diff?: { perSeed, stats: { n, mean, sd } } }],
//     runs: [{ id, setting, seed, status, ... }] }
// The shape documented before that package existed is read too:
//   { settings: [{ id, values, runs: [{ seed, miou, perClass }], mean, sd,
//                  pairedGain?: { mean, sd, perSeed } }], baseline }
// Missing statistics are computed from the runs (mean, sample sd, and the paired gain over the
// seeds a setting shares with the baseline). No `vscode`, no Node modules (the webview imports it).

export interface SweepRun {
  seed: number | string;
  miou: number;
  perClass?: Record<string, number | null>;
}

export interface SweepSetting {
  id: string;
  values: Record<string, unknown>;
  runs: SweepRun[];
  mean?: number;
  sd?: number;
  pairedGain?: { mean: number; sd: number; perSeed: { seed: number | string; gain: number }[] };
  /** Mean IoU per class over the runs (where the runs have perClass). */
  perClassMean?: Record<string, number | null>;
}

export interface Sweep {
  name?: string;
  baseline?: string;
  metric: string;
  settings: SweepSetting[];
  /** "running" while `adaptseg sweep` runs, then "done" or "incomplete" (adaptseg-sweep/1). */
  state?: string;
  /** Runs by status (adaptseg-sweep/1): { completed: 6, running: 2 }. */
  runStatus?: Record<string, number>;
  /** Seeds per setting (adaptseg-sweep/1). */
  seeds?: number;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export function meanOf(xs: number[]): number | undefined {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}
/** Sample standard deviation (n - 1); 0 for a single value. */
export function sdOf(xs: number[]): number | undefined {
  const m = meanOf(xs);
  if (m === undefined) return undefined;
  return xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

function perSeedList(v: unknown): { seed: number | string; gain: number }[] | undefined {
  if (Array.isArray(v)) {
    return v
      .map((x, i) =>
        typeof x === "number"
          ? { seed: i, gain: x }
          : { seed: (x as { seed?: number | string })?.seed ?? i, gain: num((x as { gain?: number; value?: number })?.gain ?? (x as { value?: number })?.value) ?? NaN },
      )
      .filter((x) => Number.isFinite(x.gain));
  }
  if (v && typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .filter(([, g]) => num(g) !== undefined)
      .map(([seed, g]) => ({ seed, gain: g as number }));
  return undefined;
}

/** Validates and completes a parsed sweep.json; throws with the reason when it is not one. */
export function normalizeSweep(raw: unknown): Sweep {
  if (!raw || typeof raw !== "object" || !Array.isArray((raw as { settings?: unknown }).settings)) throw new Error('not a sweep file: no "settings" array');
  const r = raw as { settings: unknown[]; baseline?: unknown; name?: unknown; metric?: unknown; runs?: unknown; seeds?: unknown; state?: unknown };
  const settings: SweepSetting[] = r.settings.map((s0, i) => {
    const s = (s0 ?? {}) as Record<string, unknown>;
    const runs: SweepRun[] = (Array.isArray(s.runs) ? s.runs : [])
      .map((x) => x as Record<string, unknown>)
      .filter((x) => num(x.miou) !== undefined)
      .map((x) => ({ seed: (x.seed as number | string) ?? "?", miou: x.miou as number, perClass: (x.perClass ?? undefined) as SweepRun["perClass"] }));
    const mious = runs.map((x) => x.miou);
    // adaptseg-sweep/1: miou { n, mean, sd } and diff { perSeed, stats }; sd is null below 2 seeds.
    const st = (s.miou ?? {}) as { mean?: unknown; sd?: unknown };
    const diff = s.diff as { perSeed?: unknown; stats?: { mean?: unknown; sd?: unknown } } | undefined;
    const pg =
      (s.pairedGain as Record<string, unknown> | undefined) ?? (diff && num(diff.stats?.mean) !== undefined ? { mean: diff.stats!.mean, sd: diff.stats!.sd, perSeed: diff.perSeed } : undefined);
    const classes = [...new Set(runs.flatMap((x) => Object.keys(x.perClass ?? {})))];
    const given = s.perClass && typeof s.perClass === "object" && !Array.isArray(s.perClass) ? (s.perClass as Record<string, number | null>) : undefined;
    const perClassMean =
      given ??
      (classes.length
        ? Object.fromEntries(
            classes.map((c) => {
              const v = runs.map((x) => x.perClass?.[c]).filter((y): y is number => num(y) !== undefined);
              return [c, v.length ? meanOf(v)! : null];
            }),
          )
        : undefined);
    return {
      id: String(s.id ?? s.name ?? `setting ${i + 1}`),
      values: s.values && typeof s.values === "object" ? (s.values as Record<string, unknown>) : {},
      runs,
      mean: num(s.mean) ?? num(st.mean) ?? meanOf(mious),
      sd: num(s.sd) ?? num(st.sd) ?? sdOf(mious),
      pairedGain: pg && num(pg.mean) !== undefined ? { mean: pg.mean as number, sd: num(pg.sd) ?? NaN, perSeed: perSeedList(pg.perSeed) ?? [] } : undefined,
      perClassMean,
    };
  });
  const b = r.baseline;
  const baseline = typeof b === "string" ? b : b && typeof b === "object" && "id" in b ? String((b as { id: unknown }).id) : undefined;
  const base = settings.find((s) => s.id === baseline);
  if (base) {
    const bySeed = new Map(base.runs.map((x) => [String(x.seed), x.miou]));
    for (const s of settings) {
      if (s === base || s.pairedGain) continue;
      const perSeed = s.runs.filter((x) => bySeed.has(String(x.seed))).map((x) => ({ seed: x.seed, gain: x.miou - bySeed.get(String(x.seed))! }));
      if (perSeed.length) s.pairedGain = { mean: meanOf(perSeed.map((p) => p.gain))!, sd: sdOf(perSeed.map((p) => p.gain))!, perSeed };
    }
  }
  const runStatus: Record<string, number> = {};
  for (const x of (Array.isArray(r.runs) ? r.runs : []) as { status?: unknown; stage?: unknown }[])
    if (x?.stage !== "warmup" && typeof x?.status === "string") runStatus[x.status] = (runStatus[x.status] ?? 0) + 1;
  const metric = typeof r.metric === "string" ? (r.metric === "miou" ? "mIoU" : r.metric) : "mIoU";
  const seeds = Array.isArray(r.seeds) ? r.seeds.length : undefined;
  const state = typeof r.state === "string" ? r.state : undefined;
  return { name: typeof r.name === "string" ? r.name : undefined, baseline, metric, settings, state, runStatus: Object.keys(runStatus).length ? runStatus : undefined, seeds };
}

/** "lambdaAdv=0.001, gan=lsgan". */
export function settingValues(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}
