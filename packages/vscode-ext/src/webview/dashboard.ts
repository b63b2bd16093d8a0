// Dashboard webview script (browser, IIFE bundle): the runs shown with their state (a legend: one
// colour per run), a compact grid of uPlot charts (losses, each learning rate on its own axis, mIoU),
// the latest values per run, the evaluations, the per-class IoU of every run and checkpoint
// evaluation side by side, and sweeps (mean ± sd per setting, paired gain).
import type uPlotType from "uplot";
import type { RunEvent } from "@adaptseg/core/events";
import type { DashboardState, DashboardToWebview, EvalMetrics, ItemRef, WebviewToDashboard } from "../dashboard-protocol.js";
import { INTEGER_INCRS, gain, meanSd, pct, sig4 } from "../format.js";
import { actionLabel, type RunStatus } from "../status.js";
import { settingValues, type Sweep } from "../sweep.js";

declare const uPlot: typeof uPlotType;
declare function acquireVsCodeApi(): { postMessage(m: WebviewToDashboard): void; getState(): DashboardState | undefined; setState(s: DashboardState): void };
const vscode = acquireVsCodeApi();

interface EvalRow {
  iteration: number;
  miou: number;
  pixelAccuracy?: number;
  perClass: Record<string, number | null>;
}
interface RunView {
  ref: ItemRef;
  /** Iteration numbers, ascending; series values align with it (null where a term is absent). */
  iters: number[];
  series: Map<string, (number | null)[]>;
  evals: EvalRow[];
  latest: Map<string, number>;
  latestIteration?: number;
  stopIter?: number;
  received: number;
  status?: RunStatus;
}
interface MetricsView {
  ref: ItemRef;
  metrics?: EvalMetrics;
  error?: string;
}
interface SweepView {
  ref: ItemRef;
  sweep?: Sweep;
  error?: string;
}

const runs = new Map<string, RunView>();
const metrics = new Map<string, MetricsView>();
const sweeps = new Map<string, SweepView>();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: (Node | string)[]) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs))
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  e.append(...kids);
  return e;
};

// Run colours: distinct hues that read on dark and light themes; a run keeps its colour while shown.
const COLORS = ["#3e8ef7", "#f28e2b", "#2ca05a", "#e15759", "#b07aa1", "#c9a400", "#17becf", "#ff9da7", "#9c755f", "#7f7f7f"];
const DASHES: number[][] = [[], [6, 3], [2, 3], [10, 3, 2, 3], [1, 5]];
const colorIndex = new Map<string, number>();
function colorOf(id: string): string {
  if (!colorIndex.has(id)) {
    const used = new Set(colorIndex.values());
    let i = 0;
    while (used.has(i)) i++;
    colorIndex.set(id, i);
  }
  return COLORS[colorIndex.get(id)! % COLORS.length]!;
}

const GROUPS: { id: string; title: string; match: (term: string) => boolean }[] = [
  { id: "seg", title: "Segmentation loss", match: (t) => t.startsWith("seg") },
  { id: "adv", title: "Adversarial loss (G)", match: (t) => t.startsWith("adv") },
  { id: "d", title: "Discriminator loss", match: (t) => t.startsWith("d_") },
  { id: "lrG", title: "Learning rate G", match: (t) => t === "lr_G" },
  { id: "lrD", title: "Learning rate D", match: (t) => t === "lr_D" },
  { id: "other", title: "Other terms", match: () => true },
];

function newRun(ref: ItemRef): RunView {
  return { ref, iters: [], series: new Map(), evals: [], latest: new Map(), received: 0 };
}

