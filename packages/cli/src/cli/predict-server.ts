// `adaptseg predict-server`: a long-lived prediction process for editors, speaking the protocol of
// @adaptseg/core/protocol (JSON-RPC-shaped JSON lines on stdin/stdout): `predict` requests with ids,
// results or errors, `$/cancelRequest`. Every request line gets exactly one answer, whatever it holds.
// `maxChars` caps the overlay's base64 length (editor hovers cut markdown at 100,000 characters): the
// images shrink until it fits. Models and results are cached, so repeated requests are instant.
import { createInterface } from "node:readline";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  ErrorCodes,
  PREDICT_METHOD,
  ProtocolError,
  failure,
  parseIncoming,
  predictParamsProblems,
  resizeNearest,
  success,
  type PredictParams,
  type PredictResult,
  type RequestId,
} from "@adaptseg/core";
import type { Predictor } from "@adaptseg/engine";
import { defineCommand } from "../command.js";
import { onStdoutClosed, stdout } from "./common.js";

export default defineCommand({
  name: "predict-server",
  description: "prediction service for editors: JSON-lines requests on stdin, answers on stdout (`@adaptseg/core/protocol`)",
  options: {
    checkpoint: { type: "string", value: "file", description: "the checkpoint (or .onnx model) for requests that name none" },
    backend: { type: "string", value: "name", description: "compute backend" },
    runtime: { type: "string", choices: ["onnx", "tfjs"], description: "where the network runs (default: onnx where onnxruntime-node loads, else tfjs)" },
  },
  async run(v) {
    const engine = await import("@adaptseg/engine");
    const predictors = new Map<string, { mtime: number; p: Promise<Predictor> }>();
    const results = new Map<string, PredictResult>();
    const predictor = (file: string) => {
      const mtime = statSync(file).mtimeMs;
      const hit = predictors.get(file);
      if (hit && hit.mtime === mtime) return hit.p;
      hit?.p.then(
        (p) => p.dispose(),
        () => {},
      );
      const p = engine.Predictor.open(file, { backend: v.backend, runtime: v.runtime as "onnx" | "tfjs" | undefined });
      predictors.set(file, { mtime, p });
      return p;
    };
    const cancelled = new Set<RequestId>();
    const checkCancel = (id: RequestId) => {
      if (cancelled.has(id)) throw new ProtocolError(ErrorCodes.RequestCancelled, `request ${JSON.stringify(id)} was cancelled`);
    };
    const fail = (code: number, message: string): never => {
      throw new ProtocolError(code, message);
    };

    const predict = async (id: RequestId, req: PredictParams): Promise<PredictResult> => {
      const ckpt = req.checkpoint ?? v.checkpoint;
      if (!ckpt) fail(ErrorCodes.InvalidParams, "no checkpoint: pass --checkpoint to the server or params.checkpoint");
      const image = resolve(req.image);
      if (!existsSync(image)) fail(ErrorCodes.RequestFailed, `image not found: ${image}`);
      if (!existsSync(ckpt!)) fail(ErrorCodes.RequestFailed, `checkpoint not found: ${resolve(ckpt!)}`);
      const key = JSON.stringify([image, statSync(image).mtimeMs, resolve(ckpt!), statSync(ckpt!).mtimeMs, req.maxWidth, req.maxChars, req.alpha]);
      const cached = results.get(key);
      if (cached) return { ...cached, cached: true };
      const p = await predictor(resolve(ckpt!));
      checkCancel(id);
      const s = await p.segment(image);
      checkCancel(id);
      let w = Math.max(1, Math.min(s.width, req.maxWidth ?? s.width));
      for (;;) {
        const h = Math.max(1, Math.round((s.height * w) / s.width));
        const ids = resizeNearest(s.ids, s.width, s.height, 1, w, h);
        const rgb = resizeNearest(s.rgb, s.width, s.height, 3, w, h);
        const color = engine.colorize(ids, p.palette);
        const overlayPng = Buffer.from(engine.encodePng(engine.overlay(rgb, color, req.alpha ?? 0.5), w, h, 3)).toString("base64");
        if (req.maxChars && overlayPng.length > req.maxChars && w > 16) {
          w = Math.max(16, Math.floor(w * Math.sqrt(req.maxChars / overlayPng.length) * 0.95));
          continue;
        }
        const res: PredictResult = {
          width: w,
          height: h,
          overlayPng,
          colorPng: Buffer.from(engine.encodePng(color, w, h, 3)).toString("base64"),
          legend: s.legend.map((e) => ({ ...e, color: [e.color[0], e.color[1], e.color[2]], pixels: Math.round(e.share * s.ids.length) })),
          checkpoint: resolve(ckpt!),
          iteration: p.meta.iteration,
          sourceWidth: s.width,
          sourceHeight: s.height,
        };
        results.set(key, res);
        if (results.size > 64) results.delete(results.keys().next().value!);
        return res;
      }
    };

    const answer = async (id: RequestId, method: string, params: unknown): Promise<string> => {
      try {
        if (method !== PREDICT_METHOD) fail(ErrorCodes.MethodNotFound, `unknown method "${method}"; known: ${PREDICT_METHOD}`);
        const problems = predictParamsProblems(params);
        if (problems.length) fail(ErrorCodes.InvalidParams, problems.join("; "));
        checkCancel(id);
        const result = await predict(id, params as PredictParams);
        checkCancel(id);
        return success(id, result);
      } catch (e) {
        const code = e instanceof ProtocolError ? e.code : ErrorCodes.RequestFailed;
        return failure(id, code, (e as Error).message || String(e));
      } finally {
        cancelled.delete(id);
      }
    };

    let closed = false;
    onStdoutClosed(() => {
      closed = true; // the client is gone
      rl.close();
    });
    const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
    // One request at a time keeps TF.js memory bounded; answers keep the request order. Cancellations
    // act at once: a queued request is answered as cancelled when its turn comes, a running one at
    // its next stage.
    const pending = new Set<RequestId>();
    let chain = Promise.resolve();
    for await (const line of rl) {
      const m = parseIncoming(line);
      if (m.type === "blank") continue;
      if (m.type === "cancel") {
        if (pending.has(m.id)) cancelled.add(m.id);
        continue;
      }
      const reply = m.type === "invalid" ? () => Promise.resolve(failure(m.id, m.error.code, m.error.message)) : () => answer(m.id, m.method, m.params);
      if (m.type === "request") pending.add(m.id);
      chain = chain.then(async () => {
        const text = await reply().catch((e) => failure(m.type === "request" ? m.id : null, ErrorCodes.InternalError, String(e)));
        if (m.type === "request") pending.delete(m.id);
        if (!closed) stdout.write(text);
      });
    }
    await chain;
    for (const { p } of predictors.values()) (await p.catch(() => undefined))?.dispose();
  },
});
