// Settings, paths and the `adaptseg` task type: every CLI process (train, eval) runs as a VS Code
// task in its own process; nothing here loads TF.js.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface AdaptsegTaskDefinition extends vscode.TaskDefinition {
  command: "train" | "eval";
  config?: string;
  out?: string;
  resume?: boolean;
  checkpoint?: string;
  maxIters?: number;
}

export const settings = () => vscode.workspace.getConfiguration("adaptseg");
export const workspaceFolder = (): vscode.WorkspaceFolder | undefined => vscode.workspace.workspaceFolders?.[0];
export const root = (): string => workspaceFolder()?.uri.fsPath ?? process.cwd();

/** A setting's path resolved against the workspace folder. */
const inRoot = (p: string) => path.resolve(root(), p);

export function cliPath(): string {
  const p = settings().get<string>("cliPath");
  return p ? inRoot(p) : path.join(root(), "node_modules/@adaptseg/core/dist/cli.js");
}
export const nodePath = () => settings().get<string>("nodePath") || "node";
export const runsFolder = () => inRoot(settings().get<string>("runsFolder") || "runs");
export function dataRoot(): string | undefined {
  const d = settings().get<string>("dataRoot");
  return d ? inRoot(d) : undefined;
}
/** `--backend b`, or nothing for "auto" (the CLI's own choice). */
export function backendArgs(): string[] {
  const b = settings().get<string>("backend");
  return b && b !== "auto" ? ["--backend", b] : [];
}

/** Fails with a message naming the setting when the CLI is not where the settings say. */
export function checkCli(): string {
  const p = cliPath();
  if (!fs.existsSync(p))
    throw new Error(`the AdaptSeg CLI was not found at ${p}. Install @adaptseg/core in the workspace or set "adaptseg.cliPath" to its dist/cli.js.`);
  return p;
}

const ckptName = /^ckpt-.*\.safetensors$/;

/** Checkpoints in a run folder, newest first. */
export function runCheckpoints(dir: string): { file: string; mtime: number }[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  return names.filter((n) => ckptName.test(n)).map((n) => ({ file: path.join(dir, n), mtime: fs.statSync(path.join(dir, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime || b.file.localeCompare(a.file));
}

/** Run folders under the runs folder, newest checkpoint first (folders without any come last). */
export function listRuns(): { dir: string; newest?: { file: string; mtime: number } }[] {
  const base = runsFolder();
  let names: string[];
  try { names = fs.readdirSync(base); } catch { return []; }
  return names.map((n) => path.join(base, n)).filter((d) => fs.statSync(d).isDirectory())
    .map((dir) => ({ dir, newest: runCheckpoints(dir)[0], mtime: fs.statSync(dir).mtimeMs }))
    .sort((a, b) => (b.newest?.mtime ?? -1) - (a.newest?.mtime ?? -1) || b.mtime - a.mtime);
}

/** The checkpoint for hovers and previews: the setting, else the newest one of the newest run. */
export function defaultCheckpoint(): { file?: string; why: string } {
  const set = settings().get<string>("checkpoint");
  if (set) {
    const file = inRoot(set);
    return fs.existsSync(file) ? { file, why: "adaptseg.checkpoint" } : { why: `"adaptseg.checkpoint" names ${file}, which does not exist` };
  }
  const file = listRuns()[0]?.newest?.file;
  return file ? { file, why: "newest run" } : { why: `no ckpt-*.safetensors under ${runsFolder()}` };
}

/** `<runsFolder>/<configBaseName>-<YYYYMMDD-HHMMSS>`. */
export function newRunDir(config: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return path.join(runsFolder(), `${path.basename(config, ".json")}-${stamp}`);
}

/** Where a task's CLI writes its error message if it fails (ADAPTSEG_ERROR_FILE). */
export function errorFile(def: AdaptsegTaskDefinition): string {
  const key = `${def.command}:${def.out ? inRoot(def.out) : ""}:${def.config ?? ""}:${def.checkpoint ?? ""}`;
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return path.join(os.tmpdir(), `adaptseg-vscode-${process.pid}-${(h >>> 0).toString(36)}.error.json`);
}

/** The CLI arguments of a task (paths resolved against the workspace folder). */
export function taskArgs(def: AdaptsegTaskDefinition): string[] {
  const args = [cliPath(), def.command];
  if (def.config) args.push("--config", inRoot(def.config));
  if (def.out) args.push("--out", inRoot(def.out));
  if (def.checkpoint) args.push("--checkpoint", inRoot(def.checkpoint));
  if (def.resume) args.push("--resume");
  if (def.maxIters !== undefined) args.push("--max-iters", String(def.maxIters));
  const data = dataRoot();
  if (data) args.push("--data", data);
  return [...args, ...backendArgs()];
}

export function buildTask(def: AdaptsegTaskDefinition, scope: vscode.WorkspaceFolder | vscode.TaskScope = workspaceFolder() ?? vscode.TaskScope.Workspace): vscode.Task {
  const name = `${def.command}${def.resume ? " --resume" : ""} ${def.config ? path.basename(def.config) : ""}`.trim();
  const exec = new vscode.ProcessExecution(nodePath(), taskArgs(def), { cwd: root(), env: { ADAPTSEG_ERROR_FILE: errorFile(def) } });
  const task = new vscode.Task(def, scope, name, "adaptseg", exec);
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  return task;
}

/** The run folder a train task writes to (absolute). */
export const taskOut = (def: AdaptsegTaskDefinition) => (def.out ? inRoot(def.out) : undefined);
