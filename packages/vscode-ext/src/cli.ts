// Settings, paths and the `adaptseg` task type: every CLI process (train, eval) runs as a VS Code
// task in its own process; nothing here loads TF.js.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolveCli } from "./discover.js";

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

/** The CLI script: the `adaptseg.cliPath` setting, else found in the workspace folders (the project
 * checkout's packages/cli/dist/cli.js, node_modules/.bin/adaptseg, node_modules/@adaptseg/cli, or
 * packages/core/dist/cli.js of checkouts before the core split). Throws a SetupError naming the
 * setting when there is none. */
export function cliPath(): string {
  const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  return resolveCli(settings().get<string>("cliPath") || undefined, root(), roots.length ? roots : [root()]);
}
/** Opens the Settings editor on an AdaptSeg setting: the workspace's settings where the workspace sets
 * it (that value is the one at fault), else the user's; all AdaptSeg settings listed, that one revealed. */
export function openSettings(setting: string): Thenable<unknown> {
  const v = settings().inspect(setting.replace(/^adaptseg\./, ""));
  const command = v?.workspaceValue !== undefined || v?.workspaceFolderValue !== undefined ? "workbench.action.openWorkspaceSettings" : "workbench.action.openSettings";
  return vscode.commands.executeCommand(command, { query: "@ext:adaptseg.adaptseg-vscode", revealSetting: { key: setting, edit: true } });
}

export const nodePath = () => (settings().get<string>("nodePath") || "node").trim();
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

/** The CLI script, or a SetupError naming the setting (see cliPath). */
export const checkCli = (): string => cliPath();

const ckptName = /^ckpt-.*\.safetensors$/;

/** Checkpoints in a run folder, newest first. */
export function runCheckpoints(dir: string): { file: string; mtime: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => ckptName.test(n))
    .map((n) => ({ file: path.join(dir, n), mtime: fs.statSync(path.join(dir, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime || b.file.localeCompare(a.file));
}

/** Run folders under the runs folder, newest checkpoint first (folders without any come last). */
export function listRuns(): { dir: string; newest?: { file: string; mtime: number } }[] {
  const base = runsFolder();
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return [];
  }
  return names
    .map((n) => path.join(base, n))
    .filter((d) => fs.statSync(d).isDirectory())
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

/** Where a task's CLI writes its error message if it fails (ADAPTSEG_ERROR_FILE). The same for the
 * same task in any window (a reloaded window finds it). */
export function errorFile(def: AdaptsegTaskDefinition): string {
  const key = `${def.command}:${def.out ? inRoot(def.out) : ""}:${def.config ? inRoot(def.config) : ""}:${def.checkpoint ? inRoot(def.checkpoint) : ""}`;
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  const dir = path.join(os.tmpdir(), "adaptseg-vscode");
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${def.command}-${(h >>> 0).toString(36)}.error.json`);
}

/** The CLI arguments of a task (paths resolved against the workspace folder). */
export function taskArgs(def: AdaptsegTaskDefinition, cli = cliPath()): string[] {
  const args = [cli, def.command];
  if (def.config) args.push("--config", inRoot(def.config));
  if (def.out) args.push("--out", inRoot(def.out));
  if (def.checkpoint) args.push("--checkpoint", inRoot(def.checkpoint));
  if (def.resume) args.push("--resume");
  if (def.maxIters !== undefined) args.push("--max-iters", String(def.maxIters));
  const data = dataRoot();
  if (data) args.push("--data", data);
  return [...args, ...backendArgs()];
}

/** The task of a definition. `cli` is the CLI script; when it cannot be found, the task runs a
 * one-line script that prints why (tasks.json entries resolve here before any check can speak). */
export function buildTask(def: AdaptsegTaskDefinition, scope: vscode.WorkspaceFolder | vscode.TaskScope = workspaceFolder() ?? vscode.TaskScope.Workspace, cli?: string): vscode.Task {
  const name = `${def.command}${def.resume ? " --resume" : ""} ${def.config ? path.basename(def.config) : ""}`.trim();
  let args: string[];
  try {
    args = taskArgs(def, cli ?? cliPath());
  } catch (e) {
    const message = (e as Error).message;
    args = [
      "-e",
      `require("fs").writeFileSync(process.env.ADAPTSEG_ERROR_FILE, JSON.stringify({ message: ${JSON.stringify(message)} })); console.error(${JSON.stringify(`adaptseg: ${message}`)}); process.exit(1)`,
    ];
  }
  const exec = new vscode.ProcessExecution(nodePath(), args, { cwd: root(), env: { ADAPTSEG_ERROR_FILE: errorFile(def) } });
  const task = new vscode.Task(def, scope, name, "adaptseg", exec);
  // The dashboard and the status bar show the run; the terminal comes forward on problems (and from
  // a failure notification's "Show Terminal"), so it does not take half of a small window.
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Silent, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  return task;
}

/** The run folder a train task writes to (absolute). */
export const taskOut = (def: AdaptsegTaskDefinition) => (def.out ? inRoot(def.out) : undefined);
