// AdaptSeg VS Code extension. Training and evaluation run the adaptseg CLI as `adaptseg` tasks (own
// process; no TF.js in the extension host); the run tracker (tracker.ts) follows each process and its
// events.jsonl, survives window reloads, and feeds the status bar, the dashboard and the end
// notifications. Hovers and the image preview predict through a predict-server child process.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildTask, listRuns, newRunDir, openSettings, root, runCheckpoints, runsFolder, workspaceFolder, type AdaptsegTaskDefinition } from "./cli.js";
import { ConfigIndex } from "./configs.js";
import { Dashboard, diskStatus } from "./dashboard.js";
import type { DashboardState } from "./dashboard-protocol.js";
import { SetupError } from "./discover.js";
import { PredictClient } from "./predictor.js";
import { ImageHoverProvider, imageAt } from "./hover.js";
import { SegmentationPreview } from "./preview.js";
import { RunTracker, type TrackedRun } from "./tracker.js";

const CONFIG_GLOB = "**/{adaptseg*.json,*.adaptseg.json,*.experiment.json,experiments/*.json,examples/*.json}";
const IMAGE_RE = /\.(png|jpe?g)$/i;

/** A command argument (Uri, Uri string or path) as a file path. */
function argPath(a: unknown): string | undefined {
  if (a instanceof vscode.Uri) return a.fsPath;
  if (typeof a === "string" && a) return /^[a-z][\w+.-]+:\/\//i.test(a) ? vscode.Uri.parse(a).fsPath : path.resolve(root(), a);
  return undefined;
}

