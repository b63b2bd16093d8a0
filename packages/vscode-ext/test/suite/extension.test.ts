// Runs inside the real extension host of code-server, against the workspace that
// test/vscode.test.ts prepared: .vscode/settings.json (nodePath, dataRoot, checkpoint from a real
// 2-iteration CLI run; no cliPath: the extension finds the CLI through node_modules/.bin/adaptseg),
// images.txt (a CamVid image path), missing.txt (an image path that does not exist),
// experiments/*.json, bad.experiment.json (schema problems) and a tasks.json entry.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";

const COMMANDS = ["train", "resume", "stop", "evaluate", "dashboard", "segment", "newConfig", "openRun"].map((c) => `adaptseg.${c}`);
const CAMVID_CLASSES = ["sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car", "pedestrian", "bicyclist"];
const ws = () => vscode.workspace.workspaceFolders![0]!.uri;
const within = <T>(p: Thenable<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} did not finish within ${ms / 1000} s`)), ms))]);

describe("AdaptSeg in the real extension host", () => {
  before(async () => {
    const ext = vscode.extensions.all.find((e) => e.packageJSON.name === "adaptseg-vscode");
    assert.ok(ext, "the AdaptSeg extension is not loaded");
    await ext.activate();
  });

  it("registers all 8 commands", async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      COMMANDS.filter((c) => !all.has(c)),
      [],
    );
  });

  it("hovering an image path returns markdown with a data:image/png mask thumbnail and a legend (CLI found without adaptseg.cliPath)", async () => {
    assert.equal(vscode.workspace.getConfiguration("adaptseg").get("cliPath"), "", "the test workspace must leave cliPath empty");
    const uri = vscode.Uri.joinPath(ws(), "images.txt");
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const line = doc.lineAt(0).text;
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>("vscode.executeHoverProvider", uri, new vscode.Position(0, Math.floor(line.length / 2)));
    const md = hovers
      .flatMap((h) => h.contents)
      .map((c) => (typeof c === "string" ? c : c.value))
      .join("\n");
    const m = /!\[[^\]]*\]\(data:image\/png;base64,([A-Za-z0-9+/=]+)/.exec(md);
    assert.ok(m, `no data:image/png image in the hover markdown: ${md.slice(0, 400)}`);
    assert.ok(md.length < 100_000, `hover markdown is ${md.length} chars (VS Code cuts at 100,000)`);
    const png = Buffer.from(m[1]!, "base64");
    assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
    const width = png.readUInt32BE(16),
      height = png.readUInt32BE(20);
    assert.ok(width > 0 && width <= 256 && height > 0, `thumbnail is ${width}x${height}`);
    const text = md.replace(/\(data:[^)]*\)/g, "");
    assert.ok(
      CAMVID_CLASSES.some((c) => text.includes(c)),
      `no CamVid class name in the legend: ${text.slice(0, 400)}`,
    );
  });

  it("Segment Image on an image path that does not exist returns at once (an error, no file picker)", async () => {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(ws(), "missing.txt"));
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(0, 5, 0, 5);
    // A file picker would wait for an answer: the command must end by itself.
    const r = await within(vscode.commands.executeCommand("adaptseg.segment"), 10_000, "Segment Image on a missing path");
    assert.equal(r, undefined);
    const named = await within(vscode.commands.executeCommand("adaptseg.segment", "no/such/image.png"), 10_000, "Segment Image with a missing path argument");
    assert.equal(named, undefined);
  });

  it("schema problems of a config are errors (source adaptseg) at the field", async () => {
    const uri = vscode.Uri.joinPath(ws(), "experiments/bad.experiment.json");
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    let diags: vscode.Diagnostic[] = [];
    for (let i = 0; i < 60 && !diags.some((d) => d.source === "adaptseg"); i++) {
      await new Promise((r) => setTimeout(r, 250));
      diags = vscode.languages.getDiagnostics(uri);
    }
    const ours = diags.filter((d) => d.source === "adaptseg");
    assert.ok(ours.length >= 2, `adaptseg diagnostics: ${JSON.stringify(diags.map((d) => [d.source, d.severity, d.message]))}`);
    assert.ok(
      ours.every((d) => d.severity === vscode.DiagnosticSeverity.Error),
      "not all errors",
    );
    const wm = ours.find((d) => d.message.startsWith("model.widthMultiplier"));
    assert.ok(wm, ours.map((d) => d.message).join("; "));
    assert.equal(doc.getText(wm.range), "2");
    assert.ok(
      ours.some((d) => /unknown property "sizee"/.test(d.message)),
      ours.map((d) => d.message).join("; "),
    );
    // A valid config has none.
    const good = vscode.Uri.joinPath(ws(), "experiments/tiny.json");
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(good));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(
      vscode.languages
        .getDiagnostics(good)
        .filter((d) => d.source === "adaptseg")
        .map((d) => d.message),
      [],
    );
  });

  it("the adaptseg task type resolves a tasks.json entry and runs the real CLI", async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: "adaptseg" });
    const task = tasks.find((t) => t.definition.type === "adaptseg" && t.definition.command === "train");
    assert.ok(task, `no adaptseg train task among ${tasks.map((t) => t.name).join(", ") || "none"}`);
    const exec = task.execution as vscode.ProcessExecution;
    assert.ok(exec instanceof vscode.ProcessExecution, "the adaptseg task is not a ProcessExecution");
    assert.ok(exec.args.some((a) => a.endsWith("cli.js")) && exec.args.includes("train"), `args: ${exec.args.join(" ")}`);
    const ended = new Promise<number | undefined>((res) => {
      const d = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution.task.definition.type === "adaptseg") {
          d.dispose();
          res(e.exitCode);
        }
      });
    });
    await vscode.tasks.executeTask(task);
    assert.equal(await ended, 0, "the adaptseg train task failed");
    const events = fs
      .readFileSync(path.resolve(ws().fsPath, task.definition.out, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(
      events.some((e) => e.type === "iteration"),
      "no iteration event from the task's run",
    );
    assert.deepEqual(events.at(-1), { ...events.at(-1), type: "end", status: "completed" });
  });
});