function addEvent(r: RunView, e: RunEvent) {
  if (e.type === "iteration") {
    r.received++;
    // A resumed run repeats the iterations after its checkpoint: keep the newest values.
    let keep = r.iters.length;
    while (keep > 0 && r.iters[keep - 1]! >= e.iteration) keep--;
    if (keep < r.iters.length) {
      r.iters.length = keep;
      for (const s of r.series.values()) s.length = keep;
    }
    const values: Record<string, number> = { ...e.losses, lr_G: e.lr.G };
    if (e.lr.D !== undefined) values.lr_D = e.lr.D;
    for (const k of Object.keys(values)) if (!r.series.has(k)) r.series.set(k, new Array(r.iters.length).fill(null));
    r.iters.push(e.iteration);
    for (const [k, s] of r.series) s.push(k in values ? values[k]! : null);
    r.latest = new Map(Object.entries(values));
    r.latestIteration = e.iteration;
  } else if (e.type === "eval") {
    r.evals = r.evals.filter((x) => x.iteration < e.iteration);
    r.evals.push({ iteration: e.iteration, miou: e.miou, pixelAccuracy: e.pixelAccuracy, perClass: e.perClass ?? {} });
  } else if (e.type === "start") r.stopIter = e.stopIter;
}

/** A run's label for chart legends: "tiny-20250101-120133" -> "tiny 12:01:33". */
const shortLabel = (label: string) =>
  label
    .split("/")
    .map((p) => p.replace(/^(.*)-\d{8}-(\d\d)(\d\d)(\d\d)$/, "$1 $2:$3:$4").replace(/^eval-ckpt-0*(\d+)$/, "eval @$1"))
    .join(" ");

// ---- charts ----
interface Chart {
  plot: uPlotType;
  key: string;
  el: HTMLElement;
}
const charts = new Map<string, Chart>();
const CHART_HEIGHT = 150;
const chartWidth = (c: HTMLElement) => Math.max(200, Math.floor(c.clientWidth) - 4);

interface Col {
  run: RunView;
  term: string;
  x: number[];
  y: (number | null)[];
}

function drawChart(id: string, title: string, cols: Col[], opts: { multi: boolean; points?: boolean; perRunColor?: boolean; xMax?: number }) {
  const old = charts.get(id);
  if (!cols.length) {
    old?.plot.destroy();
    old?.el.remove();
    charts.delete(id);
    return;
  }
  const byRun = new Map<RunView, Col[]>();
  for (const c of cols) byRun.set(c.run, [...(byRun.get(c.run) ?? []), c]);
  const data = uPlot.join([...byRun.values()].map((cs) => [cs[0]!.x, ...cs.map((c) => c.y)] as uPlotType.AlignedData));
  const ordered = [...byRun.values()].flat();
  const key = ordered.map((c) => `${c.run.ref.id}\u0000${c.term}\u0000${colorOf(c.run.ref.id)}`).join("\u0001") + String(opts.multi) + String(opts.xMax);
  if (old && old.key === key) {
    old.plot.setData(data);
    return;
  }
  old?.plot.destroy();
  let box = old?.el;
  if (!box) {
    box = el("div", { class: "chart", "data-chart": id });
    const order = [...GROUPS.map((g) => g.id), "miou"];
    const next = [...$("charts").children].find((c) => order.indexOf((c as HTMLElement).dataset.chart!) > order.indexOf(id));
    $("charts").insertBefore(box, next ?? null);
  }
  const terms = [...new Set(ordered.map((c) => c.term))];
  const target = box;
  const plot = new uPlot(
    {
      title,
      width: chartWidth(box),
      height: CHART_HEIGHT,
      // One run: the legend tells the terms' colours. Several: colours are runs (the run list is their
      // legend) and a compact line-style legend below tells the terms apart.
      legend: { show: !opts.multi || !!opts.perRunColor, live: false },
      cursor: { points: { show: false } },
      // Evaluations are few points: the x axis spans the runs' iterations, not padding around them.
      scales: { x: opts.xMax !== undefined ? { time: false, range: () => [0, Math.max(1, opts.xMax!)] } : { time: false } },
      axes: [
        // Iterations are integers: integer increments only, labels without decimals.
        {
          stroke: "#8a8a8a",
          grid: { stroke: "rgba(128,128,128,0.18)" },
          ticks: { stroke: "rgba(128,128,128,0.3)" },
          incrs: INTEGER_INCRS,
          space: 36,
          values: (_u, ticks) => {
            const s = ticks.map((t) => String(Math.round(t)));
            target.dataset.xticks = s.join(",");
            return s;
          },
        },
        {
          stroke: "#8a8a8a",
          grid: { stroke: "rgba(128,128,128,0.18)" },
          ticks: { stroke: "rgba(128,128,128,0.3)" },
          // Wide enough for the longest label ("0.009781", "9.781e-5").
          size: (_u: uPlotType, values: string[] | null) => 20 + 7.5 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
          values: (_u, ticks) => {
            const s = ticks.map(sig4);
            target.dataset.yticks = s.join(",");
            return s;
          },
        },
      ],
      series: [
        { label: "iteration" },
        ...ordered.map((c) => {
          const ti = terms.indexOf(c.term);
          const stroke = opts.multi || opts.perRunColor ? colorOf(c.run.ref.id) : COLORS[ti % COLORS.length]!;
          return {
            label: opts.multi ? `${shortLabel(c.run.ref.label)}${terms.length > 1 || !opts.perRunColor ? ` ${c.term}` : ""}` : c.term,
            stroke,
            dash: opts.multi ? DASHES[ti % DASHES.length] : [],
            width: 1.5,
            spanGaps: true,
            points: { show: !!opts.points, size: 5, fill: stroke, stroke },
            value: (_u: uPlotType, v: number | null) => (v === null ? "–" : sig4(v)),
          };
        }),
      ],
    },
    data,
    box,
  );
  if (opts.multi && !opts.perRunColor) {
    const SVG = "http://www.w3.org/2000/svg";
    box.append(
      el(
        "div",
        { class: "terms-legend" },
        ...terms.map((t, ti) => {
          const svg = document.createElementNS(SVG, "svg");
          svg.setAttribute("width", "24");
          svg.setAttribute("height", "6");
          const line = document.createElementNS(SVG, "line");
          for (const [k, v] of Object.entries({ x1: "0", y1: "3", x2: "24", y2: "3", stroke: "currentColor", "stroke-width": "1.5", "stroke-dasharray": (DASHES[ti % DASHES.length] ?? []).join(" ") }))
            line.setAttribute(k, v);
          svg.append(line);
          return el("span", { class: "term-key", "data-term": t }, svg, t);
        }),
        el("span", { class: "runs-key" }, ...[...byRun.keys()].map((r) => el("span", {}, swatch(r.ref.id), shortLabel(r.ref.label)))),
      ),
    );
  }
  box.dataset.series = JSON.stringify(
    ordered.map((c) => ({ run: c.run.ref.id, term: c.term, color: opts.multi || opts.perRunColor ? colorOf(c.run.ref.id) : COLORS[terms.indexOf(c.term) % COLORS.length] })),
  );
  charts.set(id, { plot, key, el: box });
}

