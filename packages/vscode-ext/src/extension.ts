// AdaptSeg VS Code extension: runs the adaptseg CLI as a task (own process, no TF.js here),
// tails the run's events.jsonl into a status bar item.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseEvent, type RunEvent } from "@adaptseg/core/events";

interface AdaptsegTask extends vscode.TaskDefinition { command: "train" | "evaluate" | "predict"; config?: string; out?: string; resume?: boolean; checkpoint?: string }

function cfg() { return vscode.workspace.getConfiguration("adaptseg"); }
function root(): string | undefined { return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath; }
function cliPath(): string {
  const p = cfg().get<string>("cliPath");
  if (p) return p;
  return path.join(root() ?? ".", "node_modules/@adaptseg/core/dist/cli.js");
}

export function buildTask(def: AdaptsegTask, scope: vscode.WorkspaceFolder | vscode.TaskScope = vscode.TaskScope.Workspace): vscode.Task {
  const args = [cliPath(), def.command];
  if (def.config) args.push("--config", def.config);
  if (def.out) args.push("--out", def.out);
  if (def.checkpoint) args.push("--checkpoint", def.checkpoint);
  if (def.resume) args.push("--resume");
  args.push("--backend", cfg().get<string>("backend") ?? "wasm", "--json-events");
  const task = new vscode.Task(def, scope, `${def.command} ${def.config ? path.basename(def.config) : ""}`.trim(), "adaptseg",
    new vscode.ProcessExecution(process.execPath, args, { env: { ELECTRON_RUN_AS_NODE: "1" } }));
  return task;
}

let live: { exec: vscode.TaskExecution; out: string } | undefined;

export function activate(ctx: vscode.ExtensionContext) {
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  status.command = "adaptseg.dashboard";
  ctx.subscriptions.push(status);
  const untrusted = () => { if (vscode.workspace.isTrusted) return false;
    void vscode.window.showWarningMessage("AdaptSeg: training and prediction run workspace code and are disabled in an untrusted workspace. Trust the workspace to enable them."); return true; };

  ctx.subscriptions.push(vscode.tasks.registerTaskProvider("adaptseg", {
    provideTasks: () => [],
    resolveTask: (t) => buildTask(t.definition as AdaptsegTask, t.scope as vscode.WorkspaceFolder),
  }));

  async function startRun(config: string, resume: boolean) {
    const out = path.join(root() ?? ".", cfg().get<string>("runsFolder") ?? "runs", path.basename(config, ".json"));
    const exec = await vscode.tasks.executeTask(buildTask({ type: "adaptseg", command: "train", config, out, resume }));
    live = { exec, out };
    tail(path.join(out, "events.jsonl"), (e) => {
      if (e.type === "iteration") { status.text = `$(pulse) it ${e.iteration} · ${e.itPerSec.toFixed(2)} it/s · ETA ${Math.round(e.etaSec)}s`; status.show(); }
      else if (e.type === "error") void vscode.window.showErrorMessage(`AdaptSeg: ${e.message}${e.field ? ` (field ${e.field})` : ""}${e.file ? ` in ${e.file}` : ""}`);
      else if (e.type === "end") { status.hide(); live = undefined; }
    }, ctx);
  }

  const reg = (id: string, fn: (...a: any[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg("adaptseg.train", async (uri?: vscode.Uri) => {
    if (untrusted()) return;
    const file = uri?.fsPath ?? (await pickJson("Experiment config to train"));
    if (file) await startRun(file, false);
  });
  reg("adaptseg.resume", async () => { if (untrusted()) return; const f = await pickJson("Experiment config to resume"); if (f) await startRun(f, true); });
  reg("adaptseg.stop", () => { if (!live) return void vscode.window.showInformationMessage("AdaptSeg: no run is live."); live.exec.terminate(); });
  for (const id of ["adaptseg.evaluate", "adaptseg.dashboard", "adaptseg.segment", "adaptseg.newConfig", "adaptseg.openRun"])
    reg(id, () => vscode.window.showInformationMessage(`AdaptSeg: ${id} is not implemented yet.`));
}

async function pickJson(title: string): Promise<string | undefined> {
  const files = await vscode.workspace.findFiles("**/*.json", "**/node_modules/**", 500);
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: vscode.workspace.asRelativePath(f), f })), { title });
  return pick?.f.fsPath;
}

/** Follows a JSON-lines file as it grows, calling onEvent per parsed event. */
export function tail(file: string, onEvent: (e: RunEvent) => void, ctx: vscode.ExtensionContext) {
  let pos = 0, rest = "";
  const read = () => {
    if (!fs.existsSync(file)) return;
    const size = fs.statSync(file).size;
    if (size <= pos) return;
    const fd = fs.openSync(file, "r"); const buf = Buffer.alloc(size - pos);
    fs.readSync(fd, buf, 0, buf.length, pos); fs.closeSync(fd); pos = size;
    const lines = (rest + buf.toString("utf8")).split("\n"); rest = lines.pop() ?? "";
    for (const l of lines) { const e = parseEvent(l); if (e) onEvent(e); }
  };
  const timer = setInterval(read, 500);
  ctx.subscriptions.push({ dispose: () => clearInterval(timer) });
}

export function deactivate() {}
