// `adaptseg demo`: a real day -> dusk adaptation on CamVid, as a paired comparison. Source: the 305
// daylight train frames with labels; target: the first two thirds of the dusk sequence 0001TP,
// unlabelled; evaluation: its last third. Stage 1 trains a source-only model per seed (cached under
// the output folder); stage 2 continues every method from those same weights for the same number of
// iterations, beside two controls: source-only with another source order (the noise floor) and
// DACS's mixed, augmented source pass without the target term (the augmentation control).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { DataPipeline, createContainer, type ExperimentConfig } from "@adaptseg/core";
import { defineCommand } from "../command.js";
import { progressPrinter } from "./train.js";

// Loaded when the demo runs, not when the CLI declares its commands (`--help` stays light).
const engine = () => import("@adaptseg/engine");

export const DEMO = { width: 160, height: 120, warmup: 800, iters: 200, lr: 0.005 };

/** Stage-2 methods: the adaptation options of each (SPEC section 7 defaults unless noted). */
export const METHODS: Record<string, { adaptation: ExperimentConfig["adaptation"]; seedOffset?: number; about: string }> = {
  "source-only": { adaptation: { type: "source-only" }, about: "source-only, continued (the baseline)" },
  "noise-floor": { adaptation: { type: "source-only" }, seedOffset: 1000, about: "source-only, continued with another source order" },
  // lambda_adv 0.3: the best of 0.001-3 in examples/camvid-day2dusk-lambda.sweep.json (seeds 1-3), confirmed on seeds 4-6 (docs/strategies.md).
  "output-space": { adaptation: { type: "output-space", lambdaAdv: [0.3] }, about: "AdaptSegNet single-level, lambda_adv 0.3" },
  minent: { adaptation: { type: "minent", lambdaEnt: 0.01 }, about: "ADVENT MinEnt, lambda_ent 0.01" },
  "self-training": { adaptation: { type: "self-training" }, about: "CBST pseudo-labels from the warm-up model, top 20% per class" },
  dacs: { adaptation: { type: "dacs" }, about: "DACS: ClassMix, EMA teacher 0.99, jitter and blur" },
  "aug-control": { adaptation: { type: "aug-control" }, about: "DACS's mixed, augmented source pass, target term weighted 0" },
};
export const DEFAULT_METHODS = ["source-only", "noise-floor", "output-space", "minent", "self-training", "dacs", "aug-control"];

interface Opts {
  seed: number;
  warmup: number;
  iters: number;
  width: number;
  height: number;
  lr: number;
}

/** The demo experiment: `init` (a warm-up checkpoint) set for stage 2. */
export function demoConfig(method: string, o: Opts, init?: string): ExperimentConfig {
  const m = METHODS[method];
  if (!m) throw new Error(`--methods: unknown method "${method}"; known: ${Object.keys(METHODS).join(", ")}`);
  const size = { width: o.width, height: o.height };
  const iters = init ? o.iters : o.warmup;
  const camvid = (options: Record<string, unknown>) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, options });
  return {
    name: `camvid-day2dusk-${init ? method : "warmup"}`,
    seed: o.seed + (init ? (m.seedOffset ?? 0) : 0),
    model: { type: "vgg16-deeplab", widthMultiplier: 0.125, ...(init ? { init } : {}) },
    discriminator: { type: "fc", widthMultiplier: 0.125 },
    adaptation: init ? m.adaptation : { type: "source-only" },
    source: { ...camvid({ excludeSequences: ["0001TP"] }), augment: { mirror: true } },
    target: camvid({ sequences: ["0001TP"], fraction: [0, 2 / 3] }),
    evaluation: { dataset: camvid({ sequences: ["0001TP"], fraction: [2 / 3, 1] }) },
    training: {
      maxIters: iters,
      stopIter: iters,
      snapshotEvery: iters,
      keepSnapshots: 1,
      // From scratch (no ImageNet weights offline): a larger G step than the paper's fine-tuning 2.5e-4.
      optimizerG: { lr: o.lr, momentum: 0.9, weightDecay: 5e-4, power: 0.9 },
      optimizerD: { lr: 1e-4, betas: [0.9, 0.99], power: 0.9 },
    },
  };
}