export function activate(ctx: vscode.ExtensionContext): void {
  const ext = ctx.extensionUri;
  const client = new PredictClient();
  const tracker = new RunTracker(ctx);
  const configs = new ConfigIndex(ext);
  ctx.subscriptions.push(client, tracker, configs);

  Dashboard.statusOf = (file) => tracker.get(path.dirname(file))?.status ?? diskStatus(file);
  Dashboard.onAction = (file) => {
    const r = tracker.get(path.dirname(file));
    if (r) void tracker.runAction(r);
  };
  ctx.subscriptions.push(tracker.onDidChange(() => Dashboard.current?.refreshStatus()));

  const reg = (id: string, fn: (...a: any[]) => unknown) =>
    ctx.subscriptions.push(
      vscode.commands.registerCommand(id, async (...a: unknown[]) => {
        try {
          return await fn(...a);
        } catch (e) {
          if (e instanceof SetupError) void vscode.window.showErrorMessage(`AdaptSeg: ${e.message}`, "Open Settings").then((b) => b && openSettings(e.setting));
          else void vscode.window.showErrorMessage(`AdaptSeg: ${(e as Error).message}`);
        }
      }),
    );

  /** False (and says why) in an untrusted workspace. */
  const trusted = (what: string) => {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showWarningMessage(
        `AdaptSeg: ${what} is disabled in an untrusted workspace: it runs the workspace's AdaptSeg CLI and the plugins its configs name. Trust the workspace to enable it.`,
        "Manage Workspace Trust",
      )
      .then((b) => b && vscode.commands.executeCommand("workbench.trust.manage"));
    return false;
  };

  const pickConfig = async (title: string): Promise<string | undefined> => {
    const found = new Set([...(await vscode.workspace.findFiles(CONFIG_GLOB, "**/node_modules/**", 1000)).map((f) => f.fsPath).filter((f) => !f.endsWith(".sweep.json")), ...configs.list()]);
    const files = [...found].map((f) => ({ label: vscode.workspace.asRelativePath(f, false), f })).sort((a, b) => a.label.localeCompare(b.label));
    if (!files.length) {
      void vscode.window
        .showErrorMessage('AdaptSeg: no experiment config in the workspace (a JSON file with "adaptation" and "source", e.g. experiments/*.json).', "New Experiment Config")
        .then((b) => b && vscode.commands.executeCommand("adaptseg.newConfig"));
      return undefined;
    }
    return (await vscode.window.showQuickPick(files, { title, placeHolder: "experiment config JSON" }))?.f;
  };

  const result = (r: TrackedRun) => ({ out: r.key, events: r.eventsFile, state: r.status.state, detail: r.status.detail, pid: r.pid });

  const startTraining = async (def: AdaptsegTaskDefinition) => {
    const out = path.resolve(root(), def.out!);
    const runConfigs = ctx.workspaceState.get<Record<string, string>>("adaptseg.runConfigs", {});
    await ctx.workspaceState.update("adaptseg.runConfigs", { ...runConfigs, [out]: path.resolve(root(), def.config!) });
    const events = path.join(out, "events.jsonl");
    const r = await tracker.start(def);
    Dashboard.show(ext, [events], true);
    if (!r.final)
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `AdaptSeg: starting ${r.name}` },
        () =>
          new Promise<void>((res) => {
            const d = tracker.onDidChange((x) => {
              if (x === r && (x.status.state !== "starting" || x.ended)) {
                d.dispose();
                res();
              }
            });
          }),
      );
    return result(r);
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
    if (dir && fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) dir = path.dirname(dir);
    if (!dir) {
      const busy = (dir: string) => {
        const t = tracker.get(dir);
        return !!t && !t.ended && !t.final;
      };
      const runs = listRuns().filter((r) => r.newest && !busy(r.dir));
      if (!runs.length) throw new Error(`no run with a checkpoint under ${runsFolder()} to resume`);
      dir = (
        await vscode.window.showQuickPick(
          runs.map((r) => ({ label: path.basename(r.dir), description: path.basename(r.newest!.file), detail: r.dir, dir: r.dir })),
          { title: "AdaptSeg: run to resume from its newest checkpoint" },
        )
      )?.dir;
      if (!dir) return;
    }
    if (!fs.existsSync(dir)) throw new Error(`run folder not found: ${dir}`);
    const live = tracker.get(dir);
    if (live && !live.ended && !live.final) throw new Error(`${live.name} is still running${live.pid ? ` (pid ${live.pid})` : ""}: stop it first`);
    if (!runCheckpoints(dir).length) throw new Error(`no ckpt-*.safetensors in ${dir} to resume from`);
    // The config: remembered from Train Experiment, else a config named like the run, else ask.
    let config: string | undefined = ctx.workspaceState.get<Record<string, string>>("adaptseg.runConfigs", {})[path.resolve(dir)] ?? live?.def.config;
    if (!config || !fs.existsSync(config)) {
      const stem = path.basename(dir).replace(/-\d{8}-\d{6}$/, "");
      const same = (await vscode.workspace.findFiles(CONFIG_GLOB, "**/node_modules/**", 1000)).filter((f) => path.basename(f.fsPath, ".json") === stem);
      config = same.length === 1 ? same[0]!.fsPath : await pickConfig(`AdaptSeg: the experiment config of ${path.basename(dir)}`);
    }
    if (!config) return;
    return startTraining({ type: "adaptseg", command: "train", config, out: dir, resume: true });
  });

  reg("adaptseg.stop", async (arg?: unknown) => {
    const runs = tracker.active();
    if (!runs.length) return void vscode.window.showInformationMessage("AdaptSeg: no training run is live.");
    const wanted = argPath(arg);
    const r = wanted
      ? runs.find((x) => x.key === path.resolve(wanted))
      : runs.length === 1
        ? runs[0]
        : (
            await vscode.window.showQuickPick(
              runs.map((x) => ({ label: x.name, description: `${x.status.state}${x.status.iteration !== undefined ? `, iteration ${x.status.iteration}` : ""}`, r: x })),
              { title: "AdaptSeg: run to stop" },
            )
          )?.r;
    if (!r) return;
    tracker.stop(r);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AdaptSeg: stopping ${r.name}: checkpointing after the current iteration…` }, () =>
      Promise.race([r.whenFinal().then(() => false), new Promise<boolean>((res) => (timer = setTimeout(() => res(true), 300_000)))]),
    );
    clearTimeout(timer);
    if (timedOut) {
      void vscode.window.showWarningMessage(`AdaptSeg: ${r.name} did not checkpoint within 5 minutes.`, "Terminate").then((b) => b && tracker.kill(r));
      return result(r);
    }
    return { ...result(r), iteration: r.status.iteration, checkpoint: r.status.checkpoint };
  });

  reg("adaptseg.evaluate", async (configArg?: unknown, ckptArg?: unknown) => {
    if (!trusted("Evaluation")) return;
    const config = argPath(configArg) ?? (await pickConfig("AdaptSeg: experiment config (its evaluation set) to evaluate on"));
    if (!config) return;
    let checkpoint = argPath(ckptArg);
    if (!checkpoint) {
      const items: (vscode.QuickPickItem & { file?: string })[] = listRuns().flatMap((r) =>
        runCheckpoints(r.dir).map((c) => ({
          label: `${path.basename(r.dir)}/${path.basename(c.file)}`,
          description: new Date(c.mtime).toLocaleString(),
          file: c.file,
        })),
      );
      items.push({ label: "$(folder-opened) Browse…" });
      const pick = await vscode.window.showQuickPick(items, { title: "AdaptSeg: checkpoint to evaluate" });
      if (!pick) return;
      checkpoint = pick.file ?? (await vscode.window.showOpenDialog({ filters: { Checkpoints: ["safetensors"] }, defaultUri: vscode.Uri.file(runsFolder()) }))?.[0]?.fsPath;
      if (!checkpoint) return;
    }
    if (!fs.existsSync(checkpoint)) throw new Error(`checkpoint not found: ${checkpoint}`);
    const out = path.join(path.dirname(checkpoint), `eval-${path.basename(checkpoint, ".safetensors")}`);
    const metrics = path.join(out, "metrics.json");
    const started = Date.now();
    const r = await tracker.start({ type: "adaptseg", command: "eval", config, checkpoint, out });
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AdaptSeg: evaluating ${path.basename(checkpoint)}`, cancellable: true }, (_p, cancel) => {
      cancel.onCancellationRequested(() => tracker.kill(r));
      return r.whenEnded();
    });
    if (r.status.state === "failed") return result(r); // the tracker has said why
    try {
      if (fs.statSync(metrics).mtimeMs < started - 60_000) throw new Error("stale");
      const m = JSON.parse(fs.readFileSync(metrics, "utf8")) as { miou: number; pixelAccuracy: number; images: number };
      Dashboard.show(ext, [metrics]);
      void vscode.window
        .showInformationMessage(
          `AdaptSeg: mIoU ${m.miou.toFixed(2)}% (pixel accuracy ${m.pixelAccuracy.toFixed(2)}%) over ${m.images} images, ${path.basename(checkpoint)}. The per-class IoU is in the dashboard.`,
          "Open metrics.json",
        )
        .then((b) => b && vscode.window.showTextDocument(vscode.Uri.file(metrics)));
      return { ...result(r), metrics, miou: m.miou };
    } catch {
      void vscode.window.showErrorMessage(`AdaptSeg: evaluation ended but wrote no ${metrics}; see the terminal "${r.exec?.task.name ?? "eval"}".`);
      return result(r);
    }
  });

  reg("adaptseg.dashboard", () => {
    if (Dashboard.current) return void Dashboard.current.panel.reveal();
    const liveRuns = tracker.active().map((r) => r.eventsFile);
    const newest = listRuns()
      .map((r) => path.join(r.dir, "events.jsonl"))
      .find((f) => fs.existsSync(f));
    Dashboard.show(ext, liveRuns.length ? liveRuns : newest ? [newest] : []);
  });

  /** A folder or file argument as the file the dashboard shows. */
  const showable = (f: string) => {
    if (fs.existsSync(f) && fs.statSync(f).isDirectory())
      return ["events.jsonl", "sweep.json", "metrics.json"].map((n) => path.join(f, n)).find((x) => fs.existsSync(x)) ?? path.join(f, "events.jsonl");
    return f;
  };

  reg("adaptseg.openRun", async (arg?: unknown, selected?: unknown) => {
    // From the explorer's context menu, `selected` holds every selected file.
    const args = Array.isArray(selected) && selected.length ? selected : Array.isArray(arg) ? arg : arg ? [arg] : [];
    let files = args
      .map(argPath)
      .filter((f): f is string => !!f)
      .map(showable);
    if (!files.length) {
      const found = (await vscode.workspace.findFiles("**/{events.jsonl,metrics.json,sweep.json}", "**/node_modules/**", 1000))
        .map((f) => ({ f: f.fsPath, mtime: fs.statSync(f.fsPath).mtimeMs }))
        .sort((a, b) => b.mtime - a.mtime);
      const shown = new Set(Dashboard.current?.files ?? []);
      const kind = (f: string) => (f.endsWith("sweep.json") ? "sweep" : f.endsWith("metrics.json") ? "evaluation" : "run");
      const items = found.map(({ f, mtime }) => ({
        label: vscode.workspace.asRelativePath(path.dirname(f), false),
        description: `${kind(f)} · ${new Date(mtime).toLocaleString()}`,
        picked: shown.has(f),
        f,
      }));
      if (items.length) {
        const picks = await vscode.window.showQuickPick(items, { title: "AdaptSeg: runs, evaluations and sweeps to show in the dashboard (pick several to compare)", canPickMany: true });
        if (!picks) return;
        files = picks.map((p) => p.f);
      } else
        files =
          (
            await vscode.window.showOpenDialog({ title: "A run's events.jsonl, an evaluation's metrics.json or a sweep.json", filters: { "AdaptSeg results": ["jsonl", "json"] }, canSelectMany: true })
          )?.map((u) => u.fsPath) ?? [];
      if (!files.length) return;
    }
    for (const f of files) if (!fs.existsSync(f)) throw new Error(`not found: ${f}`);
    Dashboard.show(ext, files);
    return files;
  });

  reg("adaptseg.newConfig", async (exampleArg?: string, nameArg?: string) => {
    const folder = workspaceFolder();
    if (!folder) throw new Error("open a workspace folder first: the config goes into its experiments/ folder");
    const dir = path.join(ext.fsPath, "dist", "examples");
    const examples = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => {
        const c = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
        return { label: path.basename(f, ".json"), description: `${c.adaptation?.type}: ${c.source?.type} → ${c.target?.type}`, config: c as Record<string, unknown> };
      });
    const ex = exampleArg ? examples.find((e) => e.label === exampleArg.replace(/\.json$/, "")) : await vscode.window.showQuickPick(examples, { title: "AdaptSeg: start from which example?" });
    if (!ex) {
      if (exampleArg) throw new Error(`no example config "${exampleArg}"; examples: ${examples.map((e) => e.label).join(", ")}`);
      return;
    }
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
      if (input?.uri && IMAGE_RE.test(input.uri.fsPath)) file = input.uri.fsPath;
      else if (editor) {
        const hit = imageAt(editor.document, editor.selection.active);
        // An image path under the cursor that does not resolve: say so (no file picker).
        if (hit && !hit.file) {
          void vscode.window
            .showErrorMessage(
              `AdaptSeg: image not found: "${hit.token}" (looked next to ${path.basename(editor.document.uri.fsPath)}, in the workspace folder${vscode.workspace.getConfiguration("adaptseg").get("dataRoot") ? " and in adaptseg.dataRoot" : "; set adaptseg.dataRoot to look in your data folder too"}).`,
              "Open Settings",
            )
            .then((b) => b && openSettings("adaptseg.dataRoot"));
          return undefined;
        }
        file = hit?.file;
      }
      // Nothing named: ask.
      file ??= (await vscode.window.showOpenDialog({ title: "AdaptSeg: image to segment", filters: { Images: ["png", "jpg", "jpeg"] }, defaultUri: workspaceFolder()?.uri }))?.[0]?.fsPath;
      if (!file) return;
    }
    if (!fs.existsSync(file)) throw new Error(`image not found: ${file}`);
    if (!IMAGE_RE.test(file)) throw new Error(`not a PNG or JPEG image: ${file}`);
    preview.open(vscode.Uri.file(file));
    return file;
  });

  ctx.subscriptions.push(
    // tasks.json entries of type "adaptseg" (the tracker follows them like the commands' runs).
    vscode.tasks.registerTaskProvider("adaptseg", {
      provideTasks: () => [],
      resolveTask: (t) => buildTask(t.definition as AdaptsegTaskDefinition, t.scope as vscode.WorkspaceFolder),
    }),
    vscode.languages.registerHoverProvider([{ scheme: "file" }, { scheme: "untitled" }], new ImageHoverProvider(client)),
    vscode.window.registerCustomEditorProvider(SegmentationPreview.viewType, preview, { webviewOptions: { retainContextWhenHidden: true }, supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerWebviewPanelSerializer(Dashboard.viewType, {
      deserializeWebviewPanel: async (panel, state: DashboardState | undefined) => Dashboard.revive(panel, ext, state),
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("adaptseg")) client.clear();
    }),
  );
  // After a window reload: the runs that were live, their state, the end notifications missed.
  tracker.restore();
}

export function deactivate(): void {}
