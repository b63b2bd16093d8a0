import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Predictor } from "../predict.js";
import { contactSheet, domainMixing, embedDataset, type Domain, type Thumb } from "../eval/retrieve.js";
import { loadConfig, intOption } from "./common.js";

const SHEET_QUERIES = 6;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      checkpoint: { type: "string" },
      k: { type: "string" },
      out: { type: "string" },
      limit: { type: "string" },
      data: { type: "string" },
      backend: { type: "string" },
    },
  });
  const { config, baseDir } = loadConfig(v.config);
  if (!v.checkpoint) throw new Error("--checkpoint <file> is required");
  const k = intOption(v.k, "--k") ?? 5;
  if (k < 1) throw new Error(`--k must be at least 1, got ${k}`);
  const limit = intOption(v.limit, "--limit");
  const p = await Predictor.open(v.checkpoint, { backend: v.backend, baseDir });
  try {
    const embeddings: Float32Array[] = [];
    const domains: Domain[] = [];
    const thumbs: Thumb[] = [];
    const ids: string[] = [];
    for (const domain of ["source", "target"] as const) {
      const dsCfg = config[domain];
      const ds = await p.pipeline.open(dsCfg, { dataRoot: v.data, baseDir });
      const e = await embedDataset(p, ds, dsCfg.size, { limit });
      if (e.embeddings.length === 0) throw new Error(`config.${domain}: the dataset has no images`);
      embeddings.push(...e.embeddings);
      thumbs.push(...e.thumbs.map((t) => ({ ...t, domain })));
      ids.push(...e.ids);
      domains.push(...e.ids.map(() => domain));
    }
    if (k > embeddings.length - 1) throw new Error(`--k ${k} needs at least ${k + 1} images, got ${embeddings.length}`);
    const m = domainMixing(embeddings, domains, k);
    const count = (d: Domain) => domains.filter((x) => x === d).length;
    process.stdout.write(`embedded ${count("source")} source and ${count("target")} target images, k=${k}\n`);
    process.stdout.write(`other-domain neighbours: source->target ${m.source.toFixed(3)}  target->source ${m.target.toFixed(3)}  overall ${m.overall.toFixed(3)}\n`);
    process.stdout.write("(near 0: domains separated; near 0.5: mixed)\n");
    const out = resolve(v.out ?? "retrieve");
    mkdirSync(out, { recursive: true });
    const json = {
      checkpoint: resolve(v.checkpoint),
      iteration: p.meta.iteration,
      k,
      mixing: { source: m.source, target: m.target, overall: m.overall },
      items: ids.map((id, i) => ({ id, domain: domains[i], neighbours: m.neighbours[i]!.map((j) => ({ id: ids[j], domain: domains[j] })) })),
    };
    writeFileSync(join(out, "retrieval.json"), JSON.stringify(json, null, 2) + "\n");
    const queries = (["source", "target"] as const).flatMap((d) => domains.flatMap((x, i) => (x === d ? [i] : [])).slice(0, SHEET_QUERIES));
    const sheet = contactSheet(queries.map((i) => ({ query: thumbs[i]!, neighbours: m.neighbours[i]!.map((j) => thumbs[j]!) })));
    writeFileSync(join(out, "contact-sheet.png"), sheet.png);
    process.stdout.write(`wrote ${join(out, "retrieval.json")} and ${join(out, "contact-sheet.png")} (orange = source, blue = target)\n`);
  } finally {
    p.dispose();
  }
  return 0;
}