function renderCharts() {
  const list = [...runs.values()].filter((r) => r.iters.length);
  const multi = list.length > 1;
  const assigned = new Set<string>();
  for (const g of GROUPS) {
    const cols: Col[] = [];
    for (const run of list) for (const term of run.series.keys()) if (!assigned.has(term) && g.match(term)) cols.push({ run, term, x: run.iters, y: run.series.get(term)! });
    for (const r of list) for (const t of r.series.keys()) if (g.match(t)) assigned.add(t);
    drawChart(g.id, g.title, cols, { multi });
  }
  const evals = [...runs.values()].filter((r) => r.evals.length);
  drawChart(
    "miou",
    "mIoU (%) per evaluation",
    evals.map((run) => ({ run, term: "mIoU", x: run.evals.map((e) => e.iteration), y: run.evals.map((e) => e.miou) })),
    { multi: evals.length > 1, points: true, perRunColor: true, xMax: Math.max(...evals.map((r) => Math.max(r.latestIteration ?? 0, r.evals.at(-1)!.iteration))) },
  );
}

// ---- tables ----
function swatch(id: string) {
  const s = el("span", { class: "swatch" });
  s.style.backgroundColor = colorOf(id);
  return s;
}

function renderList() {
  const lis: HTMLElement[] = [];
  for (const r of runs.values()) {
    const s = r.status;
    const state = s?.state ?? "…";
    const it = r.latestIteration ?? s?.iteration;
    const stop = r.stopIter ?? s?.stopIter;
    const li = el(
      "li",
      { "data-id": r.ref.id, "data-kind": "run", "data-state": state, "data-color": colorOf(r.ref.id), title: r.ref.folder },
      swatch(r.ref.id),
      el("span", { class: "label" }, r.ref.label),
      el("span", { class: `state state-${state}` }, state),
      el("span", { class: "iter" }, it !== undefined ? `it ${it}${stop ? `/${stop}` : ""}` : ""),
    );
    if (s?.detail) {
      li.append(el("span", { class: "detail", title: s.detail }, s.detail));
    }
    const label = s?.state === "failed" ? actionLabel(s.action) : undefined;
    if (label) {
      const b = el("button", { class: "action" }, label);
      b.addEventListener("click", () => vscode.postMessage({ type: "action", id: r.ref.id }));
      li.append(b);
    }
    lis.push(li);
  }
  for (const m of metrics.values()) {
    const li = el(
      "li",
      { "data-id": m.ref.id, "data-kind": "metrics", "data-color": colorOf(m.ref.id), title: m.ref.id },
      swatch(m.ref.id),
      el("span", { class: "label" }, m.ref.label),
      el("span", { class: "state state-eval" }, "evaluation"),
      el(
        "span",
        { class: "detail" },
        m.error ??
          (m.metrics
            ? `mIoU ${pct(m.metrics.miou, 2)}%${m.metrics.images ? ` over ${m.metrics.images} images` : ""}${m.metrics.iteration !== undefined ? `, iteration ${m.metrics.iteration}` : ""}`
            : ""),
      ),
    );
    lis.push(li);
  }
  for (const s of sweeps.values()) {
    lis.push(
      el(
        "li",
        { "data-id": s.ref.id, "data-kind": "sweep", title: s.ref.id },
        el("span", { class: "label" }, s.ref.label),
        el("span", { class: "state state-sweep" }, "sweep"),
        el("span", { class: "detail" }, s.error ?? `${s.sweep?.settings.length ?? 0} settings`),
      ),
    );
  }
  for (const li of lis) {
    const rm = el("button", { class: "remove", title: "Remove from the dashboard" }, "×");
    rm.addEventListener("click", () => vscode.postMessage({ type: "remove", id: li.dataset.id! }));
    li.append(rm);
  }
  $("runs").replaceChildren(...lis);
  $("empty").hidden = lis.length > 0;
}

