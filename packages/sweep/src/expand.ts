// A sweep file -> the list of runs: settings (named settings x axes) x seeds, plus per-seed
// warm-ups. Every expanded config is validated before anything runs; problems name the sweep
// file's path that caused them (`axes["adaptation.lamdaAdv"]: unknown config path`).
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { ExperimentConfigSchema, loadConfigFile, mergeConfig, validateConfig, type ExperimentConfig } from "@adaptseg/core";
import type { ConfigOverrides, SweepFile } from "./types.js";

export class SweepError extends Error {
  constructor(
    readonly problems: string[],
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ""}invalid sweep:\n  ${problems.join("\n  ")}`);
    this.name = "SweepError";
  }
}

export interface SweepRun {
  id: string;
  setting: string;
  seed: number;
  stage: "warmup" | "main";
  config: ExperimentConfig;
  /** Absolute run folder. */
  outDir: string;
  /** Run ids that must complete first (the seed's warm-up). */
  dependsOn: string[];
}

export interface SweepSetting {
  id: string;
  values: ConfigOverrides;
}

export interface ExpandedSweep {
  name: string;
  file?: string;
  outDir: string;
  axes: { path: string; label: string; values: unknown[] }[];
  settings: SweepSetting[];
  seeds: number[];
  baseline?: string;
  /** Warm-ups first, then the main runs seed by seed. */
  runs: SweepRun[];
}

const TRAINING_STOP = { maxIters: 250000, stopIter: 150000 }; // the trainer's defaults (SPEC section 2)
const FIELDS = new Set(["$schema", "name", "description", "base", "extends", "overrides", "settings", "axes", "seeds", "baseline", "warmup", "out"]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** Reads a sweep file; relative paths in it resolve against its folder. */
export function loadSweepFile(file: string): SweepFile {
  if (!existsSync(file)) throw new Error(`sweep file not found: ${file}`);
  try {
    return JSON.parse(readFileSync(file, "utf8")) as SweepFile;
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The sweep's base config (`base`: a file, following its `extends`, or inline, itself perhaps with
 * `extends`; or the sweep's own `extends`), and the folder its relative paths resolve against.
 */
export function loadBase(sweep: SweepFile, file?: string): { config?: Record<string, unknown>; dir: string; problem?: string } {
  const fileDir = file ? dirname(resolve(file)) : process.cwd();
  if (sweep.base !== undefined && sweep.extends !== undefined) return { dir: fileDir, problem: `give the base config as "base" or as "extends", not both` };
  const ref = sweep.base ?? sweep.extends;
  const where = sweep.base !== undefined ? "base" : "extends";
  try {
    if (typeof ref === "string" && ref) {
      const l = loadConfigFile(resolve(fileDir, ref));
      return { config: l.config, dir: l.baseDir };
    }
    if (isObj(ref)) {
      const { extends: ext, ...rest } = ref;
      if (ext === undefined) return { config: clone(rest), dir: fileDir };
      if (typeof ext !== "string") return { dir: fileDir, problem: `base.extends must be a file path, got ${JSON.stringify(ext)}` };
      return { config: mergeConfig(loadConfigFile(resolve(fileDir, ext)).config, rest), dir: fileDir };
    }
  } catch (e) {
    return { dir: fileDir, problem: `${where}: ${(e as Error).message}` };
  }
  return { dir: fileDir, problem: `base is required: a config file path or an inline config` };
}

// ---------------------------------------------------------------- config paths

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: unknown;
  items?: Schema | Schema[];
  anyOf?: Schema[];
};

/** Whether `path` (dotted, numeric segments index arrays) names something an experiment config can hold. */
export function configPathExists(path: string, schema: Schema = ExperimentConfigSchema as unknown as Schema): boolean {
  const segs = path.split(".");
  if (segs.some((s) => s === "")) return false;
  const walk = (s: Schema, i: number): boolean => {
    if (i === segs.length) return true;
    if (s.anyOf) return s.anyOf.some((a) => walk(a, i));
    const seg = segs[i]!;
    if (s.type === "object" || s.properties || s.patternProperties) {
      const p = s.properties?.[seg];
      if (p) return walk(p, i + 1);
      if (s.patternProperties) return walk(Object.values(s.patternProperties)[0]!, i + 1);
      if (s.additionalProperties === true) return true;
      return isObj(s.additionalProperties) ? walk(s.additionalProperties as Schema, i + 1) : false;
    }
    if (s.type === "array" && /^\d+$/.test(seg)) {
      const it = Array.isArray(s.items) ? s.items[Number(seg)] : s.items;
      return it ? walk(it, i + 1) : false;
    }
    // Unknown (T.Unknown: `{}`) holds anything below it.
    return !s.type && !s.properties && !s.items;
  };
  return walk(schema, 0);
}

/** The known fields at the deepest valid prefix of `path`, for "did you mean" hints. */
function knownFieldsNear(path: string, schema: Schema): string[] {
  let s = schema;
  const props = (x: Schema) => Object.assign({}, ...(x.anyOf ?? [x]).map((a) => a.properties ?? {})) as Record<string, Schema>;
  for (const seg of path.split(".").slice(0, -1)) {
    const p = props(s)[seg];
    if (!p) break;
    s = p;
  }
  return Object.keys(props(s));
}

/** Sets `path` in `obj` (creating objects on the way), replacing what was there. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.split(".");
  let o: Record<string, unknown> = obj;
  for (const seg of segs.slice(0, -1)) {
    if (!isObj(o[seg]) && !Array.isArray(o[seg])) o[seg] = {};
    o = o[seg] as Record<string, unknown>;
  }
  o[segs.at(-1)!] = clone(value);
}

// ---------------------------------------------------------------- labels

/** A short, folder-safe text for an axis value: [0.001] -> 0.001, "output-space" -> output-space. */
export function valueLabel(v: unknown): string {
  if (Array.isArray(v)) return v.map(valueLabel).join("+") || "none";
  if (isObj(v)) return typeof v.type === "string" ? valueLabel(v.type) : valueLabel(JSON.stringify(v));
  return (
    String(v)
      .replace(/[^A-Za-z0-9._+-]+/g, "_")
      .slice(0, 60) || "_"
  );
}

/** Axis labels: the last path segment, or the whole path where two axes share it. */
function axisLabels(paths: string[]): string[] {
  const last = paths.map((p) => p.split(".").at(-1)!);
  return paths.map((p, i) => (last.filter((l) => l === last[i]).length > 1 ? p : last[i]!));
}

// ---------------------------------------------------------------- expansion

export interface ExpandOptions {
  /** The sweep file (relative paths in the sweep resolve against its folder). */
  file?: string;
  /** Output folder (wins over the file's `out`). */
  out?: string;
  /**
   * Plugin-aware checks (`pluginChecks()`): the config JSON Schema with every plugin's options
   * (paths such as `adaptation.lambdaAdv` exist only there), and the full validation of a config.
   */
  plugins?: PluginChecks;
}

export interface PluginChecks {
  schema: Record<string, unknown>;
  /** Throws a ConfigError (problems by field path) for a config its plugins reject. */
  validate(config: unknown): void;
}

/** Expands and validates a sweep; throws SweepError listing every problem by its path in the sweep file. */
export function expandSweep(sweep: SweepFile, opts: ExpandOptions = {}): ExpandedSweep {
  const problems: string[] = [];
  const schema = (opts.plugins?.schema ?? ExperimentConfigSchema) as unknown as Schema;
  if (!isObj(sweep)) throw new SweepError(["the sweep must be a JSON object"], opts.file);
  for (const k of Object.keys(sweep)) if (!FIELDS.has(k)) problems.push(`${k}: not a sweep field (known: ${[...FIELDS].filter((f) => f !== "$schema").join(", ")})`);

  // The base config and the folder its relative paths resolve against.
  const loaded = loadBase(sweep, opts.file);
  if (loaded.problem) problems.push(loaded.problem);
  const base = loaded.config;
  const baseDir = loaded.dir;

  const name: string = typeof sweep.name === "string" ? sweep.name : opts.file ? basename(opts.file).replace(/(\.sweep)?\.json$/, "") : "sweep";
  if (!/^[A-Za-z0-9._-]+$/.test(name)) problems.push(`name: "${name}" must be letters, digits, ".", "_" or "-" (it names folders and queue jobs)`);
  const outDir = resolve(opts.out ?? (typeof sweep.out === "string" ? sweep.out : join("runs", "sweeps", name)));

  // Override groups, each checked path by path.
  const checkOverrides = (where: string, o: unknown): o is ConfigOverrides => {
    if (o === undefined) return false;
    if (!isObj(o)) {
      problems.push(`${where} must be an object of config path -> value`);
      return false;
    }
    for (const p of Object.keys(o)) if (!configPathExists(p, schema)) problems.push(`${where}["${p}"]: unknown config path${hint(p)}`);
    return true;
  };
  const hint = (p: string) => {
    const near = knownFieldsNear(p, schema);
    return near.length ? ` (known here: ${near.join(", ")})` : "";
  };
  const overrides = checkOverrides("overrides", sweep.overrides) ? sweep.overrides! : {};
  const warmup = sweep.warmup === undefined ? undefined : checkOverrides("warmup", sweep.warmup) ? sweep.warmup : {};

  // Named settings.
  const named: { name: string; values: ConfigOverrides; seedOffset: number }[] = [];
  if (sweep.settings !== undefined) {
    if (!isObj(sweep.settings)) problems.push(`settings must be an object: setting name -> overrides`);
    else {
      if (!Object.keys(sweep.settings).length) problems.push(`settings: empty (no settings)`);
      for (const [n, o] of Object.entries(sweep.settings)) {
        if (!/^[A-Za-z0-9._+-]+$/.test(n)) problems.push(`settings["${n}"]: a setting name must be letters, digits, ".", "_", "+" or "-"`);
        if (n === "warmup") problems.push(`settings["warmup"]: "warmup" is reserved for the warm-up runs`);
        // `seedOffset` (not a config path): this setting's runs use seed + offset, still paired by seed.
        const { seedOffset = 0, ...rest } = isObj(o) ? o : {};
        if (!Number.isInteger(seedOffset)) problems.push(`settings["${n}"]["seedOffset"]: must be an integer, got ${JSON.stringify(seedOffset)}`);
        if (checkOverrides(`settings["${n}"]`, isObj(o) ? rest : o)) named.push({ name: n, values: rest as ConfigOverrides, seedOffset: seedOffset as number });
      }
    }
  }

  // Axes.
  const axes: { path: string; values: unknown[] }[] = [];
  if (sweep.axes !== undefined) {
    if (!isObj(sweep.axes)) problems.push(`axes must be an object: config path -> array of values`);
    else
      for (const [p, vals] of Object.entries(sweep.axes)) {
        if (!configPathExists(p, schema)) problems.push(`axes["${p}"]: unknown config path${hint(p)}`);
        else if (!Array.isArray(vals)) problems.push(`axes["${p}"]: must be an array of values, got ${JSON.stringify(vals)}`);
        else if (!vals.length) problems.push(`axes["${p}"]: empty axis (no values)`);
        else axes.push({ path: p, values: vals });
      }
  }
  const labels = axisLabels(axes.map((a) => a.path));

  // Seeds.
  let seeds: number[] = [];
  if (sweep.seeds === undefined) seeds = [typeof base?.seed === "number" ? base.seed : 1234];
  else if (!Array.isArray(sweep.seeds) || !sweep.seeds.length || !sweep.seeds.every((s) => Number.isInteger(s)))
    problems.push(`seeds must be a non-empty array of integers, got ${JSON.stringify(sweep.seeds)}`);
  else if (new Set(sweep.seeds).size !== sweep.seeds.length) problems.push(`seeds: ${JSON.stringify(sweep.seeds)} repeats a seed`);
  else seeds = sweep.seeds;

  if (problems.length || !base) throw new SweepError(problems, opts.file);

  // Settings: named settings x the Cartesian product of the axes.
  type Source = { where: string; path: string; value: unknown };
  const combos: { id: string; values: ConfigOverrides; sources: Source[]; seedOffset: number }[] = [];
  const product = (i: number, acc: { parts: string[]; values: ConfigOverrides; sources: Source[]; seedOffset: number }) => {
    if (i === axes.length) return void combos.push({ id: acc.parts.join(",") || "base", values: acc.values, sources: acc.sources, seedOffset: acc.seedOffset });
    axes[i]!.values.forEach((v, j) =>
      product(i + 1, {
        parts: [...acc.parts, `${labels[i]}=${valueLabel(v)}`],
        values: { ...acc.values, [axes[i]!.path]: v },
        sources: [...acc.sources, { where: `axes["${axes[i]!.path}"][${j}] (${JSON.stringify(v)})`, path: axes[i]!.path, value: v }],
        seedOffset: acc.seedOffset,
      }),
    );
  };
  for (const s of named.length ? named : [undefined]) {
    const values = { ...(s?.values ?? {}) };
    const sources = Object.entries(s?.values ?? {}).map(([path, value]) => ({ where: `settings["${s!.name}"]["${path}"]`, path, value }));
    product(0, { parts: s ? [s.name] : [], values, sources, seedOffset: s?.seedOffset ?? 0 });
  }
  const ids = new Set<string>();
  for (const c of combos) {
    if (ids.has(c.id)) problems.push(`two settings get the same id "${c.id}": give the axis values distinct labels`);
    ids.add(c.id);
  }

  // Baseline: a setting id, or (one axis, no named settings) an axis value or its label.
  let baseline: string | undefined;
  if (sweep.baseline !== undefined) {
    const want = sweep.baseline;
    const hit =
      combos.find((c) => c.id === want) ??
      (axes.length === 1 && !named.length ? combos.find((_c, i) => JSON.stringify(axes[0]!.values[i]) === JSON.stringify(want) || valueLabel(axes[0]!.values[i]) === String(want)) : undefined) ??
      (typeof want === "string" ? combos.find((c) => c.id.split(",").includes(want)) : undefined);
    if (!hit) problems.push(`baseline: ${JSON.stringify(want)} is not a setting of this sweep (settings: ${combos.map((c) => c.id).join(", ")})`);
    else baseline = hit.id;
  }

  // Paths in the base that resolve against the base config's folder become absolute: the
  // expanded config is written into the run folder.
  const absolutize = (cfg: Record<string, unknown>) => {
    const model = cfg.model as Record<string, unknown> | undefined;
    if (model && typeof model.init === "string" && !isAbsolute(model.init)) model.init = resolve(baseDir, model.init);
    if (Array.isArray(cfg.plugins)) cfg.plugins = cfg.plugins.map((p) => (typeof p === "string" && !isAbsolute(p) ? resolve(baseDir, p) : p));
  };

  const runs: SweepRun[] = [];
  const validate = (cfg: Record<string, unknown>, sources: Source[], runId: string) => {
    try {
      validateConfig(cfg);
      opts.plugins?.validate(cfg);
      return cfg as ExperimentConfig;
    } catch (e) {
      const list: string[] = (e as { problems?: string[] }).problems ?? [(e as Error).message];
      for (const p of list) {
        const field = p.split(/[ :]/)[0]!;
        const src = [...sources].reverse().find((s) => field === s.path || field.startsWith(`${s.path}.`) || field.startsWith(`${s.path}[`));
        const msg = src ? `${src.where}: ${p}` : `${runId}: ${p}`;
        if (!problems.includes(msg)) problems.push(msg);
      }
      return undefined;
    }
  };
  const build = (sources: Source[], seed: number) => {
    const cfg = clone(base!);
    for (const s of sources) setPath(cfg, s.path, s.value);
    cfg.seed = seed;
    absolutize(cfg);
    return cfg;
  };
  const baseSources: Source[] = Object.entries(overrides).map(([path, value]) => ({ where: `overrides["${path}"]`, path, value }));

  const warmupRuns = new Map<number, SweepRun>();
  if (warmup)
    for (const seed of seeds) {
      const id = `warmup/seed-${seed}`;
      const cfg = build([...baseSources, ...Object.entries(warmup).map(([path, value]) => ({ where: `warmup["${path}"]`, path, value }))], seed);
      cfg.name = `${name}/${id}`;
      const config = validate(cfg, [], id);
      const run: SweepRun = { id, setting: "warmup", seed, stage: "warmup", config: config ?? (cfg as ExperimentConfig), outDir: join(outDir, "warmup", `seed-${seed}`), dependsOn: [] };
      warmupRuns.set(seed, run);
      runs.push(run);
    }
  for (const seed of seeds)
    for (const c of combos) {
      const id = `${c.id}/seed-${seed}`;
      const cfg = build([...baseSources, ...c.sources], seed + c.seedOffset);
      cfg.name = `${name}/${id}`;
      const w = warmupRuns.get(seed);
      if (w) setPath(cfg, "model.init", finalCheckpoint(w.config, w.outDir));
      const config = validate(cfg, c.sources, id);
      runs.push({ id, setting: c.id, seed, stage: "main", config: config ?? (cfg as ExperimentConfig), outDir: join(outDir, c.id, `seed-${seed}`), dependsOn: w ? [w.id] : [] });
    }
  if (problems.length) throw new SweepError(problems, opts.file);
  return {
    name,
    file: opts.file && resolve(opts.file),
    outDir,
    axes: axes.map((a, i) => ({ path: a.path, label: labels[i]!, values: a.values })),
    settings: combos.map((c) => ({ id: c.id, values: c.values })),
    seeds,
    baseline,
    runs,
  };
}

/** The checkpoint a run ends with: `<outDir>/ckpt-<stopIter>.safetensors`. */
export function finalCheckpoint(config: ExperimentConfig, outDir: string): string {
  const t = config.training ?? {};
  const stop = Math.min(t.stopIter ?? TRAINING_STOP.stopIter, t.maxIters ?? TRAINING_STOP.maxIters);
  return join(outDir, `ckpt-${String(stop).padStart(8, "0")}.safetensors`);
}