interface Result {
  hash: string;
  miou: number;
  perClass: Record<string, number | null>;
  sec: number;
  checkpoint: string;
}
const hashOf = (c: ExperimentConfig) => createHash("sha256").update(JSON.stringify(c)).digest("hex").slice(0, 16);

/** Trains `config` into `dir` unless a result for the same config is there already. */
async function cachedRun(config: ExperimentConfig, dir: string, o: { dataRoot: string; backend?: string; quiet?: boolean }): Promise<Result & { cached: boolean }> {
  const file = join(dir, "demo-result.json");
  const hash = hashOf(config);
  if (existsSync(file)) {
    const r = JSON.parse(readFileSync(file, "utf8")) as Result;
    if (r.hash === hash && existsSync(r.checkpoint)) return { ...r, cached: true };
  }
  const t0 = Date.now();
  // A folder without a result for this config holds an older or interrupted run: start afresh.
  const r = await (await engine()).train(config, { outDir: dir, dataRoot: o.dataRoot, backend: o.backend, overwrite: true, onEvent: o.quiet ? undefined : progressPrinter(process.stdout, 100) });
  const e = r.evals.at(-1)!;
  const out: Result = { hash, miou: e.miou, perClass: e.perClassByName, sec: (Date.now() - t0) / 1000, checkpoint: r.checkpoint! };
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  return { ...out, cached: false };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const signed = (x: number, d = 2) => `${x >= 0 ? "+" : ""}${x.toFixed(d)}`;

/** The method table: per-class IoU and mIoU per method (means over seeds), mIoU mean ± sd and the paired gain over source-only. */
export function methodTable(results: Record<string, Record<number, Result>>, seeds: number[]): string {
  const methods = Object.keys(results);
  const classes = Object.keys(Object.values(results["source-only"] ?? results[methods[0]!]!)[0]!.perClass);
  const w = Math.max(12, ...methods.map((m) => m.length));
  const f = (xs: (number | null)[]) => (xs.some((x) => x === null) ? "-" : mean(xs as number[]).toFixed(1));
  const lines = [
    `${"class".padEnd(12)} ${methods.map((m) => m.padStart(w)).join(" ")}`,
    ...classes.map((c) => `${c.padEnd(12)} ${methods.map((m) => f(seeds.map((s) => results[m]![s]!.perClass[c]!)).padStart(w)).join(" ")}`),
    `${"mIoU".padEnd(12)} ${methods
      .map((m) => {
        const xs = seeds.map((s) => results[m]![s]!.miou);
        return (seeds.length > 1 ? `${mean(xs).toFixed(2)}±${sd(xs).toFixed(2)}` : mean(xs).toFixed(2)).padStart(w);
      })
      .join(" ")}`,
  ];
  const base = results["source-only"];
  if (base) {
    lines.push("", `paired gain over source-only (mIoU points)${seeds.length > 1 ? `, seeds ${seeds.join(", ")}` : ""}:`);
    for (const m of methods.filter((k) => k !== "source-only")) {
      const g = seeds.map((s) => results[m]![s]!.miou - base[s]!.miou);
      lines.push(`  ${m.padEnd(w)} ${seeds.length > 1 ? `${signed(mean(g))} ± ${sd(g).toFixed(2)}  (${g.map((x) => signed(x)).join(" / ")})` : signed(g[0]!)}   ${METHODS[m]?.about ?? ""}`);
    }
  }
  return lines.join("\n");
}

export default defineCommand({
  name: "demo",
  description: "the CamVid day -> dusk comparison: a source-only warm-up, then every method from it, paired per seed",
  options: {
    seeds: { type: "integer", multiple: true, description: "seeds; each gets its own warm-up (default 1)" },
    seed: { type: "integer", multiple: true, description: "same as --seeds" },
    methods: { type: "string", multiple: true, value: "method", description: `stage-2 methods (${DEFAULT_METHODS.join(", ")}); source-only is always included` },
    warmup: { type: "integer", minimum: 1, default: DEMO.warmup, description: "source-only warm-up iterations" },
    iters: { type: "integer", minimum: 1, default: DEMO.iters, description: "iterations per method after the warm-up" },
    lr: { type: "number", exclusiveMinimum: 0, default: DEMO.lr, description: "G's learning rate" },
    data: { type: "string", value: "dir", description: "data root holding camvid/ (else ADAPTSEG_DATA, shared/data, or a download)" },
    out: { type: "string", value: "dir", default: "runs/demo", description: "output folder (runs are cached there)" },
    backend: { type: "string", value: "name", description: "compute backend" },
    quiet: { type: "boolean", description: "no progress lines" },
  },
  run,
});

async function run(v: {
  seeds: number[];
  seed: number[];
  methods: string[];
  warmup: number;
  iters: number;
  lr: number;
  data?: string;
  out: string;
  backend?: string;
  quiet: boolean;
}): Promise<number> {
  const { builtinModules } = await engine();
  const container = await createContainer({}, { modules: builtinModules() });
  const dataRoot = await container.get<DataPipeline>(DataPipeline).dataRoot(v.data, "camvid");
  const out = resolve(v.out);
  const seeds = v.seeds.length ? v.seeds : v.seed.length ? v.seed : [1];
  const methods = v.methods.length ? v.methods : DEFAULT_METHODS;
  if (!methods.includes("source-only")) methods.unshift("source-only");
  const base: Omit<Opts, "seed"> = { width: DEMO.width, height: DEMO.height, warmup: v.warmup, iters: v.iters, lr: v.lr };
  for (const m of methods) demoConfig(m, { ...base, seed: 1 }, "x"); // unknown methods fail before any training
  const results: Record<string, Record<number, Result>> = Object.fromEntries(methods.map((m) => [m, {}]));
  const t0 = Date.now();
  for (const seed of seeds) {
    const o = { ...base, seed };
    process.stdout.write(`\n== seed ${seed}: stage 1, source-only warm-up (${o.warmup} iterations) ==\n`);
    const warm = await cachedRun(demoConfig("source-only", o), join(out, `seed-${seed}`, "warmup"), { dataRoot, backend: v.backend, quiet: v.quiet });
    process.stdout.write(`warm-up: dusk mIoU ${warm.miou.toFixed(2)}${warm.cached ? " (cached)" : ""}\n`);
    for (const m of methods) {
      process.stdout.write(`\n== seed ${seed}: stage 2, ${m} (${o.iters} iterations from the warm-up) ==\n`);
      const r = await cachedRun(demoConfig(m, o, warm.checkpoint), join(out, `seed-${seed}`, m), { dataRoot, backend: v.backend, quiet: v.quiet });
      results[m]![seed] = r;
      process.stdout.write(`${m}: dusk mIoU ${r.miou.toFixed(2)}${r.cached ? " (cached)" : ` in ${r.sec.toFixed(0)} s`}\n`);
    }
  }
  const table = methodTable(results, seeds);
  process.stdout.write(
    `\nCamVid day -> dusk, ${base.width}x${base.height}, warm-up ${base.warmup} + ${base.iters} iterations per method; IoU % on 0001TP's held-out last third\n${table}\n` +
      `total ${((Date.now() - t0) / 1000).toFixed(0)} s; runs in ${out}\n`,
  );
  writeFileSync(join(out, "demo.json"), JSON.stringify({ seeds, methods, settings: base, results }, null, 2) + "\n");
  writeFileSync(join(out, "demo.md"), "```\n" + table + "\n```\n");
  return 0;
}
