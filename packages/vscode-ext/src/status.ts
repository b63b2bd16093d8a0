// A run's state as the user sees it (status bar, dashboard, notifications), and why a run failed
// with the button that helps. No `vscode` here (unit tested in test/vscode-units.test.ts).
import type { CheckpointEvent, RunEvent } from "@adaptseg/core/events";

export type RunState = "starting" | "live" | "stopping" | "stopped" | "completed" | "failed" | "unknown";
export const FINAL_STATES: readonly RunState[] = ["stopped", "completed", "failed"];

/** What fixes a failure: a setting, the config (at a field), or a look at the task's terminal. */
export type FailureAction = { kind: "settings"; setting: string } | { kind: "config"; file: string; field?: string } | { kind: "terminal" };

export interface RunStatus {
  state: RunState;
  /** One line: the reason of a failure, the checkpoint of a stop, progress of a live run. */
  detail?: string;
  iteration?: number;
  stopIter?: number;
  checkpoint?: string;
  action?: FailureAction;
}

export const isFinal = (s: RunState) => FINAL_STATES.includes(s);

/** The label of a button for an action. */
export function actionLabel(a: FailureAction | undefined): string | undefined {
  return a?.kind === "settings" ? "Open Settings" : a?.kind === "config" ? "Open Config" : a?.kind === "terminal" ? "Show Terminal" : undefined;
}

export interface FailureInput {
  /** The CLI's message (its error file, an error event or a failed end event). */
  message?: string;
  /** Config field at fault, where the CLI named it. */
  field?: string;
  exitCode?: number;
  /** The process never started (the task ended without one). */
  notStarted?: boolean;
  /** The run folder is gone. */
  folderGone?: boolean;
  /** The process ended (seen after a window reload) without an end event or a message. */
  vanished?: boolean;
  out?: string;
  config?: string;
  cli?: string;
  nodePath?: string;
  pid?: number;
  /** Whether the run has a task terminal in this window. */
  hasTerminal?: boolean;
}

const CONFIG_ERROR =
  /invalid config|not valid JSON|config file not found|--config <file\.json> is required|unknown (?:backbone|discriminator|strategy|adaptation|dataset|model)|no (?:plugin|adapter|strategy|backbone)/i;

/** The reason (one sentence) and the action of a failure. */
export function describeFailure(f: FailureInput): { reason: string; action?: FailureAction } {
  const terminal: FailureAction | undefined = f.hasTerminal ? { kind: "terminal" } : undefined;
  if (f.folderGone && f.out)
    return { reason: `the run folder ${f.out} was deleted or moved while the run was live; its events and checkpoints went with it${f.pid ? `, and its process (pid ${f.pid}) was ended` : ""}` };
  if (f.notStarted)
    return { reason: `the CLI process did not start: "${f.nodePath ?? "node"}" could not be run (setting adaptseg.nodePath)`, action: { kind: "settings", setting: "adaptseg.nodePath" } };
  const m = f.message?.trim();
  if (m) {
    const first = m
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(0, 4)
      .join(" ");
    if (f.out && /ENOENT/.test(m) && m.includes(f.out)) return { reason: `the run folder ${f.out} was deleted or moved while the run was live (${first})` };
    if (/Cannot find (?:module|package)/.test(m) && (!f.cli || m.includes(f.cli) || /@adaptseg\//.test(m)))
      return { reason: `the CLI could not load: ${first} (check adaptseg.cliPath, and that the packages are built)`, action: { kind: "settings", setting: "adaptseg.cliPath" } };
    if (f.config && (f.field || CONFIG_ERROR.test(m) || m.startsWith(`${f.config}:`))) {
      // "file: invalid config:\n  model.widthMultiplier: must be <= 1": the first problem's field.
      const field = f.field ?? (/invalid config/.test(m) ? /^\s*([\w$.[\]-]+)[: ]/.exec(m.split("\n")[1] ?? "")?.[1] : undefined);
      return { reason: first, action: { kind: "config", file: f.config, field } };
    }
    if (/--data\b|ADAPTSEG_DATA|data root/i.test(m)) return { reason: first, action: { kind: "settings", setting: "adaptseg.dataRoot" } };
    return { reason: first, action: terminal };
  }
  if (f.vanished) return { reason: `the CLI process${f.pid ? ` (pid ${f.pid})` : ""} ended without writing an end event (killed?)` };
  if (f.exitCode !== undefined && f.exitCode !== 0) return { reason: `the CLI exited with code ${f.exitCode}${f.hasTerminal ? "; its terminal shows why" : ""}`, action: terminal };
  return { reason: "the CLI ended without saying why", action: terminal };
}

/** The events of the process started at `since` (ms): from its start event on. A resumed run's file
 * holds the earlier processes' events, up to an end event written a moment before. */
export function eventsSince(events: readonly RunEvent[], since: number): RunEvent[] {
  // The newest start event at or after `since` (the CLI's clock is this machine's; 2 s of slack).
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === "start" && isStartOf(e, since)) return events.slice(i);
  }
  return [];
}

/** Whether `e` is the start event of a process started at `since` (ms). */
export const isStartOf = (e: RunEvent, since: number) => e.type === "start" && Date.parse(e.time) >= since - 2000;

/** The state a run's own events give (for runs this window did not start, or after a reload). */
export function statusFromEvents(events: readonly RunEvent[], opts: { folderExists: boolean; folder: string; mtimeMs?: number; now?: number }): RunStatus {
  const now = opts.now ?? Date.now();
  let start: Extract<RunEvent, { type: "start" }> | undefined;
  let iteration: number | undefined;
  let checkpoint: CheckpointEvent | undefined;
  let end: Extract<RunEvent, { type: "end" }> | undefined;
  let error: Extract<RunEvent, { type: "error" }> | undefined;
  for (const e of events) {
    if (e.type === "start") {
      start = e;
      end = undefined;
      error = undefined;
      iteration = e.iteration;
    } else if (e.type === "iteration") iteration = e.iteration;
    else if (e.type === "checkpoint") checkpoint = e;
    else if (e.type === "end") end = e;
    else if (e.type === "error") error = e;
  }
  const base = { iteration, stopIter: start?.stopIter, checkpoint: checkpoint?.path };
  if (!opts.folderExists) return { ...base, state: "failed", detail: `the run folder ${opts.folder} does not exist` };
  if (end?.status === "completed") return { ...base, state: "completed", detail: `completed at iteration ${end.iteration}${checkpoint ? `; checkpoint ${checkpoint.path}` : ""}` };
  if (end?.status === "stopped") return { ...base, state: "stopped", detail: `stopped at iteration ${end.iteration}${checkpoint ? `; checkpoint ${checkpoint.path}` : "; no checkpoint"}` };
  if (end?.status === "failed") return { ...base, state: "failed", detail: end.message ?? "the run failed" };
  if (error) return { ...base, state: "failed", detail: error.message };
  if (!events.length) return { ...base, state: "unknown", detail: "no events yet" };
  if (opts.mtimeMs !== undefined && now - opts.mtimeMs < 60_000) return { ...base, state: "live", detail: "events still arriving (not started from this window)" };
  return { ...base, state: "unknown", detail: "no end event and no live process found (killed, or running elsewhere)" };
}
