// `adaptseg predict-server [--checkpoint c]`: a long-lived prediction process for editors.
// Reads JSON lines on stdin: {id, image, checkpoint?, maxWidth?, maxChars?, alpha?}; answers one JSON
// line each: {id, width, height, overlayPng, colorPng (base64), legend: [{id,name,color,share,pixels}],
// checkpoint, iteration, sourceWidth, sourceHeight} or {id, error}. `maxChars` caps the overlay's
// base64 length (editor hovers cut markdown at 100,000 characters): the images shrink until it fits.
// Models and results are cached, so repeated requests are instant.
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { Predictor } from "../predict.js";
import { colorize, encodePng, overlay, resizeNearest } from "../eval/index.js";

export interface PredictRequest {
  id: string | number;
  image: string;
  checkpoint?: string;
  /** Output width cap in pixels (the aspect ratio is kept). */
  maxWidth?: number;
  /** Cap on the base64 length of overlayPng; the output shrinks until it fits. */
  maxChars?: number;
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
    if (typeof req.image !== "string") throw new Error('request field "image" (a file path) is required');
    const image = resolve(req.image);
    if (!existsSync(image)) throw new Error(`image not found: ${image}`);
    if (!existsSync(ckpt)) throw new Error(`checkpoint not found: ${resolve(ckpt)}`);
    const key = JSON.stringify([image, statSync(image).mtimeMs, resolve(ckpt), statSync(ckpt).mtimeMs, req.maxWidth, req.maxChars, req.alpha]);
    const cached = results.get(key);
    if (cached) return { ...cached, cached: true };
    const p = await predictor(resolve(ckpt));
    const s = await p.segment(image);
    let w = Math.max(1, Math.min(s.width, Math.round(req.maxWidth ?? s.width)));
    for (;;) {
      const h = Math.max(1, Math.round((s.height * w) / s.width));
      const ids = resizeNearest(s.ids, s.width, s.height, 1, w, h);
      const rgb = resizeNearest(s.rgb, s.width, s.height, 3, w, h);
      const color = colorize(ids, p.palette);
      const overlayPng = Buffer.from(encodePng(overlay(rgb, color, req.alpha ?? 0.5), w, h, 3)).toString("base64");
      if (req.maxChars && overlayPng.length > req.maxChars && w > 16) {
        w = Math.max(16, Math.floor(w * Math.sqrt(req.maxChars / overlayPng.length) * 0.95));
        continue;
      }
      const res = {
        width: w,
        height: h,
        overlayPng,
        colorPng: Buffer.from(encodePng(color, w, h, 3)).toString("base64"),
        legend: s.legend.map((e) => ({ ...e, pixels: Math.round(e.share * s.ids.length) })),
        checkpoint: resolve(ckpt),
        iteration: p.meta.iteration,
        sourceWidth: s.width,
        sourceHeight: s.height,
      };
      results.set(key, res);
      if (results.size > 64) results.delete(results.keys().next().value!);
      return res;
    }
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