function renderLatest() {
  const shown = [...runs.values()].filter((r) => r.latest.size);
  const table = $("latest");
  table.hidden = !shown.length;
  const caption = table.querySelector("caption")!;
  caption.textContent = shown.length === 1 ? `Latest values: ${shown[0]!.ref.label}, iteration ${shown[0]!.latestIteration}` : "Latest values (last iteration of each run)";
  table.querySelector("thead")!.replaceChildren(
    el(
      "tr",
      {},
      el("th", {}, "term"),
      ...shown.map((r) => {
        const th = el("th", { "data-run": r.ref.id, title: r.ref.folder }, swatch(r.ref.id), shortLabel(r.ref.label), el("br"), el("small", {}, `it ${r.latestIteration}`));
        return th;
      }),
    ),
  );
  const terms = [...new Set(shown.flatMap((r) => [...r.latest.keys()]))];
  table.querySelector("tbody")!.replaceChildren(
    ...terms.map((term) =>
      el(
        "tr",
        { "data-term": term },
        el("td", { class: "term" }, term),
        ...shown.map((r) => {
          const v = r.latest.get(term);
          return el("td", { class: "value", "data-run": r.ref.id, title: v === undefined ? "" : String(v) }, v === undefined ? "–" : sig4(v));
        }),
      ),
    ),
  );
}

function renderEvals() {
  const rows = [...runs.values()].flatMap((r) =>
    r.evals.map((e) =>
      el(
        "tr",
        { "data-run": r.ref.id },
        el("td", { title: r.ref.folder }, swatch(r.ref.id), shortLabel(r.ref.label)),
        el("td", {}, String(e.iteration)),
        el("td", { class: "num" }, pct(e.miou, 2)),
        el("td", { class: "num" }, pct(e.pixelAccuracy, 2)),
      ),
    ),
  );
  for (const m of metrics.values())
    if (m.metrics)
      rows.push(
        el(
          "tr",
          { "data-run": m.ref.id },
          el("td", { title: m.ref.id }, swatch(m.ref.id), shortLabel(m.ref.label)),
          el("td", {}, m.metrics.iteration !== undefined ? String(m.metrics.iteration) : "–"),
          el("td", { class: "num" }, pct(m.metrics.miou, 2)),
          el("td", { class: "num" }, pct(m.metrics.pixelAccuracy, 2)),
        ),
      );
  $("evals").hidden = !rows.length;
  $("evals")
    .querySelector("tbody")!
    .replaceChildren(...rows);
}

