// Dashboard webview script (browser, IIFE bundle): live loss / learning-rate / mIoU curves of one or
// more runs on shared axes, drawn by the locally bundled uPlot (loaded before this script).
import type uPlotType from "uplot";
import type { RunEvent } from "@adaptseg/core/events";
import { decimal, type DashboardState, type DashboardToWebview, type RunRef, type WebviewToDashboard } from "../protocol.js";

declare const uPlot: typeof uPlotType;
declare function acquireVsCodeApi(): { postMessage(m: WebviewToDashboard): void; getState(): DashboardState | undefined; setState(s: DashboardState): void };
const vscode = acquireVsCodeApi();

interface Run {
  ref: RunRef;
  /** Iteration numbers, ascending; series values align with it (null where a term is absent). */
  iters: number[];
  series: Map<string, (number | null)[]>;
  evals: { iteration: number; miou: number }[];
  latest: Map<string, number>;
  iteration: number;
  received: number;
  status: string;
}

const runs = new Map<string, Run>();
let current: Run | undefined;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const GROUPS: { title: string; match: (term: string) => boolean }[] = [
  { title: "Segmentation loss", match: (t) => t.startsWith("seg") },
  { title: "Adversarial loss (G)", match: (t) => t.startsWith("adv") },
  { title: "Discriminator loss", match: (t) => t.startsWith("d_") },
  { title: "Learning rate", match: (t) => t.startsWith("lr_") },
  { title: "Other", match: () => true },
];
const COLORS = ["#4e9bff", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#bab0ac"];
const DASHES = [[], [8, 4], [2, 3], [12, 3, 3, 3]];

function newRun(ref: RunRef): Run {
  return { ref, iters: [], series: new Map(), evals: [], latest: new Map(), iteration: 0, received: 0, status: "waiting for events" };
}

function addEvent(r: Run, e: RunEvent) {
  if (e.type === "iteration") {
    r.received++;
    // A resumed run repeats the iterations after its checkpoint: keep the newest values.
    let keep = r.iters.length;
    while (keep > 0 && r.iters[keep - 1]! >= e.iteration) keep--;
    if (keep < r.iters.length) { r.iters.length = keep; for (const s of r.series.values()) s.length = keep; }
    const values: Record<string, number> = { ...e.losses, lr_G: e.lr.G };
    if (e.lr.D !== undefined) values.lr_D = e.lr.D;
    for (const [k, v] of Object.entries(values)) if (!r.series.has(k)) r.series.set(k, new Array(r.iters.length).fill(null));
    r.iters.push(e.iteration);
    for (const [k, s] of r.series) s.push(k in values ? values[k]! : null);
    r.latest = new Map(Object.entries(values));
    r.iteration = e.iteration;
    r.status = "live";
    current = r;
  } else if (e.type === "eval") {
    r.evals = r.evals.filter((x) => x.iteration < e.iteration);
    r.evals.push({ iteration: e.iteration, miou: e.miou });
  } else if (e.type === "start") {
    r.status = e.resumed ? `resumed at ${e.iteration}` : "started";
    r.iteration = e.iteration;
  } else if (e.type === "end") r.status = e.status === "failed" ? `failed: ${e.message ?? ""}` : `${e.status} at ${e.iteration}`;
  else if (e.type === "error") r.status = `error: ${e.message}`;
  else if (e.type === "checkpoint") r.status = `checkpoint @${e.iteration}`;
}

// ---- rendering ----
const charts = new Map<string, { plot: uPlotType; key: string; el: HTMLElement }>();

/** Axis labels: small values (learning rates) in exponent form, the rest with 4 significant digits. */
const tick = (v: number) => (v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(1) : String(+v.toPrecision(4)));

function chartWidth() {
  return Math.max(280, Math.min(720, $("charts").clientWidth - 8));
}

function drawChart(id: string, title: string, tables: { run: Run; ri: number; terms: string[]; x: number[]; ys: (number | null)[][] }[]) {
  const old = charts.get(id);
  const cols = tables.flatMap((t) => t.terms.map((term) => ({ t, term })));
  if (!cols.length) { old?.plot.destroy(); old?.el.remove(); charts.delete(id); return; }
  const data = uPlot.join(tables.map((t) => [t.x, ...t.ys] as uPlotType.AlignedData));
  const key = cols.map((c) => `${c.t.run.ref.id}\u0000${c.term}`).join("\u0001");
  if (old && old.key === key) { old.plot.setData(data); return; }
  old?.plot.destroy();
  old?.el.remove();
  const termIndex = new Map<string, number>();
  const many = tables.length > 1;
  const el = document.createElement("div");
  el.className = "chart";
  el.dataset.chart = id;
  $("charts").appendChild(el);
  const plot = new uPlot({
    title, width: chartWidth(), height: 220,
    scales: { x: { time: false } },
    axes: [{ stroke: "#999", grid: { stroke: "rgba(128,128,128,0.2)" } },
      { stroke: "#999", grid: { stroke: "rgba(128,128,128,0.2)" }, size: 64, values: (_u, ticks) => ticks.map(tick) }],
    series: [{ label: "iteration" }, ...cols.map(({ t, term }) => {
      if (!termIndex.has(term)) termIndex.set(term, termIndex.size);
      return { label: many ? `${t.run.ref.label}: ${term}` : term, stroke: COLORS[termIndex.get(term)! % COLORS.length], dash: DASHES[t.ri % DASHES.length], width: 1.5, spanGaps: true, points: { show: false } };
    })],
  }, data, el);
  charts.set(id, { plot, key, el });
}

function renderCharts() {
  const list = [...runs.values()];
  const assigned = new Set<string>();
  GROUPS.forEach((g, gi) => {
    drawChart(`g${gi}`, g.title, list.map((run, ri) => {
      const terms = [...run.series.keys()].filter((t) => !assigned.has(t) && g.match(t));
      return { run, ri, terms, x: run.iters, ys: terms.map((t) => run.series.get(t)!) };
    }).filter((t) => t.terms.length && t.x.length));
    for (const r of list) for (const t of r.series.keys()) if (g.match(t)) assigned.add(t);
  });
  drawChart("miou", "mIoU (%) per evaluation", list.map((run, ri) => ({ run, ri, terms: ["mIoU"], x: run.evals.map((e) => e.iteration), ys: [run.evals.map((e) => e.miou)] })).filter((t) => t.x.length));
}

function renderTables() {
  const tbody = $("latest").querySelector("tbody")!;
  const rows = new Map<string, HTMLTableRowElement>();
  for (const tr of tbody.querySelectorAll("tr")) rows.set(tr.dataset.term!, tr);
  const latest = current?.latest ?? new Map<string, number>();
  for (const [term, tr] of rows) if (!latest.has(term)) tr.remove();
  for (const [term, v] of latest) {
    let tr = rows.get(term);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.term = term;
      const name = document.createElement("td");
      name.className = "term";
      name.textContent = term;
      const value = document.createElement("td");
      value.className = "value";
      tr.append(name, value);
      tbody.appendChild(tr);
    }
    tr.querySelector("td.value")!.textContent = decimal(v);
  }
  $("iteration").textContent = current ? String(current.iteration) : "-";
  $("run-status").textContent = current ? `(${current.ref.label}, ${current.status})` : "";
  const evalBody = $("evals").querySelector("tbody")!;
  evalBody.replaceChildren(...[...runs.values()].flatMap((r) => r.evals.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.run = r.ref.id;
    for (const s of [r.ref.label, String(e.iteration), e.miou.toFixed(2)]) { const td = document.createElement("td"); td.textContent = s; tr.appendChild(td); }
    return tr;
  })));
  $("runs").replaceChildren(...[...runs.values()].map((r, ri) => {
    const li = document.createElement("li");
    li.dataset.run = r.ref.id;
    li.title = r.ref.id;
    const dash = document.createElement("span");
    dash.className = `dash dash-${ri % DASHES.length}`;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = `${r.ref.label} · it ${r.iteration} · ${r.status}`;
    const rm = document.createElement("button");
    rm.textContent = "×";
    rm.title = "Remove this run from the dashboard";
    rm.addEventListener("click", () => vscode.postMessage({ type: "removeRun", id: r.ref.id }));
    li.append(dash, label, rm);
    return li;
  }));
  $("empty").hidden = runs.size > 0;
  document.body.dataset.points = String([...runs.values()].reduce((a, r) => a + r.received, 0));
  document.body.dataset.runs = String(runs.size);
}

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderTables();
    renderCharts();
  });
}

function saveState() {
  vscode.setState({ runs: [...runs.values()].map((r) => r.ref) });
}

window.addEventListener("message", (ev: MessageEvent<DashboardToWebview>) => {
  const m = ev.data;
  if (m.type === "events") {
    let r = runs.get(m.run.id);
    if (!r) { runs.set(m.run.id, (r = newRun(m.run))); saveState(); }
    for (const e of m.events) addEvent(r, e);
  } else if (m.type === "runs") {
    for (const id of [...runs.keys()]) if (!m.keep.includes(id)) runs.delete(id);
    if (current && !runs.has(current.ref.id)) current = [...runs.values()].at(-1);
    saveState();
  }
  // The tables update at once (tests and people read them); charts follow on the next frame.
  renderTables();
  render();
});

$("add-run").addEventListener("click", () => vscode.postMessage({ type: "openRun" }));
new ResizeObserver(() => { for (const c of charts.values()) c.plot.setSize({ width: chartWidth(), height: 220 }); }).observe($("charts"));
renderTables();
vscode.postMessage({ type: "ready", runs: vscode.getState()?.runs ?? [] });
