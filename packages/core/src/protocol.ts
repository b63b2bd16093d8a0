// The predict protocol between `adaptseg predict-server` and its clients (the VS Code extension):
// JSON lines on the server's stdin/stdout in the shape of JSON-RPC 2.0. Imported by both ends, so it
// holds types and plain functions only (no Node modules, no TF.js).
//
//   client -> server  {"jsonrpc":"2.0","id":1,"method":"predict","params":{"image":"a.png","maxWidth":256}}
//   server -> client  {"jsonrpc":"2.0","id":1,"result":{"width":256,...}}
//                     {"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"params.maxWidth must be ..."}}
//   client -> server  {"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}
//
// Every request line is answered exactly once, with a result or an error, whatever the line holds:
// a line that is not JSON, not an object or has no usable id gets an error with id null; a request
// behind a bad line is still answered. A cancelled request is answered with RequestCancelled (unless
// its answer was already written). Blank lines are ignored; notifications other than `$/cancelRequest`
// are answered with an InvalidRequest error (id null), since this protocol has no other notification.

export type RequestId = number | string;

export interface RequestMessage<M extends string = string, P = unknown> {
  jsonrpc?: "2.0";
  id: RequestId;
  method: M;
  params?: P;
}

export interface NotificationMessage<M extends string = string, P = unknown> {
  jsonrpc?: "2.0";
  method: M;
  params?: P;
}

export interface ResponseError {
  code: number;
  message: string;
  data?: unknown;
}

export type ResponseMessage<R = unknown> = { jsonrpc: "2.0"; id: RequestId; result: R; error?: undefined } | { jsonrpc: "2.0"; id: RequestId | null; error: ResponseError; result?: undefined };

/** JSON-RPC 2.0's codes, plus LSP's RequestFailed and RequestCancelled. */
export const ErrorCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The request was valid but failed (image or checkpoint not found, unreadable image...). */
  RequestFailed: -32803,
  RequestCancelled: -32800,
} as const;

export const CANCEL_METHOD = "$/cancelRequest";
export interface CancelParams {
  id: RequestId;
}

// ---- the `predict` method ----------------------------------------------------------------------

export const PREDICT_METHOD = "predict";

export interface PredictParams {
  /** Image file path (absolute, or relative to the server's working folder). */
  image: string;
  /** Checkpoint file; defaults to the server's --checkpoint. */
  checkpoint?: string;
  /** Output width cap in pixels, an integer >= 1 (the aspect ratio is kept). */
  maxWidth?: number;
  /** Cap on the base64 length of overlayPng, an integer >= 1: the images shrink until it fits. */
  maxChars?: number;
  /** Mask opacity in the overlay, 0..1 (default 0.5). */
  alpha?: number;
}

export interface LegendItem {
  id: number;
  name: string;
  color: [number, number, number];
  /** Fraction of the image's pixels, 0..1. */
  share: number;
  pixels: number;
}

export interface PredictResult {
  width: number;
  height: number;
  /** Base64 PNGs: the image with the mask blended in, and the colour mask alone. */
  overlayPng: string;
  colorPng: string;
  legend: LegendItem[];
  /** The checkpoint used, absolute. */
  checkpoint: string;
  iteration: number;
  sourceWidth: number;
  sourceHeight: number;
  /** True when the server answered from its cache. */
  cached?: boolean;
}

/** Every method: its params and result types. */
export interface PredictProtocol {
  predict: { params: PredictParams; result: PredictResult };
}

export type PredictRequest = RequestMessage<typeof PREDICT_METHOD, PredictParams>;
export type PredictResponse = ResponseMessage<PredictResult>;

// ---- encoding and decoding ---------------------------------------------------------------------

/** An error with a protocol code: what a handler throws to answer with that code. */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

