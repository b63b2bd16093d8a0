// The sweep file (input) and sweep.json (output) shapes. No run-time dependencies: editors
// (the VS Code extension's sweep view) import this module as `@adaptseg/sweep/types`.

/** Config overrides by config path: `"adaptation.lambdaAdv": [0.001]`, `"adaptation": { "type": "minent" }`. A value replaces what is at its path. */
export type ConfigOverrides = Record<string, unknown>;

/** A sweep file (`*.sweep.json`); docs/sweeps.md describes every field. */
export interface SweepFile {
  $schema?: string;
  /** Names the sweep: its default output folder is runs/sweeps/<name>. Default: the file's name without `.sweep.json`. */
  name?: string;
  description?: string;
  /** The base experiment config: a path (relative to the sweep file; its `extends` are followed) or the config inline (which may `extends` a file). */
  base?: string | Record<string, unknown>;
  /** Instead of `base`: the base config file, as in an experiment config's `extends`. */
  extends?: string;
  /** Overrides applied to the base before anything else (e.g. a shorter schedule). */
  overrides?: ConfigOverrides;
  /** Named settings, each a set of overrides (and optionally `seedOffset`: its runs use seed + offset, e.g. a noise floor); crossed with `axes`. */
  settings?: Record<string, ConfigOverrides & { seedOffset?: number }>;
  /** Config path -> the values it takes; every combination (and every setting) is one setting of the sweep. */
  axes?: Record<string, unknown[]>;
  /** One run per setting per seed (config `seed`). Default: the base config's seed. */
  seeds?: number[];
  /** The setting id (or, with one axis, the axis value) that paired differences are taken against. */
  baseline?: unknown;
  /** A per-seed warm-up run (`warmup/seed-N`): these overrides on the base; every other run of that seed starts from its final checkpoint (`model.init`). */
  warmup?: ConfigOverrides;
  /** Output folder, relative to the current directory (`--out` wins). Default: runs/sweeps/<name>. */
  out?: string;
}

export type SweepRunStatus = "pending" | "running" | "completed" | "failed" | "stopped" | "blocked";

/** The final evaluation of a run (its last `eval` event). */
export interface RunMetrics {
  /** Percent over the evaluated classes. */
  miou: number;
  pixelAccuracy: number;
  /** Percent per class name; null where the class never occurs. */
  perClass: Record<string, number | null>;
  /** Iteration the evaluation was made at. */
  iteration: number;
}

export interface SweepRunJson {
  /** Stable id, also the run's folder under the sweep's out dir: `lambdaAdv=0.001/seed-2`, `warmup/seed-1`. */
  id: string;
  /** Setting id (`lambdaAdv=0.001`; `warmup` for warm-ups). */
  setting: string;
  seed: number;
  stage: "warmup" | "main";
  /** Absolute run folder (events.jsonl, checkpoints, config.json, result.json). */
  outDir: string;
  status: SweepRunStatus;
  /** True when the run had completed before this invocation and was not run again. */
  reused?: boolean;
  /** This invocation resumed it from a checkpoint. */
  resumed?: boolean;
  metrics?: RunMetrics;
  error?: string;
  /** Who ran it: `local` or a queue worker's `host:pid`. */
  worker?: string;
  durationSec?: number;
}

/** Statistics of a list of numbers; sd is the sample sd (n - 1), null when n < 2. */
export interface Stats {
  n: number;
  mean: number | null;
  sd: number | null;
}

export interface SweepSettingJson {
  id: string;
  /** Config path -> value of this setting (axes and the named setting's overrides). */
  values: ConfigOverrides;
  /** Final mIoU by seed (null: the run has not completed). */
  perSeed: Record<string, number | null>;
  /** This setting's completed runs (the same numbers as `perSeed`, with per-class IoU). */
  runs: { id: string; seed: number; miou: number; perClass: Record<string, number | null> }[];
  miou: Stats;
  /** Mean per-class IoU over the completed seeds. */
  perClass?: Record<string, number | null>;
  /** Paired difference (this - baseline) by seed, over seeds where both completed. Absent for the baseline itself. */
  diff?: { perSeed: Record<string, number | null>; stats: Stats };
}

/** `<out>/sweep.json`: rewritten as runs finish, so a viewer can follow it. */
export interface SweepJson {
  format: "adaptseg-sweep/1";
  name: string;
  /** The sweep file, absolute. */
  file?: string;
  outDir: string;
  updatedAt: string;
  /** `running` while the sweep command runs, then `done` (every run completed) or `incomplete`. */
  state: "running" | "done" | "incomplete";
  /** Where runs execute: `local` (N worker processes) or `queue` (a BullMQ queue). */
  executor: { kind: "local"; workers: number } | { kind: "queue"; url: string; queue: string };
  axes: { path: string; label: string; values: unknown[] }[];
  seeds: number[];
  baseline?: string;
  metric: "miou";
  settings: SweepSettingJson[];
  runs: SweepRunJson[];
  /** Files written beside sweep.json (results.md, results.csv, miou.png), relative to outDir. */
  files: { markdown?: string; csv?: string; chart?: string };
}

export const SWEEP_FORMAT = "adaptseg-sweep/1" as const;
