// Every CLI process the editor started (or found running), keyed by its output folder, with its state
// as the user sees it: starting, live, stopping, then stopped, completed or failed. A window reload
// loses the task terminal, so what the tracker needs survives it: the pid and start time are kept in
// workspaceState, live processes are recognised by `process.kill(pid, 0)` and their command line
// (/proc), and runs started elsewhere are found by their command line too. The state follows the
// run's events.jsonl and the process's end (task end, or the pid going away); the end notification is
// given once, by whichever window sees the end.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import type { CheckpointEvent, ErrorEvent, IterationEvent, RunEvent } from "@adaptseg/core/events";
import { buildTask, cliPath, errorFile, nodePath, openSettings, root, type AdaptsegTaskDefinition } from "./cli.js";
import { checkNode, SetupError } from "./discover.js";
import { fmtSec } from "./format.js";
import { eventLog } from "./runs.js";
import { actionLabel, describeFailure, eventsSince, isFinal, isStartOf, type FailureAction, type FailureInput, type RunStatus } from "./status.js";

const STATE_KEY = "adaptseg.trackedRuns";

interface Persisted {
  key: string;
  def: AdaptsegTaskDefinition;
  pid?: number;
  started: number;
  errorFile: string;
  status: RunStatus;
  notified: boolean;
  stopRequested?: boolean;
}

/** The folder a task writes to: the tracker's key for its run. */
export function runKey(def: AdaptsegTaskDefinition): string {
  return path.resolve(root(), def.out ?? (def.command === "eval" && def.checkpoint ? path.join(path.dirname(def.checkpoint), "eval") : "runs/run"));
}

/** The command line of a live process (Linux /proc), or undefined where unknown. */
function cmdline(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process of ours running the CLI for `key` (a reused pid does not count). */
export function isAlive(pid: number, key?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))) return false;
  } catch {
    /* no /proc */
  }
  const args = cmdline(pid);
  return !args || !key || args.some((a) => path.resolve(root(), a) === key);
}

/** adaptseg CLI processes (train and eval) on this machine, from /proc (Linux); [] elsewhere. */
export function scanCliProcesses(): { pid: number; def: AdaptsegTaskDefinition }[] {
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const out: { pid: number; def: AdaptsegTaskDefinition }[] = [];
  for (const p of pids) {
    const args = cmdline(Number(p));
    if (!args) continue;
    const i = args.findIndex((a) => /(?:^|[\\/])(?:cli\.c?js|adaptseg)$/.test(a));
    const command = args[i + 1];
    if (i < 0 || (command !== "train" && command !== "eval")) continue;
    const opt = (name: string) => {
      const k = args.indexOf(`--${name}`);
      return k >= 0 ? args[k + 1] : undefined;
    };
    const cwd = (() => {
      try {
        return fs.readlinkSync(`/proc/${p}/cwd`);
      } catch {
        return root();
      }
    })();
    const abs = (f: string | undefined) => (f ? path.resolve(cwd, f) : undefined);
    const outDir = abs(opt("out"));
    if (!outDir) continue;
    out.push({
      pid: Number(p),
      def: { type: "adaptseg", command, out: outDir, config: abs(opt("config")), checkpoint: abs(opt("checkpoint")), ...(args.includes("--resume") ? { resume: true } : {}) },
    });
  }
  return out;
}

export class TrackedRun {
  exec?: vscode.TaskExecution;
  pid?: number;
  status: RunStatus = { state: "starting", detail: "starting the CLI…" };
  lastIter?: IterationEvent;
  lastCheckpoint?: CheckpointEvent;
  errorEvent?: ErrorEvent;
  stopRequested = false;
  notified = false;
  /** The process is gone (or never started). */
  ended = false;
  exitCode?: number;
  sub?: { dispose(): void };
  deadSince?: number;
  /** The run folder existed while the run was followed (its vanishing is then a failure of its own). */
  folderSeen = false;
  /** This process's start event has been read (events before it belong to earlier processes). */
  sawStart = false;
  private readonly finals: (() => void)[] = [];
  private readonly ends: (() => void)[] = [];

