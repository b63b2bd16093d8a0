// The message protocol between the extension and its webviews (dashboard and segmentation
// preview). Imported by both sides: the extension bundle (Node) and the webview bundles (browser),
// so it holds types and plain functions only, no `vscode` and no Node modules.
import type { RunEvent } from "@adaptseg/core/events";
import type { LegendItem } from "@adaptseg/core/protocol";

/** One run shown in the dashboard; `id` is the absolute path of its events.jsonl. */
export interface RunRef {
  id: string;
  label: string;
}

export type DashboardToWebview =
  /** Adds the run (if new) and appends its events, in file order. */
  | { type: "events"; run: RunRef; events: RunEvent[] }
  /** Drops every run not in `keep`. */
  | { type: "runs"; keep: string[] };

export type WebviewToDashboard =
  /** The script has loaded, with the runs its saved state lists: the extension adds those it does not
   * show yet, then (re)sends every event of every shown run. */
  | { type: "ready"; runs: RunRef[] }
  /** "Add run..." button: runs the Open Run command. */
  | { type: "openRun" }
  | { type: "removeRun"; id: string };

/** The dashboard webview's persisted state (getState/setState), also handed to the panel serializer. */
export interface DashboardState {
  runs: RunRef[];
}

/** One legend row, as predict-server sends it. */
export type { LegendItem };

export type PreviewToWebview =
  | { type: "status"; message: string }
  | { type: "error"; message: string }
  /** PNGs as data: URIs; the image itself is the file through its webview URI. */
  | { type: "prediction"; mask: string; overlay: string; width: number; height: number; legend: LegendItem[]; checkpoint: string; iteration: number };

export type WebviewToPreview = { type: "ready" } | { type: "retry" };

export interface PreviewState {
  opacity: number;
}

/** Plain decimal text (no exponent), exact where the number allows: what the dashboard shows. */
export function decimal(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const s = String(v);
  if (!/e/i.test(s)) return s;
  return v.toFixed(20).replace(/\.?0+$/, "");
}

/** Percent with one decimal, e.g. 0.3456 -> "34.6%". */
export const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
