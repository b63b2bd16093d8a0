// The training dashboard: a webview panel showing what the CLI writes: runs (events.jsonl: curves,
// latest values, evaluations, and their state), evaluations of checkpoints (metrics.json: per-class
// IoU) and sweeps (sweep.json: mean ± sd per setting, paired gain). Drawn by uPlot and plain tables
// in the webview (src/webview/dashboard.ts).
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { eventLog, type EventLog } from "./runs.js";
import { mediaRoot, webviewHtml } from "./html.js";
import { statusFromEvents, type RunStatus } from "./status.js";
import { normalizeSweep } from "./sweep.js";
import type { DashboardState, DashboardToWebview, EvalMetrics, ItemKind, ItemRef, WebviewToDashboard } from "./dashboard-protocol.js";

export function kindOf(file: string): ItemKind {
  const b = path.basename(file);
  return b === "metrics.json" ? "metrics" : b === "sweep.json" ? "sweep" : "run";
}

export function itemRef(file: string): ItemRef {
  const id = path.resolve(file);
  const kind = kindOf(id);
  const folder = path.dirname(id);
  const label = kind === "metrics" ? `${path.basename(path.dirname(folder))}/${path.basename(folder)}` : path.basename(folder);
  return { id, kind, label, folder };
}

/** A run's state from its files alone (a run this window does not track). */
export function diskStatus(eventsFile: string): RunStatus {
  const dir = path.dirname(eventsFile);
  let mtimeMs: number | undefined;
  try {
    mtimeMs = fs.statSync(eventsFile).mtimeMs;
  } catch {
    /* none */
  }
  return statusFromEvents(eventLog(eventsFile).events, { folderExists: fs.existsSync(dir), folder: dir, mtimeMs });
}

/** Evaluation folders a run folder holds (Evaluate Checkpoint writes <run>/eval-<ckpt>/metrics.json). */
function evalMetricsIn(runDir: string): string[] {
  try {
    return fs
      .readdirSync(runDir)
      .filter((d) => d.startsWith("eval-"))
      .map((d) => path.join(runDir, d, "metrics.json"))
      .filter((f) => fs.existsSync(f));
  } catch {
    return [];
  }
}

interface Item {
  ref: ItemRef;
  log?: EventLog;
  sub?: { dispose(): void };
  mtime?: number;
  sent?: string;
}

export class Dashboard {
  static readonly viewType = "adaptseg.dashboard";
  static current: Dashboard | undefined;
  /** A run's state (the extension sets it: the tracker's, else the run's events). */
  static statusOf: (eventsFile: string) => RunStatus = diskStatus;
  /** The button of a failed run. */
  static onAction: (eventsFile: string) => void = () => {};

  private readonly items = new Map<string, Item>();
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly timer: ReturnType<typeof setInterval>;