  constructor(
    readonly key: string,
    readonly def: AdaptsegTaskDefinition,
    public started: number,
    readonly errorFile: string,
  ) {}

  get name(): string {
    return path.basename(this.key);
  }
  get eventsFile(): string {
    return path.join(this.key, "events.jsonl");
  }
  get final(): boolean {
    return isFinal(this.status.state);
  }

  whenFinal(): Promise<void> {
    return this.final ? Promise.resolve() : new Promise((r) => this.finals.push(r));
  }
  whenEnded(): Promise<void> {
    return this.ended ? Promise.resolve() : new Promise((r) => this.ends.push(r));
  }
  /** @internal */ settle(): void {
    if (this.final) for (const f of this.finals.splice(0)) f();
    if (this.ended) for (const f of this.ends.splice(0)) f();
  }
}

export class RunTracker implements vscode.Disposable {
  private readonly runs = new Map<string, TrackedRun>();
  private readonly changed = new vscode.EventEmitter<TrackedRun>();
  /** Fires on every change of a run (events, state). */
  readonly onDidChange = this.changed.event;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly statusItem: vscode.StatusBarItem;
  /** The "AdaptSeg" output channel: what the tracker saw and decided, for the curious and for bug reports. */
  readonly log = vscode.window.createOutputChannel("AdaptSeg", { log: true });
  private nodeOk = new Map<string, Promise<string>>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: vscode.ExtensionContext) {
    this.statusItem = vscode.window.createStatusBarItem("adaptseg.run", vscode.StatusBarAlignment.Left, 10);
    this.statusItem.name = "AdaptSeg run";
    this.statusItem.command = "adaptseg.dashboard";
    this.timer = setInterval(() => this.watch(), 1000);
    this.disposables.push(
      this.statusItem,
      this.changed,
      this.log,
      vscode.tasks.onDidStartTaskProcess((e) => this.attach(e.execution, e.processId)),
      vscode.tasks.onDidEndTaskProcess((e) => {
        const r = this.forExec(e.execution);
        if (r) this.processEnded(r, { exitCode: e.exitCode });
      }),
      // A task whose process never started (e.g. a wrong adaptseg.nodePath) ends without a process event.
      vscode.tasks.onDidEndTask((e) =>
        setTimeout(() => {
          const r = this.forExec(e.execution);
          if (r && !r.ended && !r.pid) this.processEnded(r, { notStarted: true });
        }, 1500),
      ),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("adaptseg.nodePath")) this.nodeOk.clear();
      }),
    );
  }

  dispose(): void {
    clearInterval(this.timer);
    for (const r of this.runs.values()) r.sub?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  get(key: string): TrackedRun | undefined {
    return this.runs.get(path.resolve(key));
  }
  /** Training runs whose process is live or starting, oldest first. */
  active(): TrackedRun[] {
    return [...this.runs.values()].filter((r) => r.def.command === "train" && !r.ended && !r.final);
  }
  all(): TrackedRun[] {
    return [...this.runs.values()];
  }

  private forExec(exec: vscode.TaskExecution): TrackedRun | undefined {
    const def = exec.task.definition as AdaptsegTaskDefinition;
    if (def.type !== "adaptseg") return undefined;
    const r = this.runs.get(runKey(def));
    return r && (!r.exec || r.exec === exec || r.exec.task.name === exec.task.name) ? r : undefined;
  }

  private fire(r: TrackedRun, persist = false): void {
    if (persist) {
      this.log.info(`${r.def.command} ${r.key}: ${r.status.state}${r.pid ? ` (pid ${r.pid})` : ""}${r.ended ? ", process ended" : ""}${r.status.detail ? `: ${r.status.detail}` : ""}`);
      this.persist();
    }
    r.settle();
    this.updateStatusBar();
    this.changed.fire(r);
  }

  private persist(): void {
    const all = [...this.runs.values()];
    const keep = [...all.filter((r) => !r.ended || !r.notified), ...all.filter((r) => r.ended && r.notified).slice(-20)];
    const saved: Persisted[] = keep.map((r) => ({
      key: r.key,
      def: r.def,
      pid: r.pid,
      started: r.started,
      errorFile: r.errorFile,
      status: r.status,
      notified: r.notified,
      stopRequested: r.stopRequested,
    }));
    void this.ctx.workspaceState.update(STATE_KEY, saved);
  }

  // ---- starting ----

  /** Checks the setup and starts the task. The run is tracked (and shown) from the first moment; a
   * setup problem makes it "failed" with the reason and an Open Settings button. */
  async start(def: AdaptsegTaskDefinition): Promise<TrackedRun> {
    const key = runKey(def);
    const old = this.runs.get(key);
    if (old && !old.ended && !old.final) throw new Error(`${old.name} is still running${old.pid ? ` (pid ${old.pid})` : ""}: stop it first (AdaptSeg: Stop Run)`);
    old?.sub?.dispose();
    const r = new TrackedRun(key, def, Date.now(), errorFile(def));
    try {
      fs.rmSync(r.errorFile, { force: true });
    } catch {
      /* none */
    }
    this.runs.set(key, r);
    if (def.command === "train") this.follow(r);
    this.fire(r, true);
    let cli: string;
    try {
      cli = cliPath();
      const node = nodePath();
      let check = this.nodeOk.get(node);
      if (!check) this.nodeOk.set(node, (check = checkNode(node, root())));
      await check.catch((e) => {
        this.nodeOk.delete(node);
        throw e;
      });
    } catch (e) {
      if (!(e instanceof SetupError)) throw e;
      r.ended = true;
      this.setFinal(r, { state: "failed", detail: e.message, action: { kind: "settings", setting: e.setting } });
      return r;
    }
    r.exec = await vscode.tasks.executeTask(buildTask(def, undefined, cli));
    return r;
  }

  /** A task process started (ours, a tasks.json entry, or one VS Code reconnected). */
  private attach(exec: vscode.TaskExecution, pid: number): void {
    const def = exec.task.definition as AdaptsegTaskDefinition;
    if (def.type !== "adaptseg") return;
    const key = runKey(def);
    let r = this.runs.get(key);
    if (!r || r.ended) {
      r?.sub?.dispose();
      r = new TrackedRun(key, def, Date.now(), errorFile(def));
      this.runs.set(key, r);
      if (def.command === "train") this.follow(r);
    }
    r.exec = exec;
    r.pid = pid;
    if (r.status.state === "starting") r.status = { ...r.status, detail: `the CLI is loading (pid ${pid})…` };
    this.fire(r, true);
  }

  /** Follows the run's events.jsonl: the backlog of this process, then what it appends. */
  private follow(r: TrackedRun): void {
    const log = eventLog(r.eventsFile);
    r.sub?.dispose();
    r.sub = log.subscribe((events) => {
      // Only this process's events: from its start event on.
      if (!r.sawStart) {
        const i = events.findIndex((e) => isStartOf(e, r.started));
        events = i < 0 ? [] : events.slice(i);
      }
      this.onEvents(r, events);
    });
    const backlog = eventsSince(log.events, r.started);
    if (backlog.length) this.onEvents(r, backlog);
  }

  private onEvents(r: TrackedRun, events: RunEvent[]): void {
    if (!events.length || r.final) return;
    let transition = false;
    for (const e of events) {
      if (r.final) break;
      if (e.type === "start") {
        r.sawStart = true;
        r.folderSeen = true;
        r.status = {
          state: r.stopRequested ? "stopping" : "live",
          iteration: e.iteration,
          stopIter: e.stopIter,
          detail: e.resumed ? `resumed at iteration ${e.iteration}` : `started (${e.strategy}, ${e.backend})`,
        };
        transition = true;
      } else if (e.type === "iteration") {
        r.lastIter = e;
        if (r.status.state === "starting") transition = true;
        r.status = {
          ...r.status,
          state: r.stopRequested ? "stopping" : "live",
          iteration: e.iteration,
          detail: r.stopRequested ? "checkpointing after the current iteration…" : `${e.itPerSec.toFixed(2)} it/s · ETA ${fmtSec(e.etaSec)}`,
        };
      } else if (e.type === "checkpoint") {
        r.lastCheckpoint = e;
        r.status = { ...r.status, checkpoint: e.path };
      } else if (e.type === "error") r.errorEvent = e;
      else if (e.type === "end") {
        const ck = r.lastCheckpoint;
        if (e.status === "completed")
          this.setFinal(r, { ...r.status, state: "completed", iteration: e.iteration, detail: `completed at iteration ${e.iteration}${ck ? `; checkpoint ${ck.path}` : ""}` });
        else if (e.status === "stopped")
          this.setFinal(r, {
            ...r.status,
            state: "stopped",
            iteration: e.iteration,
            checkpoint: ck?.path,
            detail: ck ? `stopped at iteration ${e.iteration}; checkpoint ${ck.path}` : `stopped at iteration ${e.iteration} without a checkpoint`,
          });
        else this.fail(r, { message: e.message ?? r.errorEvent?.message, field: r.errorEvent?.field });
        return;
      }
    }
    this.fire(r, transition);
  }

  // ---- ending ----

  private setFinal(r: TrackedRun, status: RunStatus): void {
    if (r.final) return;
    r.status = status;
    this.fire(r, true);
    this.notify(r);
  }

  private fail(r: TrackedRun, input: Partial<FailureInput>): void {
    let cli: string | undefined;
    try {
      cli = cliPath();
    } catch {
      /* none */
    }
    const { reason, action } = describeFailure({
      out: r.def.command === "train" ? r.key : undefined,
      config: r.def.config && path.resolve(root(), r.def.config),
      cli,
      nodePath: nodePath(),
      pid: r.pid,
      hasTerminal: !!r.exec && !r.ended,
      ...input,
    });
    this.setFinal(r, { ...r.status, state: "failed", detail: reason, action });
  }

  private readErrorFile(r: TrackedRun): string | undefined {
    try {
      if (fs.statSync(r.errorFile).mtimeMs < r.started - 2000) return undefined;
      return JSON.parse(fs.readFileSync(r.errorFile, "utf8")).message;
    } catch {
      return undefined;
    }
  }

  /** The process is gone: the last events decide, else the CLI's error file, else the exit. */
  processEnded(r: TrackedRun, how: { exitCode?: number; notStarted?: boolean; vanished?: boolean }): void {
    if (r.ended) return;
    if (r.def.command === "train") eventLog(r.eventsFile).poll(); // the last lines, through the subscription
    r.ended = true;
    r.exitCode = how.exitCode;
    r.sub?.dispose();
    if (!r.final) {
      const message = this.readErrorFile(r) ?? r.errorEvent?.message;
      const folderGone = r.def.command === "train" && r.folderSeen && !fs.existsSync(r.key);
      if (r.def.command === "eval" && how.exitCode === 0 && !message) this.setFinal(r, { state: "completed", detail: "evaluation finished" });
      else if (r.stopRequested && !message && !folderGone)
        this.setFinal(r, { ...r.status, state: "stopped", detail: r.lastCheckpoint ? `stopped; last checkpoint ${r.lastCheckpoint.path}` : "stopped before its first checkpoint" });
      else
        this.fail(r, {
          message,
          field: r.errorEvent?.field,
          exitCode: how.exitCode,
          notStarted: how.notStarted,
          vanished: how.vanished && how.exitCode === undefined,
          folderGone,
          hasTerminal: !!r.exec,
        });
    }
    try {
      fs.rmSync(r.errorFile, { force: true });
    } catch {
      /* none */
    }
    this.fire(r, true);
  }

  /** Every second: processes that went away (no task event after a reload), run folders that vanished. */
  private watch(): void {
    const now = Date.now();
    for (const r of this.runs.values()) {
      if (r.ended) continue;
      if (r.def.command === "train" && !r.final) {
        if (fs.existsSync(r.key)) r.folderSeen = true;
        else if (r.folderSeen && (r.status.state === "live" || r.status.state === "stopping")) {
          // Its events and checkpoints have nowhere to go: end the process too, rather than leave it
          // computing for nothing behind a "failed" run.
          if (r.pid)
            try {
              process.kill(r.pid, "SIGKILL");
            } catch {
              /* gone */
            }
          this.fail(r, { folderGone: true });
        }
      }
      if (r.pid && !isAlive(r.pid, r.key)) {
        // With a task in this window, its end event brings the exit code: wait for it a little.
        r.deadSince ??= now;
        if (!r.exec || now - r.deadSince > 3000) this.processEnded(r, { vanished: true });
      }
    }
  }

  // ---- stopping ----

  /** SIGINT: the CLI checkpoints after the current iteration and exits. */
  stop(r: TrackedRun): void {
    if (r.final || r.ended) return;
    r.stopRequested = true;
    if (!r.pid) {
      r.exec?.terminate();
      return;
    }
    r.status = { ...r.status, state: "stopping", detail: "checkpointing after the current iteration…" };
    this.fire(r, true);
    process.kill(r.pid, "SIGINT");
  }

  /** Ends the process now (a second signal, or SIGKILL). */
  kill(r: TrackedRun): void {
    if (r.ended) return;
    if (r.exec) r.exec.terminate();
    else if (r.pid)
      try {
        process.kill(r.pid, "SIGKILL");
      } catch {
        /* gone */
      }
  }

  // ---- after a window reload ----

  /** Finds the runs again: those this workspace recorded, the live tasks VS Code reconnected, and
   * CLI processes writing under the workspace folders. Delivers end notifications that were missed. */
  restore(): void {
    const saved = this.ctx.workspaceState.get<Persisted[]>(STATE_KEY, []);
    this.log.info(`restoring ${saved.length} recorded run(s)`);
    for (const p of saved) {
      const r = new TrackedRun(p.key, p.def, p.started, p.errorFile);
      r.pid = p.pid;
      r.status = p.status;
      r.notified = p.notified;
      r.stopRequested = !!p.stopRequested;
      this.runs.set(r.key, r);
      if (r.final && r.notified) {
        r.ended = true;
        continue;
      }
      if (r.def.command === "train") this.follow(r);
      if (!r.pid || !isAlive(r.pid, r.key)) {
        if (!r.final) this.processEnded(r, { vanished: true });
        else {
          r.ended = true;
          r.sub?.dispose();
          this.notify(r);
        }
      }
    }
    for (const exec of vscode.tasks.taskExecutions) {
      const def = exec.task.definition as AdaptsegTaskDefinition;
      const r = def.type === "adaptseg" ? this.runs.get(runKey(def)) : undefined;
      if (r && !r.ended) r.exec = exec;
    }
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath + path.sep);
    for (const { pid, def } of scanCliProcesses()) {
      const key = path.resolve(def.out!);
      if (!folders.some((f) => key.startsWith(f))) continue;
      const known = this.runs.get(key);
      if (known && !known.ended) continue;
      // Started elsewhere (a terminal, another window): its newest start event dates it.
      const log = def.command === "train" ? eventLog(path.join(key, "events.jsonl")) : undefined;
      const start = log?.events.filter((e) => e.type === "start").at(-1);
      const r = new TrackedRun(key, def, start ? Date.parse(start.time) : Date.now(), errorFile(def));
      this.log.info(`found a CLI process started elsewhere: pid ${pid}, ${def.command} ${key}`);
      r.pid = pid;
      r.notified = false;
      this.runs.set(key, r);
      if (log) this.follow(r);
    }
    this.persist();
    this.updateStatusBar();
    for (const r of this.runs.values()) this.changed.fire(r);
  }

  // ---- the user sees ----

  private updateStatusBar(): void {
    const r = this.active().at(-1);
    if (!r) return void this.statusItem.hide();
    const s = r.status;
    const it = s.iteration !== undefined ? `it ${s.iteration}${s.stopIter ? `/${s.stopIter}` : ""}` : "";
    const icon = s.state === "stopping" ? "$(debug-pause)" : s.state === "starting" ? "$(loading~spin)" : "$(sync~spin)";
    const rate = r.lastIter && s.state === "live" ? ` · ${r.lastIter.itPerSec.toFixed(2)} it/s · ETA ${fmtSec(r.lastIter.etaSec)}` : "";
    this.statusItem.text = `${icon} ${r.name}: ${s.state === "live" ? it || "live" : `${s.state}…${it ? ` ${it}` : ""}`}${rate}`;
    this.statusItem.tooltip = `AdaptSeg run ${r.key}${r.pid ? ` (pid ${r.pid})` : ""}: ${s.state}${s.detail ? `, ${s.detail}` : ""}. Click for the dashboard.`;
    this.statusItem.show();
  }

  /** Runs a failure's action (its button). */
  async runAction(r: TrackedRun, a: FailureAction | undefined = r.status.action): Promise<void> {
    if (a?.kind === "settings") await openSettings(a.setting);
    else if (a?.kind === "config") {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(a.file));
      const editor = await vscode.window.showTextDocument(doc);
      const key = a.field?.split(/[.[]/).filter(Boolean).at(-1);
      const at = key ? doc.getText().indexOf(`"${key}"`) : -1;
      if (at >= 0) {
        const range = new vscode.Range(doc.positionAt(at), doc.positionAt(at + key!.length + 2));
        editor.selection = new vscode.Selection(range.start, range.end);
        editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      }
    } else if (a?.kind === "terminal" && r.exec) {
      const t = vscode.window.terminals.find((x) => x.name.includes(r.exec!.task.name));
      if (t) t.show();
      else await vscode.commands.executeCommand("workbench.action.terminal.focus");
    }
  }

  /** The end notification, once per run (persisted, so a reload neither loses nor repeats it). */
  private notify(r: TrackedRun): void {
    if (r.notified || !r.final) return;
    const s = r.status;
    r.notified = true;
    this.persist();
    if (r.def.command === "eval" && s.state !== "failed") return; // Evaluate Checkpoint reports its own result
    const what = r.def.command === "train" ? `run ${r.name}` : `evaluation ${r.name}`;
    if (s.state === "completed") {
      void vscode.window
        .showInformationMessage(`AdaptSeg: ${what} completed at iteration ${s.iteration ?? "?"}${s.checkpoint ? `; checkpoint ${s.checkpoint}` : ""}.`, "Show Dashboard")
        .then((b) => b && vscode.commands.executeCommand("adaptseg.openRun", vscode.Uri.file(r.key)));
    } else if (s.state === "stopped") {
      const ck = r.lastCheckpoint ?? (s.checkpoint ? { path: s.checkpoint, iteration: s.iteration } : undefined);
      if (ck) {
        void vscode.window
          .showInformationMessage(`AdaptSeg: ${what} stopped at iteration ${s.iteration ?? ck.iteration}; checkpoint saved to ${ck.path}`, "Resume Run", "Reveal Checkpoint")
          .then((b) => {
            if (b === "Resume Run") void vscode.commands.executeCommand("adaptseg.resume", vscode.Uri.file(r.key));
            else if (b === "Reveal Checkpoint") void vscode.commands.executeCommand("revealInExplorer", vscode.Uri.file(ck.path));
          });
      } else void vscode.window.showWarningMessage(`AdaptSeg: ${what} stopped before its first checkpoint: there is nothing to resume from.`);
    } else {
      const label = actionLabel(s.action);
      void vscode.window.showErrorMessage(`AdaptSeg: ${what} failed: ${s.detail ?? "unknown reason"}`, ...(label ? [label] : [])).then((b) => {
        if (b) void this.runAction(r);
      });
    }
  }
}