/** Per-class IoU side by side: the latest evaluation of each run, and each checkpoint evaluation. */
function renderPerClass() {
  const cols: { id: string; label: string; sub: string; miou: number; perClass: Record<string, number | null> }[] = [];
  for (const r of runs.values()) {
    const e = r.evals.at(-1);
    if (e) cols.push({ id: r.ref.id, label: r.ref.label, sub: `training eval @${e.iteration}`, miou: e.miou, perClass: e.perClass });
  }
  for (const m of metrics.values())
    if (m.metrics)
      cols.push({ id: m.ref.id, label: m.ref.label, sub: `Evaluate Checkpoint${m.metrics.images ? `, ${m.metrics.images} images` : ""}`, miou: m.metrics.miou, perClass: m.metrics.perClass ?? {} });
  const table = $("perclass");
  table.hidden = !cols.length;
  table.parentElement!.hidden = !cols.length;
  table.querySelector("caption")!.textContent = cols.length > 1 ? "Per-class IoU (%) side by side (best per class in bold)" : "Per-class IoU (%)";
  table
    .querySelector("thead")!
    .replaceChildren(el("tr", {}, el("th", {}, "class"), ...cols.map((c) => el("th", { "data-col": c.id, title: c.id }, swatch(c.id), shortLabel(c.label), el("br"), el("small", {}, c.sub)))));
  const classes = [...new Set(cols.flatMap((c) => Object.keys(c.perClass)))];
  const row = (name: string, values: (number | null | undefined)[], attrs: Record<string, string>) => {
    const nums = values.filter((v): v is number => typeof v === "number");
    // The best of a row in bold, where the columns differ (a tie of zeros is no news).
    const best = cols.length > 1 && nums.length > 1 && Math.max(...nums) > Math.min(...nums) ? Math.max(...nums) : undefined;
    return el("tr", attrs, el("td", { class: "term" }, name), ...values.map((v, k) => el("td", { class: `num${v === best && best !== undefined ? " best" : ""}`, "data-col": cols[k]!.id }, pct(v))));
  };
  table.querySelector("tbody")!.replaceChildren(
    ...classes.map((c) =>
      row(
        c,
        cols.map((col) => col.perClass[c]),
        { "data-class": c },
      ),
    ),
    row(
      "mIoU",
      cols.map((c) => c.miou),
      { class: "total", "data-class": "(mIoU)" },
    ),
  );
}