  /** Opens (or reveals) the dashboard and adds `files` (events.jsonl, metrics.json or sweep.json);
   * `replace` drops the other runs. */
  static show(ext: vscode.Uri, files: string[], replace = false): Dashboard {
    if (!Dashboard.current) {
      const panel = vscode.window.createWebviewPanel(
        Dashboard.viewType,
        "AdaptSeg Dashboard",
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [mediaRoot(ext)] },
      );
      Dashboard.current = new Dashboard(panel, ext);
    } else Dashboard.current.panel.reveal(undefined, true);
    const d = Dashboard.current;
    if (replace) for (const id of [...d.items.keys()]) if (!files.some((f) => path.resolve(f) === id)) d.remove(id);
    for (const f of files) d.add(f);
    return d;
  }

  /** Restores a dashboard after a window reload from its persisted state. */
  static revive(panel: vscode.WebviewPanel, ext: vscode.Uri, state: DashboardState | undefined): void {
    Dashboard.current?.panel.dispose();
    panel.webview.options = { enableScripts: true, localResourceRoots: [mediaRoot(ext)] };
    const d = (Dashboard.current = new Dashboard(panel, ext));
    for (const r of state?.items ?? []) d.add(r.id, false);
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    ext: vscode.Uri,
  ) {
    panel.webview.html = webviewHtml(panel.webview, ext, {
      title: "AdaptSeg Dashboard",
      styles: ["uPlot.min.css", "style.css"],
      scripts: ["uPlot.iife.min.js", "dashboard.js"],
      body: `<header>
  <h1>AdaptSeg Dashboard</h1>
  <button id="add-run" title="Show another run, a checkpoint evaluation (metrics.json) or a sweep (sweep.json)">Add…</button>
</header>
<ul id="runs" aria-label="runs shown"></ul>
<p id="empty">Nothing shown yet: run <b>AdaptSeg: Train Experiment</b>, or <b>AdaptSeg: Open Run</b> for runs, evaluations and sweeps.</p>
<div id="charts" class="grid"></div>
<div id="tables" class="grid tables">
  <section class="box"><table id="latest"><caption>Latest values</caption><thead></thead><tbody></tbody></table></section>
  <section class="box"><table id="evals"><caption>mIoU per evaluation</caption><thead><tr><th>run</th><th>iteration</th><th>mIoU %</th><th>pixel acc. %</th></tr></thead><tbody></tbody></table></section>
  <section class="box wide"><table id="perclass"><caption>Per-class IoU (%)</caption><thead></thead><tbody></tbody></table></section>
</div>
<div id="sweeps"></div>`,
    });
    this.timer = setInterval(() => this.tick(), 2000);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: WebviewToDashboard) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private post(m: DashboardToWebview) {
    if (this.ready) void this.panel.webview.postMessage(m);
  }

  /** Adds a file; for a run, also the evaluations of its checkpoints. */
  add(file: string, withEvals = true): void {
    const ref = itemRef(file);
    if (this.items.has(ref.id)) return this.sendFile(this.items.get(ref.id)!);
    const item: Item = { ref };
    this.items.set(ref.id, item);
    if (ref.kind === "run") {
      item.log = eventLog(ref.id);
      item.sub = item.log.subscribe((events) => {
        this.post({ type: "events", item: ref, events });
        this.sendStatus(item);
      });
      this.post({ type: "events", item: ref, events: item.log.events, reset: true });
      this.sendStatus(item);
      if (withEvals) for (const m of evalMetricsIn(ref.folder)) this.add(m);
    } else this.sendFile(item);
  }

  remove(id: string): void {
    const r = this.items.get(id);
    if (!r) return;
    r.sub?.dispose();
    this.items.delete(id);
    this.post({ type: "keep", keep: [...this.items.keys()] });
  }

  /** Paths of the items shown. */
  get files(): string[] {
    return [...this.items.keys()];
  }

  /** Re-sends the state of every run whose state changed. */
  refreshStatus(): void {
    for (const item of this.items.values()) if (item.ref.kind === "run") this.sendStatus(item);
  }

  private sendStatus(item: Item) {
    const status = Dashboard.statusOf(item.ref.id);
    const json = JSON.stringify(status);
    if (json === item.sent) return;
    item.sent = json;
    this.post({ type: "status", id: item.ref.id, status });
  }

  /** (Re)reads a metrics.json or sweep.json. */
  private sendFile(item: Item) {
    const { ref } = item;
    if (ref.kind === "run") return;
    let text: string;
    try {
      item.mtime = fs.statSync(ref.id).mtimeMs;
      text = fs.readFileSync(ref.id, "utf8");
    } catch (e) {
      item.mtime = -1;
      const error = `cannot read ${ref.id}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      return this.post(ref.kind === "metrics" ? { type: "metrics", item: ref, metrics: undefined, error } : { type: "sweep", item: ref, sweep: undefined, error });
    }
    try {
      const raw = JSON.parse(text);
      if (ref.kind === "metrics") {
        if (typeof raw?.miou !== "number") throw new Error("no mIoU in it");
        this.post({ type: "metrics", item: ref, metrics: raw as EvalMetrics });
      } else this.post({ type: "sweep", item: ref, sweep: normalizeSweep(raw) });
    } catch (e) {
      const error = `${path.basename(ref.id)}: ${(e as Error).message}`;
      this.post(ref.kind === "metrics" ? { type: "metrics", item: ref, metrics: undefined, error } : { type: "sweep", item: ref, sweep: undefined, error });
    }
  }

  /** Every 2 s: states (a process that ended, a folder that vanished), files that changed, new evaluations. */
  private tick() {
    if (!this.ready) return;
    for (const item of [...this.items.values()]) {
      if (item.ref.kind === "run") {
        item.log?.poll();
        this.sendStatus(item);
        for (const m of evalMetricsIn(item.ref.folder)) if (!this.items.has(m)) this.add(m);
      } else {
        let mtime = -1;
        try {
          mtime = fs.statSync(item.ref.id).mtimeMs;
        } catch {
          /* gone */
        }
        if (mtime !== item.mtime) this.sendFile(item);
      }
    }
  }

  private onMessage(m: WebviewToDashboard) {
    if (m.type === "ready") {
      // A fresh page (first load or reload): it starts empty, so send everything.
      this.ready = true;
      for (const r of m.items ?? []) if (!this.items.has(r.id)) this.add(r.id, false);
      this.post({ type: "keep", keep: [...this.items.keys()] });
      for (const item of this.items.values()) {
        item.sent = undefined;
        if (item.ref.kind === "run") {
          this.post({ type: "events", item: item.ref, events: item.log!.events, reset: true });
          this.sendStatus(item);
        } else this.sendFile(item);
      }
    } else if (m.type === "openRun") void vscode.commands.executeCommand("adaptseg.openRun");
    else if (m.type === "remove") this.remove(m.id);
    else if (m.type === "action") Dashboard.onAction(m.id);
  }

  private dispose() {
    clearInterval(this.timer);
    for (const r of this.items.values()) r.sub?.dispose();
    this.items.clear();
    for (const d of this.disposables) d.dispose();
    if (Dashboard.current === this) Dashboard.current = undefined;
  }
}
