// Hover an image path in any text file: a thumbnail of the image with the predicted mask overlaid,
// and a legend of the classes present.
import * as vscode from "vscode";
import * as fs from "node:fs";
import * as path from "node:path";
import { dataRoot, defaultCheckpoint, root } from "./cli.js";
import type { PredictClient } from "./predictor.js";
import { percent } from "./protocol.js";

/** Image path tokens: no spaces, quotes or brackets, ending in .png/.jpg/.jpeg. */
const IMAGE_TOKEN = /[^\s"'`()<>[\]{},;|=]+\.(?:png|jpe?g)(?![\w.])/gi;
/** VS Code cuts hover markdown at 100,000 characters; the thumbnail stays well below. */
const THUMB_CHARS = 60_000;
export const THUMB_WIDTH = 256;

export const UNTRUSTED =
  "prediction is disabled in an untrusted workspace: it runs the workspace's AdaptSeg CLI and the plugins named in the checkpoint's config. Trust the workspace (Workspaces: Manage Workspace Trust) to enable it.";

/** The image path under `pos` resolved against the document's folder, the workspace folder and dataRoot. */
export function imageAt(doc: vscode.TextDocument, pos: vscode.Position): { token: string; range: vscode.Range; file?: string } | undefined {
  const line = doc.lineAt(pos.line).text;
  for (const m of line.matchAll(IMAGE_TOKEN)) {
    const start = m.index!,
      end = start + m[0].length;
    if (pos.character < start || pos.character > end) continue;
    const token = m[0].replace(/^file:\/\//, "");
    const bases = [doc.uri.scheme === "file" ? path.dirname(doc.uri.fsPath) : undefined, root(), dataRoot()].filter((b): b is string => !!b);
    const file = path.isAbsolute(token) ? (fs.existsSync(token) ? token : undefined) : bases.map((b) => path.resolve(b, token)).find((f) => fs.existsSync(f));
    return { token, range: new vscode.Range(pos.line, start, pos.line, end), file };
  }
  return undefined;
}

export class ImageHoverProvider implements vscode.HoverProvider {
  constructor(private readonly client: PredictClient) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.Hover | undefined> {
    const hit = imageAt(doc, pos);
    if (!hit) return undefined;
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = { enabledCommands: ["workbench.action.openSettings", "workbench.trust.manage", "adaptseg.segment"] };
    md.supportHtml = true;
    const name = path.basename(hit.token);
    if (!vscode.workspace.isTrusted) {
      md.appendMarkdown(`**AdaptSeg**: ${UNTRUSTED} [Manage Workspace Trust](command:workbench.trust.manage)`);
      return new vscode.Hover(md, hit.range);
    }
    if (!hit.file) {
      md.appendMarkdown(
        `**AdaptSeg**: \`${hit.token}\` was not found next to this file, in the workspace folder${dataRoot() ? " or in `adaptseg.dataRoot`" : " (set `adaptseg.dataRoot` to look in your data folder too)"}.`,
      );
      return new vscode.Hover(md, hit.range);
    }
    const ck = defaultCheckpoint();
    if (!ck.file) {
      md.appendMarkdown(
        `**AdaptSeg**: no checkpoint to segment \`${name}\` with (${ck.why}). Set \`adaptseg.checkpoint\` ` +
          `([open settings](command:workbench.action.openSettings?${encodeURIComponent(JSON.stringify(["adaptseg.checkpoint"]))})) or train a run with **AdaptSeg: Train Experiment**.`,
      );
      return new vscode.Hover(md, hit.range);
    }
    try {
      const p = await this.client.predict(hit.file, ck.file, { maxWidth: THUMB_WIDTH, maxChars: THUMB_CHARS, alpha: 0.5 });
      md.appendMarkdown(`![${name.replace(/[[\]]/g, "")} with predicted mask](data:image/png;base64,${p.overlayPng})\n\n`);
      md.appendMarkdown(p.legend.map((l) => `<span style="color:#${l.color.map((c) => c.toString(16).padStart(2, "0")).join("")};">■</span> ${l.name} ${percent(l.share)}`).join(" &nbsp; ") + "\n\n");
      md.appendMarkdown(
        `<small>${path.basename(p.checkpoint)} (iteration ${p.iteration}) · [open preview](command:adaptseg.segment?${encodeURIComponent(JSON.stringify([vscode.Uri.file(hit.file).toString()]))})</small>`,
      );
    } catch (e) {
      md.appendMarkdown(`**AdaptSeg**: could not segment \`${name}\`: ${(e as Error).message}`);
    }
    return new vscode.Hover(md, hit.range);
  }
}
