// Webview pages: local scripts and styles from dist/media only, under a strict CSP with a nonce.
import * as vscode from "vscode";
import { randomBytes } from "node:crypto";

export const mediaRoot = (ext: vscode.Uri) => vscode.Uri.joinPath(ext, "dist", "media");

export function webviewHtml(webview: vscode.Webview, ext: vscode.Uri, opts: { title: string; body: string; scripts: string[]; styles: string[] }): string {
  const nonce = randomBytes(16).toString("base64");
  const media = (f: string) => webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot(ext), f)).toString();
  const csp = ["default-src 'none'", `img-src ${webview.cspSource} data:`, `style-src ${webview.cspSource}`, `font-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${opts.styles.map((s) => `<link rel="stylesheet" href="${media(s)}">`).join("\n")}
<title>${opts.title}</title>
</head>
<body>
${opts.body}
${opts.scripts.map((s) => `<script nonce="${nonce}" src="${media(s)}"></script>`).join("\n")}
</body>
</html>`;
}
