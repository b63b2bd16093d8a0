// Experiment configs in the workspace: which JSON files are configs (the `adaptseg.configFileNames`
// context key drives "Train Experiment" in the context menus), and schema problems as errors.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { JsonSyntaxError, looksLikeExperiment, parseTree, toValue, validateConfig } from "./jsonschema.js";

/** Files the contributed jsonValidation maps to the config schema (package.json, keep in step). */
export const SCHEMA_FILE_RE = /(?:^|[\\/])(?:adaptseg[^\\/]*\.json|[^\\/]+\.(?:adaptseg|experiment)\.json|experiments[\\/][^\\/]+\.json)$/;
const GLOB = "**/*.json";
const EXCLUDE = "{**/node_modules/**,**/.git/**,**/dist/**,**/.vscode/**}";

function readConfigLike(file: string): boolean {
  try {
    if (fs.statSync(file).size > 512 * 1024) return false;
    return looksLikeExperiment(toValue(parseTree(fs.readFileSync(file, "utf8"))));
  } catch {
    return false;
  }
}

export class ConfigIndex implements vscode.Disposable {
  private readonly files = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly diagnostics = vscode.languages.createDiagnosticCollection("adaptseg");
  private schema: Record<string, unknown> | undefined;
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(ext: vscode.Uri) {
    try {
      this.schema = JSON.parse(fs.readFileSync(path.join(ext.fsPath, "dist", "config.schema.json"), "utf8"));
    } catch {
      /* built without the CLI */
    }
    const watcher = vscode.workspace.createFileSystemWatcher(GLOB);
    this.disposables.push(
      this.diagnostics,
      watcher,
      watcher.onDidCreate((u) => this.update(u.fsPath)),
      watcher.onDidChange((u) => this.update(u.fsPath)),
      watcher.onDidDelete((u) => this.update(u.fsPath, false)),
      vscode.workspace.onDidOpenTextDocument((d) => this.check(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => this.diagnostics.delete(d.uri)),
    );
    for (const d of vscode.workspace.textDocuments) this.check(d);
    void this.scan();
  }

  dispose(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    for (const d of this.disposables) d.dispose();
  }

  /** Experiment configs found in the workspace (absolute paths). */
  list(): string[] {
    return [...this.files].sort();
  }

  isConfig(file: string): boolean {
    return this.files.has(path.resolve(file)) || SCHEMA_FILE_RE.test(file);
  }

  private async scan() {
    for (const u of await vscode.workspace.findFiles(GLOB, EXCLUDE, 5000)) if (readConfigLike(u.fsPath)) this.files.add(u.fsPath);
    this.publish();
  }

  private update(file: string, exists = true) {
    if (/[\\/](?:node_modules|\.git)[\\/]/.test(file)) return;
    const was = this.files.has(file);
    const is = exists && readConfigLike(file);
    if (is) this.files.add(file);
    else this.files.delete(file);
    if (was !== is) this.publish();
  }

  private publish() {
    // The context key holds file names: `resourceFilename in adaptseg.configFileNames` (the explorer's
    // resource URIs are the window's, not the extension host's, so names are what both sides share).
    void vscode.commands.executeCommand("setContext", "adaptseg.configFileNames", [...new Set(this.list().map((f) => path.basename(f)))]);
  }

  private schedule(doc: vscode.TextDocument) {
    const k = doc.uri.toString();
    clearTimeout(this.pending.get(k));
    this.pending.set(
      k,
      setTimeout(() => {
        this.pending.delete(k);
        this.check(doc);
      }, 300),
    );
  }

  /** Schema problems of an open config, as errors (VS Code's JSON service shows them as warnings). */
  check(doc: vscode.TextDocument): void {
    if (!this.schema || (doc.languageId !== "json" && doc.languageId !== "jsonc") || doc.uri.scheme === "git") return;
    const text = doc.getText();
    let tree;
    try {
      tree = parseTree(text);
    } catch (e) {
      if (e instanceof JsonSyntaxError) return void this.diagnostics.delete(doc.uri); // VS Code's JSON service reports syntax errors
      throw e;
    }
    const value = toValue(tree);
    if (!SCHEMA_FILE_RE.test(doc.uri.fsPath) && !looksLikeExperiment(value)) return void this.diagnostics.delete(doc.uri);
    if (doc.uri.scheme === "file" && looksLikeExperiment(value) && !this.files.has(doc.uri.fsPath)) {
      this.files.add(doc.uri.fsPath);
      this.publish();
    }
    this.diagnostics.set(
      doc.uri,
      validateConfig(tree, this.schema).map((p) => {
        const d = new vscode.Diagnostic(new vscode.Range(doc.positionAt(p.offset), doc.positionAt(p.offset + p.length)), `${p.path}: ${p.message}`, vscode.DiagnosticSeverity.Error);
        d.source = "adaptseg";
        return d;
      }),
    );
  }
}
