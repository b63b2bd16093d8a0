// The segmentation preview: a read-only custom editor for png/jpg files showing the image, the
// predicted mask and the overlay side by side, a legend with each class's share, an opacity slider.
import * as vscode from "vscode";
import * as path from "node:path";
import { defaultCheckpoint } from "./cli.js";
import { mediaRoot, webviewHtml } from "./html.js";
import { UNTRUSTED } from "./hover.js";
import type { PredictClient } from "./predictor.js";
import type { PreviewToWebview, WebviewToPreview } from "./protocol.js";

export const PREVIEW_WIDTH = 1024;

export class SegmentationPreview implements vscode.CustomReadonlyEditorProvider {
  static readonly viewType = "adaptseg.segmentationPreview";
  static readonly panelType = "adaptseg.segmentation";

  constructor(
    private readonly ext: vscode.Uri,
    private readonly client: PredictClient,
  ) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => {} };
  }

  resolveCustomEditor(doc: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    this.render(panel, doc.uri);
  }

  /** Segment Image: a panel of its own, titled "Segmentation: <file>" (VS Code's image tab is
   * titled with the bare file name), beside the image. One panel per image. */
  open(uri: vscode.Uri): vscode.WebviewPanel {
    const old = this.panels.get(uri.fsPath);
    if (old) {
      old.reveal();
      return old;
    }
    const panel = vscode.window.createWebviewPanel(
      SegmentationPreview.panelType,
      `Segmentation: ${path.basename(uri.fsPath)}`,
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: true, retainContextWhenHidden: true },
    );
    panel.iconPath = vscode.Uri.joinPath(this.ext, "dist", "media", "segment.svg");
    this.panels.set(uri.fsPath, panel);
    panel.onDidDispose(() => this.panels.delete(uri.fsPath));
    this.render(panel, uri);
    return panel;
  }

  private readonly panels = new Map<string, vscode.WebviewPanel>();

  private render(panel: vscode.WebviewPanel, uri: vscode.Uri): void {
    const doc = { uri };
    const dir = vscode.Uri.file(path.dirname(doc.uri.fsPath));
    panel.webview.options = { enableScripts: true, localResourceRoots: [mediaRoot(this.ext), dir] };
    const name = path.basename(doc.uri.fsPath);
    const src = panel.webview.asWebviewUri(doc.uri).toString();
    const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    panel.webview.html = webviewHtml(panel.webview, this.ext, {
      title: `Segmentation: ${esc(name)}`,
      styles: ["style.css"],
      scripts: ["preview.js"],
      body: `<header><h1>${esc(name)}</h1>
  <label>overlay opacity <input id="opacity" type="range" min="0" max="1" step="0.05" value="0.5"></label>
  <button id="retry">Segment again</button></header>
<p id="status">Segmenting…</p>
<div class="panes">
  <figure><img id="image" src="${esc(src)}" alt="image"><figcaption>image</figcaption></figure>
  <figure><img id="mask" alt="predicted mask"><figcaption>predicted mask</figcaption></figure>
  <figure class="stack"><img class="under" src="${esc(src)}" alt=""><img id="overlay" alt="overlay"><figcaption>overlay</figcaption></figure>
</div>
<ul id="legend"></ul>
<p id="checkpoint"></p>`,
    });
    const post = (m: PreviewToWebview) => void panel.webview.postMessage(m);
    const run = async () => {
      if (!vscode.workspace.isTrusted) return post({ type: "error", message: `AdaptSeg: ${UNTRUSTED}` });
      const ck = defaultCheckpoint();
      if (!ck.file) return post({ type: "error", message: `AdaptSeg: no checkpoint to segment with (${ck.why}). Set "adaptseg.checkpoint" or train a run with "AdaptSeg: Train Experiment".` });
      post({ type: "status", message: `Segmenting with ${path.basename(ck.file)}…` });
      try {
        const p = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `AdaptSeg: segmenting ${name}` }, () =>
          this.client.predict(doc.uri.fsPath, ck.file!, { maxWidth: PREVIEW_WIDTH }),
        );
        // The overlay pane stacks the colour mask over the image at the slider's opacity.
        const mask = `data:image/png;base64,${p.colorPng}`;
        post({ type: "prediction", mask, overlay: mask, width: p.width, height: p.height, legend: p.legend, checkpoint: p.checkpoint, iteration: p.iteration });
      } catch (e) {
        post({ type: "error", message: `AdaptSeg: could not segment ${doc.uri.fsPath}: ${(e as Error).message}` });
      }
    };
    panel.webview.onDidReceiveMessage((m: WebviewToPreview) => {
      if (m.type === "ready" || m.type === "retry") void run();
    });
  }
}