export const request = <M extends keyof PredictProtocol>(id: RequestId, method: M, params: PredictProtocol[M]["params"]): string => JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n";
export const cancel = (id: RequestId): string => JSON.stringify({ jsonrpc: "2.0", method: CANCEL_METHOD, params: { id } }) + "\n";
export const success = <R>(id: RequestId, result: R): string => JSON.stringify({ jsonrpc: "2.0", id, result }) + "\n";
export const failure = (id: RequestId | null, code: number, message: string, data?: unknown): string =>
  JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, ...(data !== undefined ? { data } : {}) } }) + "\n";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is RequestId => (typeof v === "number" && Number.isFinite(v)) || typeof v === "string";
const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v);

/** What a server makes of one input line. */
export type IncomingMessage =
  | { type: "request"; id: RequestId; method: string; params: unknown }
  | { type: "cancel"; id: RequestId }
  /** Answer with `failure(id, error.code, error.message)`. */
  | { type: "invalid"; id: RequestId | null; error: ResponseError }
  | { type: "blank" };

/** Parses one line a server received; never throws. */
export function parseIncoming(line: string): IncomingMessage {
  if (!line.trim()) return { type: "blank" };
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch (e) {
    return { type: "invalid", id: null, error: { code: ErrorCodes.ParseError, message: `not JSON (${(e as Error).message}): ${line.slice(0, 80)}` } };
  }
  const invalid = (message: string, id: RequestId | null = null): IncomingMessage => ({ type: "invalid", id, error: { code: ErrorCodes.InvalidRequest, message } });
  if (!isObject(m)) return invalid(`a request must be a JSON object, got ${kind(m)}`);
  const id = isId(m.id) ? m.id : null;
  if ("id" in m && m.id !== undefined && id === null) return invalid(`"id" must be a number or a string, got ${kind(m.id)}`);
  if (typeof m.method !== "string") return invalid(`"method" must be a string, got ${kind(m.method)} (requests are {"id", "method": "${PREDICT_METHOD}", "params": {...}})`, id);
  if (m.method === CANCEL_METHOD) {
    const p = m.params;
    if (!isObject(p) || !isId(p.id)) return invalid(`${CANCEL_METHOD}: params.id must be a number or a string`, id);
    return { type: "cancel", id: p.id };
  }
  if (id === null) return invalid(`"${m.method}" has no "id": only ${CANCEL_METHOD} may be sent as a notification`);
  return { type: "request", id, method: m.method, params: m.params };
}

/** Parses one line a client received; undefined for anything that is not a response. */
export function parseResponse<R = unknown>(line: string): ResponseMessage<R> | undefined {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(m) || !("id" in m) || (m.id !== null && !isId(m.id))) return undefined;
  if (isObject(m.error) && typeof m.error.message === "string") return m as ResponseMessage<R>;
  return "result" in m ? (m as ResponseMessage<R>) : undefined;
}

/** Problems with predict params, each naming its field; empty when they are valid. */
export function predictParamsProblems(p: unknown): string[] {
  if (!isObject(p)) return [`params must be an object, got ${kind(p)}`];
  const out: string[] = [];
  if (typeof p.image !== "string" || !p.image) out.push(`params.image (an image file path) is required, got ${JSON.stringify(p.image) ?? "nothing"}`);
  if (p.checkpoint !== undefined && (typeof p.checkpoint !== "string" || !p.checkpoint)) out.push(`params.checkpoint must be a file path, got ${JSON.stringify(p.checkpoint)}`);
  for (const k of ["maxWidth", "maxChars"] as const)
    if (p[k] !== undefined && !(Number.isInteger(p[k]) && (p[k] as number) >= 1)) out.push(`params.${k} must be an integer >= 1, got ${JSON.stringify(p[k])}`);
  if (p.alpha !== undefined && !(typeof p.alpha === "number" && p.alpha >= 0 && p.alpha <= 1)) out.push(`params.alpha must be a number from 0 to 1, got ${JSON.stringify(p.alpha)}`);
  const known = ["image", "checkpoint", "maxWidth", "maxChars", "alpha"];
  for (const k of Object.keys(p)) if (!known.includes(k)) out.push(`params.${k} is not a known field (known: ${known.join(", ")})`);
  return out;
}