function renderSweeps() {
  const sections = [...sweeps.values()].map((s) => {
    const box = el("section", { class: "sweep box", "data-id": s.ref.id });
    if (!s.sweep) {
      box.append(el("p", { class: "error" }, s.error ?? "not loaded"));
      return box;
    }
    const sw = s.sweep;
    const base = sw.baseline;
    const table = el(
      "table",
      { class: "sweep-table" },
      el(
        "caption",
        {},
        `Sweep ${sw.name ?? s.ref.label}: ${sw.metric} over seeds${base ? `; paired gain vs "${base}"` : ""}${
          sw.state
            ? ` (${sw.state}${
                sw.runStatus
                  ? `: ${Object.entries(sw.runStatus)
                      .map(([k, n]) => `${n} ${k}`)
                      .join(", ")}`
                  : ""
              })`
            : ""
        }`,
      ),
      el("thead", {}, el("tr", {}, ...["setting", "values", "seeds", `${sw.metric} mean ± sd`, "paired gain ± sd", "per seed"].map((h) => el("th", {}, h)))),
    );
    const tbody = el("tbody");
    for (const st of sw.settings) {
      const isBase = st.id === base;
      tbody.append(
        el(
          "tr",
          { "data-setting": st.id, class: isBase ? "baseline" : "" },
          el("td", {}, st.id + (isBase ? " (baseline)" : "")),
          el("td", { class: "values" }, settingValues(st.values)),
          el("td", { class: "num" }, sw.seeds ? `${st.runs.length}/${sw.seeds}` : String(st.runs.length)),
          el("td", { class: "num mean" }, meanSd(st.mean, st.sd)),
          el(
            "td",
            { class: `num gain${st.pairedGain && st.pairedGain.mean > 0 ? " up" : st.pairedGain && st.pairedGain.mean < 0 ? " down" : ""}` },
            isBase ? "—" : st.pairedGain ? gain(st.pairedGain.mean, st.pairedGain.sd) : "–",
          ),
          el(
            "td",
            { class: "seeds" },
            isBase ? st.runs.map((r) => `${r.seed}: ${pct(r.miou, 2)}`).join(", ") : (st.pairedGain?.perSeed ?? []).map((p) => `${p.seed}: ${p.gain >= 0 ? "+" : ""}${p.gain.toFixed(2)}`).join(", "),
          ),
        ),
      );
    }
    table.append(tbody);
    box.append(el("div", { class: "scroll" }, table));
    // Per-class means per setting, where the runs carry perClass.
    const withClasses = sw.settings.filter((x) => x.perClassMean);
    if (withClasses.length) {
      const classes = [...new Set(withClasses.flatMap((x) => Object.keys(x.perClassMean!)))];
      box.append(
        el(
          "div",
          { class: "scroll" },
          el(
            "table",
            { class: "sweep-classes" },
            el("caption", {}, "Per-class IoU (%), mean over seeds"),
            el("thead", {}, el("tr", {}, el("th", {}, "class"), ...withClasses.map((x) => el("th", {}, x.id)))),
            el("tbody", {}, ...classes.map((c) => el("tr", { "data-class": c }, el("td", { class: "term" }, c), ...withClasses.map((x) => el("td", { class: "num" }, pct(x.perClassMean![c])))))),
          ),
        ),
      );
    }
    return box;
  });
  $("sweeps").replaceChildren(...sections);
}

function renderTables() {
  renderList();
  renderLatest();
  renderEvals();
  renderPerClass();
  renderSweeps();
  document.body.dataset.points = String([...runs.values()].reduce((a, r) => a + r.received, 0));
  document.body.dataset.runs = String(runs.size);
}

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderCharts();
  });
}

function saveState() {
  vscode.setState({ items: [...runs.values(), ...metrics.values(), ...sweeps.values()].map((r) => r.ref) });
}

window.addEventListener("message", (ev: MessageEvent<DashboardToWebview>) => {
  const m = ev.data;
  if (m.type === "events") {
    let r = runs.get(m.item.id);
    if (!r || m.reset) {
      const old = r;
      runs.set(m.item.id, (r = newRun(m.item)));
      if (old) r.status = old.status;
      colorOf(m.item.id);
      saveState();
    }
    for (const e of m.events) addEvent(r, e);
  } else if (m.type === "status") {
    const r = runs.get(m.id);
    if (r) r.status = m.status;
  } else if (m.type === "metrics") {
    metrics.set(m.item.id, { ref: m.item, metrics: m.metrics, error: m.error });
    colorOf(m.item.id);
    saveState();
  } else if (m.type === "sweep") {
    sweeps.set(m.item.id, { ref: m.item, sweep: m.sweep, error: m.error });
    saveState();
  } else if (m.type === "keep") {
    for (const map of [runs, metrics, sweeps] as Map<string, unknown>[])
      for (const id of [...map.keys()])
        if (!m.keep.includes(id)) {
          map.delete(id);
          colorIndex.delete(id);
        }
    saveState();
  }
  // The tables update at once (tests and people read them); charts follow on the next frame.
  renderTables();
  render();
});

$("add-run").addEventListener("click", () => vscode.postMessage({ type: "openRun" }));
new ResizeObserver(() => {
  for (const c of charts.values()) c.plot.setSize({ width: chartWidth(c.el), height: CHART_HEIGHT });
}).observe($("charts"));
renderTables();
vscode.postMessage({ type: "ready", items: vscode.getState()?.items ?? [] });
