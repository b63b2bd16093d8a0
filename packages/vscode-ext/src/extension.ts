// AdaptSeg VS Code extension. Training and evaluation run the adaptseg CLI as `adaptseg` tasks (own
// process; no TF.js in the extension host); their events.jsonl feeds the status bar and the
// dashboard. Hovers and the image preview predict through a predict-server child process.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import type { CheckpointEvent, IterationEvent, RunEvent } from "@adaptseg/core/events";
import {
  buildTask, checkCli, errorFile, listRuns, newRunDir, root, runCheckpoints, runsFolder, taskOut, workspaceFolder,
  type AdaptsegTaskDefinition,
} from "./cli.js";
import { Dashboard } from "./dashboard.js";
import { eventLog } from "./runs.js";
import { PredictClient } from "./predictor.js";
import { ImageHoverProvider, imageAt } from "./hover.js";
import { SegmentationPreview } from "./preview.js";
import type { DashboardState } from "./protocol.js";

/** A running adaptseg task. */
interface Live {
  exec: vscode.TaskExecution;
  def: AdaptsegTaskDefinition;
  out?: string;
  pid?: number;
  started: number;
  sub?: vscode.Disposable;
  sawError: boolean;
  stopping: boolean;
  lastIter?: IterationEvent;
  lastCheckpoint?: CheckpointEvent;
  stopIter?: number;
  /** Called on every event and once more (with undefined) when the process ends. */
  waiters: ((e: RunEvent | undefined) => void)[];
  exitCode?: number;
  ended: boolean;
}

