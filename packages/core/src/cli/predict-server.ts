// `adaptseg predict-server [--checkpoint c]`: a long-lived prediction process for editors.
// Reads JSON lines on stdin: {id, image, checkpoint?, maxWidth?, alpha?}; answers one JSON line each:
// {id, width, height, overlayPng, colorPng (base64), legend: [{id,name,color,share}]} or {id, error}.
// Models and results are cached, so repeated requests are instant.
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { Predictor } from "../predict.js";
import { colorize, encodePng, overlay, resizeNearest } from "../eval/index.js";

export interface PredictRequest {
  id: string | number;
  image: string;
  checkpoint?: string;
  maxWidth?: number;
  alpha?: number;
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: { checkpoint: { type: "string" }, backend: { type: "string" } } });
  const predictors = new Map<string, { mtime: number; p: Promise<Predictor> }>();
  const results = new Map<string, Record<string, unknown>>();
  const predictor = (file: string) => {
    const mtime = statSync(file).mtimeMs;
    const hit = predictors.get(file);
    if (hit && hit.mtime === mtime) return hit.p;
    hit?.p.then((p) => p.dispose(), () => {});
    const p = Predictor.open(file, { backend: v.backend });
    predictors.set(file, { mtime, p });
    return p;
  };
  const answer = async (req: PredictRequest) => {
    const ckpt = req.checkpoint ?? v.checkpoint;
    if (!ckpt) throw new Error("no checkpoint: pass --checkpoint or set it in the request");
    const image = resolve(req.image);
    const key = JSON.stringify([image, statSync(image).mtimeMs, resolve(ckpt), statSync(ckpt).mtimeMs, req.maxWidth, req.alpha]);
    const cached = results.get(key);
    if (cached) return { ...cached, cached: true };
    const p = await predictor(resolve(ckpt));
    const s = await p.segment(image);
    const scale = Math.min(1, (req.maxWidth ?? s.width) / s.width);
    const w = Math.max(1, Math.round(s.width * scale));
    const h = Math.max(1, Math.round(s.height * scale));
    const ids = resizeNearest(s.ids, s.width, s.height, 1, w, h);
    const rgb = resizeNearest(s.rgb, s.width, s.height, 3, w, h);
    const color = colorize(ids, p.palette);
    const res = {
      width: w,
      height: h,
      overlayPng: Buffer.from(encodePng(overlay(rgb, color, req.alpha ?? 0.5), w, h, 3)).toString("base64"),
      colorPng: Buffer.from(encodePng(color, w, h, 3)).toString("base64"),
      legend: s.legend,
    };
    results.set(key, res);
    return res;
  };
  const rl = createInterface({ input: process.stdin });
  // One request at a time keeps TF.js memory bounded; order is preserved.
  let chain = Promise.resolve();
  for await (const line of rl) {
    if (!line.trim()) continue;
    chain = chain.then(async () => {
      let req: PredictRequest;
      try {
        req = JSON.parse(line);
      } catch {
        process.stdout.write(JSON.stringify({ id: null, error: `not JSON: ${line.slice(0, 80)}` }) + "\n");
        return;
      }
      try {
        process.stdout.write(JSON.stringify({ id: req.id, ...(await answer(req)) }) + "\n");
      } catch (e) {
        process.stdout.write(JSON.stringify({ id: req.id, error: (e as Error).message }) + "\n");
      }
    });
  }
  await chain;
  for (const { p } of predictors.values()) (await p.catch(() => undefined))?.dispose();
  return 0;
}
