// Segmentation preview webview script (browser, IIFE bundle).
import { percent, type PreviewState, type PreviewToWebview, type WebviewToPreview } from "../protocol.js";

declare function acquireVsCodeApi(): { postMessage(m: WebviewToPreview): void; getState(): PreviewState | undefined; setState(s: PreviewState): void };
const vscode = acquireVsCodeApi();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const opacity = $<HTMLInputElement>("opacity");
const overlay = $<HTMLImageElement>("overlay");
const applyOpacity = () => {
  overlay.style.opacity = opacity.value;
  vscode.setState({ opacity: Number(opacity.value) });
};
opacity.value = String(vscode.getState()?.opacity ?? 0.5);
opacity.addEventListener("input", applyOpacity);
applyOpacity();
$("retry").addEventListener("click", () => vscode.postMessage({ type: "retry" }));

window.addEventListener("message", (ev: MessageEvent<PreviewToWebview>) => {
  const m = ev.data;
  const status = $("status");
  status.classList.toggle("error", m.type === "error");
  if (m.type === "status" || m.type === "error") {
    status.textContent = m.message;
    status.hidden = false;
    return;
  }
  status.hidden = true;
  $<HTMLImageElement>("mask").src = m.mask;
  overlay.src = m.overlay;
  document.body.dataset.maskWidth = String(m.width);
  $("legend").replaceChildren(
    ...m.legend.map((l) => {
      const li = document.createElement("li");
      li.dataset.class = l.name;
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.backgroundColor = `rgb(${l.color.join(",")})`;
      li.append(sw, `${l.name} ${percent(l.share)}`);
      li.title = `${l.pixels} pixels`;
      return li;
    }),
  );
  $("checkpoint").textContent = `checkpoint ${m.checkpoint} (iteration ${m.iteration})`;
});
vscode.postMessage({ type: "ready" });
