// The training dashboard: a webview panel fed with the events of one or more runs (live or
// finished), drawn by uPlot in the webview (src/webview/dashboard.ts).
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { eventLog, type EventLog } from "./runs.js";
import { mediaRoot, webviewHtml } from "./html.js";
import type { DashboardState, DashboardToWebview, RunRef, WebviewToDashboard } from "./protocol.js";

export class Dashboard {
  static readonly viewType = "adaptseg.dashboard";
  static current: Dashboard | undefined;

  private readonly runs = new Map<string, { log: EventLog; sub: vscode.Disposable }>();
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  /** Opens (or reveals) the dashboard showing `files` (events.jsonl paths); `replace` drops the other runs. */
  static show(ext: vscode.Uri, files: string[], replace = false): Dashboard {
    if (!Dashboard.current) {
      const panel = vscode.window.createWebviewPanel(Dashboard.viewType, "AdaptSeg Dashboard", vscode.ViewColumn.Beside,
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [mediaRoot(ext)] });
      Dashboard.current = new Dashboard(panel, ext);
    } else Dashboard.current.panel.reveal(undefined, true);
    const d = Dashboard.current;
    if (replace) for (const id of [...d.runs.keys()]) if (!files.some((f) => path.resolve(f) === id)) d.remove(id);
    for (const f of files) d.add(f);
    return d;
  }

  /** Restores a dashboard after a window reload from its persisted state. */
  static revive(panel: vscode.WebviewPanel, ext: vscode.Uri, state: DashboardState | undefined): void {
    Dashboard.current?.panel.dispose();
    panel.webview.options = { enableScripts: true, localResourceRoots: [mediaRoot(ext)] };
    const d = (Dashboard.current = new Dashboard(panel, ext));
    for (const r of state?.runs ?? []) d.add(r.id);
  }

  private constructor(readonly panel: vscode.WebviewPanel, ext: vscode.Uri) {
    panel.webview.html = webviewHtml(panel.webview, ext, {
      title: "AdaptSeg Dashboard",
      styles: ["uPlot.min.css", "style.css"],
      scripts: ["uPlot.iife.min.js", "dashboard.js"],
      body: `<header>
  <h1>AdaptSeg Dashboard</h1>
  <div class="now">iteration <span id="iteration">-</span> <span id="run-status"></span></div>
  <button id="add-run" title="Compare with another run's events.jsonl">Add run…</button>
</header>
<ul id="runs"></ul>
<p id="empty">No run shown yet: run <b>AdaptSeg: Train Experiment</b> or <b>AdaptSeg: Open Run</b>.</p>
<section class="tables">
  <table id="latest"><caption>Latest values</caption><thead><tr><th>term</th><th>value</th></tr></thead><tbody></tbody></table>
  <table id="evals"><caption>mIoU per evaluation</caption><thead><tr><th>run</th><th>iteration</th><th>mIoU %</th></tr></thead><tbody></tbody></table>
</section>
<div id="charts"></div>`,
    });
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: WebviewToDashboard) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private post(m: DashboardToWebview) {
    void this.panel.webview.postMessage(m);
  }

  private ref(log: EventLog): RunRef {
    return { id: log.file, label: log.label };
  }

  add(file: string): void {
    const log = eventLog(file);
    if (this.runs.has(log.file)) return;
    const sub = log.subscribe((events) => { if (this.ready) this.post({ type: "events", run: this.ref(log), events }); });
    this.runs.set(log.file, { log, sub });
    if (this.ready) this.post({ type: "events", run: this.ref(log), events: log.events });
  }

  remove(id: string): void {
    const r = this.runs.get(id);
    if (!r) return;
    r.sub.dispose();
    this.runs.delete(id);
    this.post({ type: "runs", keep: [...this.runs.keys()] });
  }

  /** Files of the runs shown. */
  get files(): string[] {
    return [...this.runs.keys()];
  }

  private onMessage(m: WebviewToDashboard) {
    if (m.type === "ready") {
      // A fresh page (first load or reload): it starts empty, so send everything.
      this.ready = true;
      for (const r of m.runs) if (!this.runs.has(r.id) && fs.existsSync(r.id)) this.add(r.id);
      for (const { log } of this.runs.values()) this.post({ type: "events", run: this.ref(log), events: log.events });
    } else if (m.type === "openRun") void vscode.commands.executeCommand("adaptseg.openRun");
    else if (m.type === "removeRun") this.remove(m.id);
  }

  private dispose() {
    for (const r of this.runs.values()) r.sub.dispose();
    this.runs.clear();
    for (const d of this.disposables) d.dispose();
    if (Dashboard.current === this) Dashboard.current = undefined;
  }
}