const CONFIG_GLOB = "**/{adaptseg*.json,experiments/*.json,examples/*.json}";
const IMAGE_RE = /\.(png|jpe?g)$/i;
const fmtSec = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`);

/** A command argument (Uri, Uri string or path) as a file path. */
function argPath(a: unknown): string | undefined {
  if (a instanceof vscode.Uri) return a.fsPath;
  if (typeof a === "string" && a) return /^[a-z][\w+.-]+:\/\//i.test(a) ? vscode.Uri.parse(a).fsPath : path.resolve(root(), a);
  return undefined;
}

export function activate(ctx: vscode.ExtensionContext): void {
  const ext = ctx.extensionUri;
  const client = new PredictClient();
  const live = new Map<vscode.TaskExecution, Live>();
  const status = vscode.window.createStatusBarItem("adaptseg.run", vscode.StatusBarAlignment.Left, 10);
  status.name = "AdaptSeg run";
  status.command = "adaptseg.dashboard";
  ctx.subscriptions.push(client, status);

  const reg = (id: string, fn: (...a: any[]) => unknown) =>
    ctx.subscriptions.push(vscode.commands.registerCommand(id, async (...a: unknown[]) => {
      try { return await fn(...a); } catch (e) { void vscode.window.showErrorMessage(`AdaptSeg: ${(e as Error).message}`); }
    }));

  /** False (and says why) in an untrusted workspace. */
  const trusted = (what: string) => {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window.showWarningMessage(`AdaptSeg: ${what} is disabled in an untrusted workspace: it runs the workspace's AdaptSeg CLI and the plugins its configs name. Trust the workspace to enable it.`, "Manage Workspace Trust")
      .then((b) => b && vscode.commands.executeCommand("workbench.trust.manage"));
    return false;
  };

  // ---- status bar ----
  const updateStatus = () => {
    const l = [...live.values()].filter((x) => x.def.command === "train" && !x.ended).at(-1);
    if (!l) return status.hide();
    const name = l.out ? path.basename(l.out) : "run";
    const it = l.lastIter;
    status.text = it
      ? `$(sync~spin) ${name}: it ${it.iteration}${l.stopIter ? `/${l.stopIter}` : ""} · ${it.itPerSec.toFixed(2)} it/s · ETA ${fmtSec(it.etaSec)}`
      : `$(sync~spin) ${name}: starting…`;
    status.tooltip = `AdaptSeg run ${l.out ?? ""}${l.stopping ? " (stopping)" : ""}: click for the dashboard`;
    status.show();
  };

  const findLive = (exec: vscode.TaskExecution) =>
    live.get(exec) ?? [...live.values()].find((l) => l.exec.task.name === exec.task.name && JSON.stringify(l.def) === JSON.stringify(exec.task.definition));

  /** An error notification that names the file and the field at fault, with a button to open the config. */
  const notifyError = (l: Live, message: string, file?: string, field?: string) => {
    const where = [file && !message.includes(path.basename(file)) && `in ${file}`, field && !message.includes(field) && `field "${field}"`].filter(Boolean).join(", ");
    void vscode.window.showErrorMessage(`AdaptSeg ${l.def.command} failed: ${message}${where ? ` (${where})` : ""}`, ...(l.def.config ? ["Open Config"] : []))
      .then((b) => { if (b) void vscode.window.showTextDocument(vscode.Uri.file(path.resolve(root(), l.def.config!))); });
  };

  /** The task's process ended (or it never started): final notifications. */
  const finish = (exec: vscode.TaskExecution, exitCode: number | undefined) => {
    const l = findLive(exec);
    if (!l || l.ended) return;
    if (l.out) eventLog(path.join(l.out, "events.jsonl")).poll(); // the last lines, before we stop listening
    l.sub?.dispose();
    l.ended = true;
    l.exitCode = exitCode;
    live.delete(l.exec);
    for (const w of l.waiters) w(undefined);
    updateStatus();
    const errFile = errorFile(l.def);
    let cliError: string | undefined;
    try {
      if (fs.statSync(errFile).mtimeMs >= l.started - 2000) cliError = JSON.parse(fs.readFileSync(errFile, "utf8")).message;
      fs.rmSync(errFile, { force: true });
    } catch { /* no error file: the CLI did not fail, or was killed */ }
    if (exitCode !== 0 && !l.sawError && !l.stopping) {
      notifyError(l, cliError ?? `the CLI ${exitCode === undefined ? "did not start or was killed" : `exited with code ${exitCode}`}; see the terminal "${l.exec.task.name}"`, l.def.config && path.resolve(root(), l.def.config));
    } else if (exitCode === 0 && l.def.command === "train" && !l.stopping) {
      const ck = l.lastCheckpoint;
      void vscode.window.showInformationMessage(`AdaptSeg: run ${path.basename(l.out ?? "")} finished at iteration ${l.lastIter?.iteration ?? "?"}${ck ? `; checkpoint ${ck.path}` : ""}.`);
    }
  };

  ctx.subscriptions.push(
    vscode.tasks.registerTaskProvider("adaptseg", {
      provideTasks: () => [],
      resolveTask: (t) => buildTask(t.definition as AdaptsegTaskDefinition, t.scope as vscode.WorkspaceFolder),
    }),
    vscode.tasks.onDidStartTaskProcess((e) => {
      const def = e.execution.task.definition as AdaptsegTaskDefinition;
      if (def.type !== "adaptseg") return;
      const l: Live = findLive(e.execution) ?? { exec: e.execution, def, out: taskOut(def), started: Date.now(), sawError: false, stopping: false, waiters: [], ended: false };
      l.pid = e.processId;
      live.set(e.execution, l);
      if (def.command === "train" && l.out && !l.sub) {
        const log = eventLog(path.join(l.out, "events.jsonl"));
        l.sub = log.subscribe((events) => {
          for (const ev of events) {
            if (ev.type === "start") l.stopIter = ev.stopIter;
            else if (ev.type === "iteration") l.lastIter = ev;
            else if (ev.type === "checkpoint") l.lastCheckpoint = ev;
            else if (ev.type === "error") { l.sawError = true; notifyError(l, ev.message, ev.file, ev.field); }
            for (const w of l.waiters) w(ev);
          }
          updateStatus();
        });
      }
      updateStatus();
    }),
    vscode.tasks.onDidEndTaskProcess((e) => finish(e.execution, e.exitCode)),
    // A task whose process never started (e.g. a wrong adaptseg.nodePath) ends without a process event.
    vscode.tasks.onDidEndTask((e) => void setTimeout(() => finish(e.execution, undefined), 1000)),
  );

  /** Waits until `pred` holds for an event of the run, or the process ends (then resolves undefined). */
  const waitFor = (l: Live, pred: (e: RunEvent) => boolean, ms: number) => new Promise<RunEvent | undefined | "timeout">((res) => {
    if (l.ended) return res(undefined);
    const timer = setTimeout(() => done("timeout"), ms);
    const w = (e: RunEvent | undefined) => { if (!e || pred(e)) done(e); };
    const done = (v: RunEvent | undefined | "timeout") => { clearTimeout(timer); l.waiters = l.waiters.filter((x) => x !== w); res(v); };
    l.waiters.push(w);
  });

  /** Starts a task and returns its Live record once its process runs. */
  const runTask = async (def: AdaptsegTaskDefinition): Promise<Live> => {
    checkCli();
    try { fs.rmSync(errorFile(def), { force: true }); } catch { /* none */ }
    const exec = await vscode.tasks.executeTask(buildTask(def));
    const l: Live = live.get(exec) ?? { exec, def, out: taskOut(def), started: Date.now(), sawError: false, stopping: false, waiters: [], ended: false };
    live.set(exec, l);
    return l;
  };

  const pickConfig = async (title: string): Promise<string | undefined> => {
    const files = (await vscode.workspace.findFiles(CONFIG_GLOB, "**/node_modules/**", 1000))
      .map((f) => ({ label: vscode.workspace.asRelativePath(f, false), f })).sort((a, b) => a.label.localeCompare(b.label));
    if (!files.length) {
      void vscode.window.showErrorMessage("AdaptSeg: no experiment config in the workspace (adaptseg*.json, experiments/*.json, examples/*.json).", "New Experiment Config")
        .then((b) => b && vscode.commands.executeCommand("adaptseg.newConfig"));
      return undefined;
    }
    return (await vscode.window.showQuickPick(files, { title, placeHolder: "experiment config JSON" }))?.f.fsPath;
  };

  const startTraining = async (def: AdaptsegTaskDefinition) => {
    const out = taskOut(def)!;
    const configs = ctx.workspaceState.get<Record<string, string>>("adaptseg.runConfigs", {});
    void ctx.workspaceState.update("adaptseg.runConfigs", { ...configs, [out]: path.resolve(root(), def.config!) });
    Dashboard.show(ext, [path.join(out, "events.jsonl")], true);
    const l = await runTask(def);
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `AdaptSeg: starting ${path.basename(out)}` },
      () => waitFor(l, (e) => e.type === "iteration", 600_000));
    return { out, events: path.join(out, "events.jsonl") };
  };

  reg("adaptseg.train", async (arg?: unknown) => {
    if (!trusted("Training")) return;
    const config = argPath(arg) ?? (await pickConfig("AdaptSeg: experiment config to train"));
    if (!config) return;
    if (!fs.existsSync(config)) throw new Error(`config file not found: ${config}`);
    return startTraining({ type: "adaptseg", command: "train", config, out: newRunDir(config) });
  });

  reg("adaptseg.resume", async (arg?: unknown) => {
    if (!trusted("Resuming a run")) return;
    let dir = argPath(arg);
    if (dir && !fs.statSync(dir).isDirectory()) dir = path.dirname(dir);
    if (!dir) {
      const runs = listRuns().filter((r) => r.newest);
      if (!runs.length) throw new Error(`no run with a checkpoint under ${runsFolder()} to resume`);
      dir = (await vscode.window.showQuickPick(runs.map((r) => ({ label: path.basename(r.dir), description: path.basename(r.newest!.file), detail: r.dir, dir: r.dir })),
        { title: "AdaptSeg: run to resume from its newest checkpoint" }))?.dir;
      if (!dir) return;
    }
    if (!runCheckpoints(dir).length) throw new Error(`no ckpt-*.safetensors in ${dir} to resume from`);
    // The config: remembered from Train Experiment, else a config named like the run, else ask.
    let config: string | undefined = ctx.workspaceState.get<Record<string, string>>("adaptseg.runConfigs", {})[dir];
    if (!config || !fs.existsSync(config)) {
      const stem = path.basename(dir).replace(/-\d{8}-\d{6}$/, "");
      const same = (await vscode.workspace.findFiles(CONFIG_GLOB, "**/node_modules/**", 1000)).filter((f) => path.basename(f.fsPath, ".json") === stem);
      config = same.length === 1 ? same[0]!.fsPath : await pickConfig(`AdaptSeg: the experiment config of ${path.basename(dir)}`);
    }
    if (!config) return;
    return startTraining({ type: "adaptseg", command: "train", config, out: dir, resume: true });
  });

  reg("adaptseg.stop", async () => {
    const runs = [...live.values()].filter((l) => l.def.command === "train" && !l.ended);
    if (!runs.length) return void vscode.window.showInformationMessage("AdaptSeg: no training run is live.");
    const l = runs.length === 1 ? runs[0] : (await vscode.window.showQuickPick(runs.map((r) => ({ label: path.basename(r.out ?? r.exec.task.name), r })), { title: "AdaptSeg: run to stop" }))?.r;
    if (!l) return;
    if (!l.pid) { l.exec.terminate(); return; }
    l.stopping = true;
    updateStatus();
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AdaptSeg: stopping ${path.basename(l.out ?? "run")}: checkpointing after the current iteration…` }, async () => {
      process.kill(l.pid!, "SIGINT");
      const r = await waitFor(l, (e) => e.type === "checkpoint" && e.reason === "signal", 300_000);
      if (r !== "timeout" && !l.ended) await waitFor(l, () => false, 30_000); // let the CLI finish writing and exit
      return r;
    });
    const ck = l.lastCheckpoint;
    if (result === "timeout") {
      void vscode.window.showWarningMessage(`AdaptSeg: ${path.basename(l.out ?? "run")} did not checkpoint within 5 minutes.`, "Terminate").then((b) => b && l.exec.terminate());
      return undefined;
    }
    if (ck && ck.reason === "signal") {
      void vscode.window.showInformationMessage(`AdaptSeg: stopped at iteration ${ck.iteration}; checkpoint saved to ${ck.path}`, "Resume Run", "Reveal Checkpoint").then((b) => {
        if (b === "Resume Run") void vscode.commands.executeCommand("adaptseg.resume", vscode.Uri.file(path.dirname(ck.path)));
        else if (b === "Reveal Checkpoint") void vscode.commands.executeCommand("revealFileInOS", vscode.Uri.file(ck.path));
      });
    } else void vscode.window.showWarningMessage(`AdaptSeg: the run ended (exit code ${l.exitCode ?? "?"})${ck ? `; its last checkpoint is ${ck.path}` : " without a checkpoint"}.`);
    return { iteration: ck?.iteration, checkpoint: ck?.path, reason: ck?.reason, exitCode: l.exitCode };
  });

  reg("adaptseg.evaluate", async (configArg?: unknown, ckptArg?: unknown) => {
    if (!trusted("Evaluation")) return;
    const config = argPath(configArg) ?? (await pickConfig("AdaptSeg: experiment config (its evaluation set) to evaluate on"));
    if (!config) return;
    let checkpoint = argPath(ckptArg);
    if (!checkpoint) {
      const items: (vscode.QuickPickItem & { file?: string })[] = listRuns().flatMap((r) => runCheckpoints(r.dir).map((c) => ({
        label: `${path.basename(r.dir)}/${path.basename(c.file)}`, description: new Date(c.mtime).toLocaleString(), file: c.file })));
      items.push({ label: "$(folder-opened) Browse…" });
      const pick = await vscode.window.showQuickPick(items, { title: "AdaptSeg: checkpoint to evaluate" });
      if (!pick) return;
      checkpoint = pick.file ?? (await vscode.window.showOpenDialog({ filters: { Checkpoints: ["safetensors"] }, defaultUri: vscode.Uri.file(runsFolder()) }))?.[0]?.fsPath;
      if (!checkpoint) return;
    }
    if (!fs.existsSync(checkpoint)) throw new Error(`checkpoint not found: ${checkpoint}`);
    const out = path.join(path.dirname(checkpoint), `eval-${path.basename(checkpoint, ".safetensors")}`);
    const l = await runTask({ type: "adaptseg", command: "eval", config, checkpoint, out });
    const metrics = path.join(out, "metrics.json");
    const started = Date.now();
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AdaptSeg: evaluating ${path.basename(checkpoint)}`, cancellable: true }, (_p, cancel) => {
      cancel.onCancellationRequested(() => l.exec.terminate());
      return waitFor(l, () => false, 24 * 3600_000);
    });
    if (l.exitCode !== 0) return; // the task-end handler has said why
    try {
      if (fs.statSync(metrics).mtimeMs < started - 60_000) throw new Error("stale");
      const m = JSON.parse(fs.readFileSync(metrics, "utf8")) as { miou: number; pixelAccuracy: number; images: number };
      void vscode.window.showInformationMessage(`AdaptSeg: mIoU ${m.miou.toFixed(2)}% (pixel accuracy ${m.pixelAccuracy.toFixed(2)}%) over ${m.images} images, ${path.basename(checkpoint)}.`, "Open metrics.json")
        .then((b) => b && vscode.window.showTextDocument(vscode.Uri.file(metrics)));
      return { metrics, miou: m.miou };
    } catch {
      void vscode.window.showErrorMessage(`AdaptSeg: evaluation ended but wrote no ${metrics}; see the terminal "${l.exec.task.name}".`);
      return undefined;
    }
  });

  reg("adaptseg.dashboard", () => {
    if (Dashboard.current) return void Dashboard.current.panel.reveal();
    const liveRuns = [...live.values()].filter((l) => l.def.command === "train" && l.out).map((l) => path.join(l.out!, "events.jsonl"));
    const newest = listRuns().map((r) => path.join(r.dir, "events.jsonl")).find((f) => fs.existsSync(f));
    Dashboard.show(ext, liveRuns.length ? liveRuns : newest ? [newest] : []);
  });

  reg("adaptseg.openRun", async (arg?: unknown, selected?: unknown) => {
    // From the explorer's context menu, `selected` holds every selected file.
    const args = Array.isArray(selected) && selected.length ? selected : Array.isArray(arg) ? arg : arg ? [arg] : [];
    let files = args.map(argPath).filter((f): f is string => !!f)
      .map((f) => (fs.existsSync(f) && fs.statSync(f).isDirectory() ? path.join(f, "events.jsonl") : f));
    if (!files.length) {
      const found = (await vscode.workspace.findFiles("**/events.jsonl", "**/node_modules/**", 500))
        .map((f) => ({ f: f.fsPath, mtime: fs.statSync(f.fsPath).mtimeMs })).sort((a, b) => b.mtime - a.mtime);
      const shown = new Set(Dashboard.current?.files ?? []);
      const items = found.map(({ f, mtime }) => ({ label: vscode.workspace.asRelativePath(path.dirname(f), false), description: new Date(mtime).toLocaleString(), picked: shown.has(f), f }));
      if (items.length) {
        const picks = await vscode.window.showQuickPick(items, { title: "AdaptSeg: runs to show in the dashboard (pick several to compare)", canPickMany: true });
        if (!picks) return;
        files = picks.map((p) => p.f);
      } else files = (await vscode.window.showOpenDialog({ title: "A run's events.jsonl", filters: { "Run events": ["jsonl"] }, canSelectMany: true }))?.map((u) => u.fsPath) ?? [];
      if (!files.length) return;
    }
    for (const f of files) if (!fs.existsSync(f)) throw new Error(`run events not found: ${f}`);
    Dashboard.show(ext, files);
    return files;
  });

  reg("adaptseg.newConfig", async (exampleArg?: string, nameArg?: string) => {
    const folder = workspaceFolder();
    if (!folder) throw new Error("open a workspace folder first: the config goes into its experiments/ folder");
    const dir = path.join(ext.fsPath, "dist", "examples");
    const examples = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => {
      const c = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      return { label: path.basename(f, ".json"), description: `${c.adaptation?.type}: ${c.source?.type} → ${c.target?.type}`, config: c as Record<string, unknown> };
    });
    const ex = exampleArg ? examples.find((e) => e.label === exampleArg.replace(/\.json$/, "")) : await vscode.window.showQuickPick(examples, { title: "AdaptSeg: start from which example?" });
    if (!ex) { if (exampleArg) throw new Error(`no example config "${exampleArg}"; examples: ${examples.map((e) => e.label).join(", ")}`); return; }
    const valid = (s: string) => (/^[A-Za-z0-9][\w.-]*$/.test(s) ? undefined : "letters, digits, '.', '_' and '-' only");
    const name = nameArg ?? (await vscode.window.showInputBox({ title: "AdaptSeg: name of the new experiment", value: `my-${ex.label}`, validateInput: valid }));
    if (!name) return;
    if (valid(name)) throw new Error(`bad experiment name "${name}": ${valid(name)}`);
    const file = path.join(folder.uri.fsPath, "experiments", `${name}.json`);
    if (fs.existsSync(file) && !nameArg && (await vscode.window.showWarningMessage(`${vscode.workspace.asRelativePath(file)} exists.`, { modal: true }, "Overwrite")) !== "Overwrite") return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ ...ex.config, name }, null, 2) + "\n");
    await vscode.window.showTextDocument(vscode.Uri.file(file));
    return file;
  });

  const preview = new SegmentationPreview(ext, client);
  reg("adaptseg.segment", async (arg?: unknown) => {
    let file = argPath(arg);
    if (!file) {
      const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input as { uri?: vscode.Uri } | undefined;
      const editor = vscode.window.activeTextEditor;
      file = input?.uri && IMAGE_RE.test(input.uri.fsPath) ? input.uri.fsPath : editor ? imageAt(editor.document, editor.selection.active)?.file : undefined;
    }
    file ??= (await vscode.window.showOpenDialog({ title: "AdaptSeg: image to segment", filters: { Images: ["png", "jpg", "jpeg"] }, defaultUri: workspaceFolder()?.uri }))?.[0]?.fsPath;
    if (!file) return;
    if (!fs.existsSync(file)) throw new Error(`image not found: ${file}`);
    await vscode.commands.executeCommand("vscode.openWith", vscode.Uri.file(file), SegmentationPreview.viewType);
  });

  ctx.subscriptions.push(
    vscode.languages.registerHoverProvider([{ scheme: "file" }, { scheme: "untitled" }], new ImageHoverProvider(client)),
    vscode.window.registerCustomEditorProvider(SegmentationPreview.viewType, preview, { webviewOptions: { retainContextWhenHidden: true }, supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerWebviewPanelSerializer(Dashboard.viewType, {
      deserializeWebviewPanel: async (panel, state: DashboardState | undefined) => Dashboard.revive(panel, ext, state),
    }),
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration("adaptseg")) client.clear(); }),
  );
}

export function deactivate(): void {}
