// `adaptseg retrieve`: cross-domain nearest neighbours of the network's features.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Domain, Thumb } from "@adaptseg/engine";
import { defineCommand } from "../command.js";
import { loadConfig, stdout } from "./common.js";

const SHEET_QUERIES = 6;

export default defineCommand({
  name: "retrieve",
  description: "cross-domain nearest neighbours: how mixed source and target features are, `retrieval.json`, a contact sheet",
  options: {
    config: { type: "string", value: "file", required: true, description: "the experiment config: its source and target datasets" },
    checkpoint: { type: "string", value: "file", required: true, description: "the checkpoint whose features are compared" },
    k: { type: "integer", minimum: 1, default: 5, description: "neighbours per image" },
    out: { type: "string", value: "dir", default: "retrieve", description: "where retrieval.json and contact-sheet.png go" },
    limit: { type: "integer", minimum: 1, description: "at most n images per domain" },
    data: { type: "string", value: "dir", description: "data root for relative dataset roots (else ADAPTSEG_DATA)" },
    backend: { type: "string", value: "name", description: "compute backend" },
  },
  async run(v) {
    const { config, baseDir } = loadConfig(v.config);
    const k = v.k;
    const { Predictor, contactSheet, domainMixing, embedDataset } = await import("@adaptseg/engine");
    const p = await Predictor.open(v.checkpoint, { backend: v.backend, baseDir, runtime: "tfjs" }); // TF.js: features
    try {
      const embeddings: Float32Array[] = [];
      const domains: Domain[] = [];
      const thumbs: Thumb[] = [];
      const ids: string[] = [];
      for (const domain of ["source", "target"] as const) {
        const dsCfg = config[domain];
        const ds = await p.pipeline.open(dsCfg, { dataRoot: v.data, baseDir });
        const e = await embedDataset(p, ds, dsCfg.size, { limit: v.limit });
        if (e.embeddings.length === 0) throw new Error(`config.${domain}: the dataset has no images`);
        embeddings.push(...e.embeddings);
        thumbs.push(...e.thumbs.map((t) => ({ ...t, domain })));
        ids.push(...e.ids);
        domains.push(...e.ids.map(() => domain));
      }
      if (k > embeddings.length - 1) throw new Error(`--k ${k} needs at least ${k + 1} images, got ${embeddings.length}`);
      const m = domainMixing(embeddings, domains, k);
      const count = (d: Domain) => domains.filter((x) => x === d).length;
      stdout.write(`embedded ${count("source")} source and ${count("target")} target images, k=${k}\n`);
      stdout.write(`other-domain neighbours: source->target ${m.source.toFixed(3)}  target->source ${m.target.toFixed(3)}  overall ${m.overall.toFixed(3)}\n`);
      stdout.write("(near 0: domains separated; near 0.5: mixed)\n");
      const out = resolve(v.out);
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
      stdout.write(`wrote ${join(out, "retrieval.json")} and ${join(out, "contact-sheet.png")} (orange = source, blue = target)\n`);
    } finally {
      p.dispose();
    }
  },
});
