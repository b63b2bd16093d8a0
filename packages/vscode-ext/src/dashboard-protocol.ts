// Messages between the extension and the dashboard webview (types only; both bundles import it).
// The dashboard shows three kinds of files the CLI writes: a run's events.jsonl (curves, latest
// values, evaluations), an evaluation's metrics.json (Evaluate Checkpoint: per-class IoU) and a
// sweep's sweep.json (mean ± sd per setting, paired gain). An item's id is the file's absolute path.
import type { RunEvent } from "@adaptseg/core/events";
import type { RunStatus } from "./status.js";
import type { Sweep } from "./sweep.js";

export type ItemKind = "run" | "metrics" | "sweep";

export interface ItemRef {
  id: string;
  kind: ItemKind;
  label: string;
  /** The run folder (runs) or the file's folder. */
  folder: string;
}

/** metrics.json as `adaptseg eval` writes it. */
export interface EvalMetrics {
  checkpoint?: string;
  iteration?: number;
  images?: number;
  miou: number;
  pixelAccuracy?: number;
  /** Percent per class name; null where the class never occurs. */
  perClass?: Record<string, number | null>;
}

export type DashboardToWebview =
  /** Adds the run (if new) and appends its events, in file order. */
  | { type: "events"; item: ItemRef; events: RunEvent[]; reset?: boolean }
  /** The run's state as the extension knows it (tracked process, or its events on disk). */
  | { type: "status"; id: string; status: RunStatus }
  | { type: "metrics"; item: ItemRef; metrics: EvalMetrics | undefined; error?: string }
  | { type: "sweep"; item: ItemRef; sweep: Sweep | undefined; error?: string }
  /** Drops every item not in `keep`. */
  | { type: "keep"; keep: string[] };

export type WebviewToDashboard =
  /** The script has loaded, with the items its saved state lists: the extension adds those it does not
   * show yet, then (re)sends everything. */
  | { type: "ready"; items: ItemRef[] }
  /** "Add…" button: runs the Open Run command. */
  | { type: "openRun" }
  | { type: "remove"; id: string }
  /** A button of a failed run: its action (settings, config, terminal). */
  | { type: "action"; id: string };

/** The dashboard webview's persisted state (getState/setState), also handed to the panel serializer. */
export interface DashboardState {
  items: ItemRef[];
}
