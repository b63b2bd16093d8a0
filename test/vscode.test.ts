// VS Code extension: manifest and bundle checks, then the real thing: the .vsix installed into
// code-server (VS Code 1.100.3), the extension's own mocha suite inside the real extension host,
// and a headless Chromium acting as a user: Train Experiment -> live dashboard, Evaluate Checkpoint,
// two runs compared, a sweep, the explorer's context menu, hover and preview, then a run that
// survives a window reload and is stopped, resumed, and fails when its folder is deleted; a run
// whose Node cannot start; a config with errors. Nothing is mocked: the CLI trains on the shared
// CamVid frames. Screenshots of each state go to test-output/vscode/ (git-ignored).
// Run alone with `npx mocha --no-config -n import=tsx --timeout 120000 test/vscode.test.ts`.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { format } from "node:util";
import { build } from "esbuild";
import { repoRoot, sharedData, tmp } from "./helpers.js";
import { chromiumPath, installVsix, isolatedEnv, launchChromium, listExtensions, startCodeServer, vsceBin, waitFor, type CodeServer } from "./vscode-harness.js";

const ext = join(repoRoot, "packages/vscode-ext");
/** The CLI: packages/cli after the core split, packages/core before; ADAPTSEG_VSCODE_CLI names another. */
const cli =
  process.env.ADAPTSEG_VSCODE_CLI ?? [join(repoRoot, "packages/cli/dist/cli.js"), join(repoRoot, "packages/core/dist/cli.js")].find((f) => existsSync(f)) ?? join(repoRoot, "packages/cli/dist/cli.js");
const buildEnv = { ...process.env, ADAPTSEG_CLI: cli };
const shots = join(repoRoot, "test-output/vscode");
const COMMANDS = ["Train Experiment", "Resume Run", "Stop Run", "Evaluate Checkpoint", "Show Training Dashboard", "Segment Image", "New Experiment Config", "Open Run"];
const IMAGE = "camvid/CamVid/val/0016E5_07959.png"; // relative to the data root

/** Builds the extension once per test process (tsc makes it slow on a busy machine). */
let built = false;
function buildExtension() {
  if (!built) execFileSync(process.execPath, [join(ext, "build.mjs")], { stdio: "inherit", env: buildEnv });
  built = true;
}

describe("vscode-ext", function () {
  this.timeout(180_000);
  before(buildExtension);

  it("declares the AdaptSeg commands, the adaptseg task type, jsonValidation and a Train menu for configs only", () => {
    const pkg = JSON.parse(readFileSync(join(ext, "package.json"), "utf8"));
    const titles = pkg.contributes.commands.filter((c: any) => c.category === "AdaptSeg").map((c: any) => c.title);
    for (const t of COMMANDS) assert.ok(titles.includes(t), `missing command ${t}`);
    assert.equal(pkg.contributes.taskDefinitions[0].type, "adaptseg");
    assert.deepEqual(
      pkg.contributes.jsonValidation.map((j: any) => j.fileMatch),
      ["adaptseg*.json", "*.adaptseg.json", "*.experiment.json", "experiments/*.json"],
    );
    for (const j of pkg.contributes.jsonValidation) assert.equal(j.url, "./dist/config.schema.json");
    const train = pkg.contributes.menus["explorer/context"].find((m: any) => m.command === "adaptseg.train");
    assert.match(train.when, /adaptseg\.configFileNames/);
    assert.notEqual(train.when, "resourceExtname == .json");
    assert.equal(pkg.contributes.configuration.title, "AdaptSeg");
  });

  it("bundles without TF.js and generates the config schema", () => {
    const js = readFileSync(join(ext, "dist/extension.cjs"), "utf8");
    assert.ok(!/tfjs|@tensorflow/.test(js), "TF.js in the extension bundle");
    assert.ok(/require\("vscode"\)/.test(js), "vscode must stay external");
    const schema = JSON.parse(readFileSync(join(ext, "dist/config.schema.json"), "utf8"));
    assert.equal(schema.type, "object");
    assert.ok(Object.keys(schema.properties ?? {}).length > 0);
  });
});

/** A tiny CamVid experiment: 1/8-width network on 64x48 frames (>= 32 px for the discriminator). */
function tinyConfig(iters: number, seed = 5, lr = 0.01) {
  const size = { width: 64, height: 48 };
  const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
  return {
    name: "tiny",
    seed,
    model: { type: "vgg16-deeplab", widthMultiplier: 0.125 },
    discriminator: { type: "fc", widthMultiplier: 0.125 },
    adaptation: { type: "output-space", gan: "vanilla", lambdaAdv: [0.01] },
    source: camvid({ excludeSequences: ["0001TP"] }, 6),
    target: camvid({ sequences: ["0001TP"] }, 4),
    evaluation: { dataset: camvid({ sequences: ["0001TP"], fraction: [0.9, 1] }, 2) },
    training: { maxIters: iters, stopIter: iters, snapshotEvery: iters, keepSnapshots: 1, optimizerG: { lr } },
  };
}

/** A sweep.json as `adaptseg sweep` writes it (format adaptseg-sweep/1, packages/sweep/src/types.ts):
 * two settings over three seeds, the statistics precomputed as that command does. */
const run = (setting: string, seed: number, miou: number, perClass: Record<string, number | null> = { road: 60, sky: 70 }) => ({
  id: `${setting}/seed-${seed}`,
  setting,
  seed,
  stage: "main",
  outDir: `/sweeps/lambda/${setting}/seed-${seed}`,
  status: "completed",
  metrics: { miou, pixelAccuracy: 80, perClass, iteration: 6 },
});
const SWEEP_RUNS = [
  run("source-only", 1, 20.5),
  run("source-only", 2, 21.5),
  run("source-only", 3, 22.5),
  run("output-space", 1, 23, { road: 60, sky: 70 }),
  run("output-space", 2, 25, { road: 64, sky: 72 }),
  run("output-space", 3, 24, { road: 62, sky: null }),
];
const SWEEP = {
  format: "adaptseg-sweep/1",
  name: "lambda",
  outDir: "/sweeps/lambda",
  updatedAt: "2025-01-01T00:00:00.000Z",
  state: "done",
  executor: { kind: "local", workers: 1 },
  axes: [{ path: "adaptation.type", label: "type", values: ["source-only", "output-space"] }],
  seeds: [1, 2, 3],
  baseline: "source-only",
  metric: "miou",
  settings: [
    {
      id: "source-only",
      values: { "adaptation.type": "source-only" },
      perSeed: { 1: 20.5, 2: 21.5, 3: 22.5 },
      runs: SWEEP_RUNS.slice(0, 3).map((r) => ({ id: r.id, seed: r.seed, miou: r.metrics.miou, perClass: r.metrics.perClass })),
      miou: { n: 3, mean: 21.5, sd: 1 },
      perClass: { road: 60, sky: 70 },
    },
    {
      id: "output-space",
      values: { "adaptation.type": "output-space", "adaptation.lambdaAdv": 0.001 },
      perSeed: { 1: 23, 2: 25, 3: 24 },
      runs: SWEEP_RUNS.slice(3).map((r) => ({ id: r.id, seed: r.seed, miou: r.metrics.miou, perClass: r.metrics.perClass })),
      miou: { n: 3, mean: 24, sd: 1 },
      perClass: { road: 62, sky: 71 },
      diff: { perSeed: { 1: 2.5, 2: 3.5, 3: 1.5 }, stats: { n: 3, mean: 2.5, sd: 1 } },
    },
  ],
  runs: SWEEP_RUNS,
  files: {},
};

/** The test workspace: settings (no cliPath: the CLI is found through node_modules/.bin), configs, an
 * image list, a copied frame, a tasks.json entry, a sweep. */
function makeWorkspace(work: string) {
  const ws = join(work, "ws");
  mkdirSync(join(ws, ".vscode"), { recursive: true });
  mkdirSync(join(ws, "experiments"));
  writeFileSync(join(ws, "experiments/tiny.json"), JSON.stringify(tinyConfig(6), null, 2));
  writeFileSync(join(ws, "experiments/tiny-task.json"), JSON.stringify({ ...tinyConfig(6, 11, 0.02), name: "tiny-task" }, null, 2));
  // Long enough to reload the window, stop and resume while it runs (a few it/s here).
  writeFileSync(join(ws, "experiments/long.json"), JSON.stringify({ ...tinyConfig(3000), name: "long" }, null, 2));
  const bad = tinyConfig(6) as any;
  bad.model.widthMultiplier = 2;
  bad.source.sizee = bad.source.size;
  writeFileSync(join(ws, "experiments/bad.experiment.json"), JSON.stringify(bad, null, 2));
  // Not configs: no Train Experiment on them. A config by content under a plain name: Train.
  writeFileSync(join(ws, "data.json"), JSON.stringify({ a: 1 }));
  writeFileSync(join(ws, "my-run.json"), JSON.stringify(tinyConfig(6), null, 2));
  mkdirSync(join(ws, "sweeps/lambda"), { recursive: true });
  writeFileSync(join(ws, "sweeps/lambda/sweep.json"), JSON.stringify(SWEEP, null, 2));
  // The CLI as an installed package would have it: pnpm's node_modules/.bin shim.
  mkdirSync(join(ws, "node_modules/.bin"), { recursive: true });
  writeFileSync(
    join(ws, "node_modules/.bin/adaptseg"),
    `#!/bin/sh\nbasedir=$(dirname "$(echo "$0" | sed -e 's,\\\\,/,g')")\nexec node  "$basedir/${relative(join(ws, "node_modules/.bin"), cli)}" "$@"\n`,
    { mode: 0o755 },
  );
  // The checkpoint for hover and preview comes from a real 2-iteration CLI run.
  const seedCfg = join(work, "seed.json");
  writeFileSync(seedCfg, JSON.stringify(tinyConfig(2)));
  execFileSync(process.execPath, [cli, "train", "--config", seedCfg, "--out", join(work, "seed-run"), "--data", sharedData], { stdio: "pipe" });
  const ckpt = join(work, "seed-run", readdirSync(join(work, "seed-run")).find((f) => /^ckpt-.*\.safetensors$/.test(f))!);
  const settings = { "adaptseg.nodePath": process.execPath, "adaptseg.dataRoot": sharedData, "adaptseg.runsFolder": "runs", "adaptseg.checkpoint": ckpt };
  writeFileSync(join(ws, ".vscode/settings.json"), JSON.stringify(settings, null, 2));
  writeFileSync(
    join(ws, ".vscode/tasks.json"),
    JSON.stringify(
      {
        version: "2.0.0",
        tasks: [{ label: "adaptseg: tiny (task)", type: "adaptseg", command: "train", config: join(ws, "experiments/tiny-task.json"), out: join(ws, "runs/from-task") }],
      },
      null,
      2,
    ),
  );
  writeFileSync(join(ws, "images.txt"), `${IMAGE}\n`);
  writeFileSync(join(ws, "missing.txt"), "missing/nothere.png\n");
  copyFileSync(join(sharedData, IMAGE), join(ws, "frame.png"));
  // Quiet workbench: no welcome page, no tips.
  mkdirSync(join(work, "cs-user/User"), { recursive: true });
  writeFileSync(
    join(work, "cs-user/User/settings.json"),
    JSON.stringify({
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "telemetry.telemetryLevel": "off",
      "chat.commandCenter.enabled": false,
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "update.mode": "none",
      "editor.hover.delay": 200,
      "window.commandCenter": false,
    }),
  );
  return { ws, ckpt, settings };
}

/** CLI processes writing into `dir` (Linux /proc): the test kills what it started, by pid. */
function cliPids(dir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("vscode-ext in a real code-server (slow)", function () {
  this.timeout(300_000);
  let work: string, ws: string, settings: Record<string, unknown>, server: CodeServer | undefined, browser: any, page: any;
  const started: string[] = [];
  const shot = async (name: string) => page.screenshot({ path: join(shots, name) });

  before(async () => {
    assert.ok(existsSync(vsceBin) && existsSync(chromiumPath), "code-server or Chromium is missing: `node scripts/setup.mjs --test` installs them (npm test runs it)");
    assert.ok(existsSync(cli), `the CLI is not built (${cli}): node scripts/build.mjs`);
    rmSync(shots, { recursive: true, force: true });
    mkdirSync(shots, { recursive: true });
    work = tmp("adaptseg-vscode-");
    buildExtension();
    // The development copy the extension-host suite loads: a snapshot, so that a build of the whole
    // repo (which rewrites packages/vscode-ext/dist) while this runs does not pull it away.
    mkdirSync(join(work, "dev-ext"));
    for (const f of ["package.json", "dist"]) cpSync(join(ext, f), join(work, "dev-ext", f), { recursive: true });
    // vsce does not understand pnpm: package without dependencies (the bundle is self-contained).
    execFileSync(vsceBin, ["package", "--no-dependencies", "--skip-license", "--allow-missing-repository", "-o", join(work, "adaptseg.vsix")], { cwd: ext, env: isolatedEnv(work), stdio: "pipe" });
    ({ ws, settings } = makeWorkspace(work));
    installVsix(work, join(work, "adaptseg.vsix"));
    server = await startCodeServer(work);
    browser = await launchChromium(work);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    server?.stop();
    for (const d of started)
      for (const pid of cliPids(d))
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
    if (process.env.ADAPTSEG_KEEP_VSCODE_WORK) console.log(`    work dir kept: ${work}`);
    else if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the .vsix installs into code-server", () => {
    assert.ok(listExtensions(work).includes("adaptseg.adaptseg-vscode"), "adaptseg.adaptseg-vscode not listed by code-server");
  });

  it("the extension's mocha suite passes inside the real extension host", async () => {
    const out = join(work, "suite");
    const results = join(work, "suite-results.json");
    await build({
      entryPoints: readdirSync(join(ext, "test/suite"))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => join(ext, "test/suite", f)),
      outdir: out,
      bundle: true,
      format: "cjs",
      platform: "node",
      target: "node20",
      external: ["vscode"],
      logLevel: "warning",
      define: { ADAPTSEG_MOCHA_FROM: JSON.stringify(join(repoRoot, "package.json")), ADAPTSEG_RESULTS: JSON.stringify(results) },
    });
    const remote = (p: string) => `vscode-remote://127.0.0.1:${server!.port}${p}`;
    const payload = [
      ["extensionDevelopmentPath", remote(join(work, "dev-ext"))],
      ["extensionTestsPath", remote(join(out, "index.js"))],
    ];
    const hostPage = await browser.newPage();
    const log: string[] = [];
    let exit: (code: number) => void;
    const exited = new Promise<number>((r) => (exit = r));
    await hostPage.exposeFunction("codeAutomationLog", (type: string, args: unknown[]) => log.push(`${type}: ${format(...(Array.isArray(args) ? args : [args]))}`));
    await hostPage.exposeFunction("codeAutomationExit", (code: number) => exit(code));
    await hostPage.goto(`${server!.origin}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<number>((r) => (timer = setTimeout(() => r(-1), 240_000)))]);
    clearTimeout(timer);
    await hostPage.screenshot({ path: join(shots, "00-extension-host-suite.png") }).catch(() => {});
    await hostPage.close().catch(() => {});
    const res = existsSync(results) ? (JSON.parse(readFileSync(results, "utf8")) as { title: string; state: string; error?: string }[]) : [];
    for (const r of res) console.log(`      [host] ${r.state}: ${r.title}${r.error ? `\n${r.error.split("\n").slice(0, 4).join("\n")}` : ""}`);
    assert.equal(code, 0, `extension-host suite exit code ${code}; log:\n${log.slice(-40).join("\n")}`);
    assert.ok(res.length >= 5, `only ${res.length} extension-host test results`);
    assert.deepEqual(
      res.filter((r) => r.state !== "passed").map((r) => r.title),
      [],
    );
  });

  describe("a user in Chromium", () => {
    let tinyRun = "",
      longRun = "";
    afterEach(async function () {
      if (this.currentTest?.state === "failed" && page) await page.screenshot({ path: join(shots, `failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, "-")}.png`) }).catch(() => {});
    });
    let hostLogsBefore: string[] = [];
    before(async () => {
      hostLogsBefore = exthostLogs(work);
      page = await browser.newPage();
      await page.goto(`${server!.origin}/?folder=${encodeURIComponent(ws)}`);
      await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
      await tryCommand(page, "View: Close Primary Side Bar"); // room: the dashboard gets half of the window
    });
    const dash = () => webviewFrame(page, "#runs", 60_000);
    const newRunDir = (stem: string, not: string[] = []) =>
      waitFor(
        `a new run folder runs/${stem}-*`,
        () => {
          const d =
            existsSync(join(ws, "runs")) &&
            readdirSync(join(ws, "runs"))
              .filter((f) => new RegExp(`^${stem}-\\d{8}-\\d{6}$`).test(f) && !not.includes(join(ws, "runs", f)))
              .sort()
              .at(-1);
          return d ? join(ws, "runs", d) : undefined;
        },
        60_000,
      );
    const events = (dir: string) =>
      readFileSync(join(dir, "events.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));

    it("Train Experiment: a live dashboard beside the config, values at 4 significant digits, integer iteration ticks, charts above the fold", async () => {
      await quickOpen(page, "experiments/tiny.json"); // the dashboard opens beside it: a half-width editor
      await runCommand(page, "AdaptSeg: Train Experiment");
      // This window's extension host (not the development one above) activated the installed .vsix.
      await waitFor(
        "the installed extension to activate",
        () =>
          exthostLogs(work)
            .filter((f) => !hostLogsBefore.includes(f))
            .some((f) => readFileSync(f, "utf8").includes("_doActivateExtension adaptseg.adaptseg-vscode")),
        30_000,
      );
      await pick(page, "experiments/tiny.json");
      tinyRun = await newRunDir("tiny");
      started.push(tinyRun);
      const d = await dash();
      const states = new Set<string>();
      await waitFor(
        "the run to end",
        async () => {
          states.add(await d.evaluate((id: string) => document.querySelector<HTMLElement>(`#runs li[data-id="${id}"]`)?.dataset.state ?? "", join(tinyRun, "events.jsonl")));
          return existsSync(join(tinyRun, "events.jsonl")) && events(tinyRun).some((e) => e.type === "end");
        },
        150_000,
        200,
      );
      const ev = events(tinyRun);
      assert.equal(ev.at(-1).status, "completed", `run ended ${JSON.stringify(ev.at(-1))}`);
      const iters = ev.filter((e) => e.type === "iteration");
      assert.equal(iters.length, 6);
      await waitFor("the dashboard to receive all 6 iteration events", async () => Number(await d.evaluate(() => document.body.dataset.points)) === iters.length, 30_000);
      const li = await waitFor(
        "the run's state to be completed",
        async () => {
          const s = await runState(d, tinyRun);
          return s?.state === "completed" ? s : undefined;
        },
        15_000,
      );
      assert.match(li.detail, /completed at iteration 6; checkpoint .*ckpt-00000006\.safetensors/);
      console.log(`      states seen while it ran: ${[...states].filter(Boolean).join(" -> ")}`);
      const last = iters.at(-1);
      const expected: Record<string, number> = { ...last.losses, lr_G: last.lr.G, ...(last.lr.D !== undefined ? { lr_D: last.lr.D } : {}) };
      const shown: Record<string, string> = await d.evaluate(() =>
        Object.fromEntries(Array.from(document.querySelectorAll("#latest tr[data-term]")).map((tr) => [tr.getAttribute("data-term"), tr.querySelector("td.value")?.textContent?.trim() ?? ""])),
      );
      assert.deepEqual(Object.keys(shown).sort(), Object.keys(expected).sort(), "loss terms shown vs the iteration events' keys");
      for (const [term, text] of Object.entries(shown)) {
        // 4 significant digits, equal to the event's value to those digits.
        const digits = text
          .replace(/e.*$/i, "")
          .replace(/^-?0\.0*/, "")
          .replace(/[.-]/g, "");
        assert.ok(digits.length <= 4, `${term}: "${text}" has more than 4 significant digits`);
        assert.equal(Number(text), Number(expected[term]!.toPrecision(4)), `${term}: dashboard shows ${text}, events.jsonl has ${expected[term]}`);
      }
      assert.match(await d.evaluate(() => document.querySelector("#latest caption")?.textContent), new RegExp(`Latest values: ${tinyRun.split("/").at(-1)}, iteration 6`));
      const charts: { id: string; top: number; left: number; xticks: string }[] = await d.evaluate(() =>
        Array.from(document.querySelectorAll<HTMLElement>("#charts .chart")).map((c) => ({
          id: c.dataset.chart!,
          top: c.getBoundingClientRect().top,
          left: Math.round(c.getBoundingClientRect().left),
          xticks: c.dataset.xticks ?? "",
        })),
      );
      const view: { w: number; h: number } = await d.evaluate(() => ({ w: innerWidth, h: innerHeight }));
      console.log(`      dashboard ${view.w}x${view.h}: charts ${charts.map((c) => c.id).join(", ")}; values ${JSON.stringify(shown)}`);
      assert.ok(view.w < 900, `the dashboard is not in a half-width editor (${view.w} px)`);
      for (const g of ["seg", "adv", "d", "lrG", "lrD", "miou"])
        assert.ok(
          charts.some((c) => c.id === g),
          `no ${g} chart`,
        );
      assert.ok(new Set(charts.map((c) => c.left)).size >= 2, "the charts are not in a grid of 2+ columns at half width");
      for (const c of charts) {
        assert.ok(c.top < view.h - 60, `chart ${c.id} starts below the fold (top ${c.top}, height ${view.h})`);
        assert.ok(
          c.xticks?.split(",").every((t) => /^\d+$/.test(t)),
          `chart ${c.id}: iteration ticks ${c.xticks}`,
        );
      }
      // mIoU per evaluation and per class from the run's eval event.
      const evalEv = ev.filter((e) => e.type === "eval").at(-1);
      assert.ok(evalEv, "the run has no eval event");
      const miouCell = await d.evaluate(() => document.querySelector("#evals tbody td.num")?.textContent);
      assert.equal(miouCell, evalEv.miou.toFixed(2));
      const perClass: Record<string, string> = await d.evaluate(() =>
        Object.fromEntries(Array.from(document.querySelectorAll("#perclass tbody tr[data-class]")).map((tr) => [tr.getAttribute("data-class"), tr.querySelectorAll("td")[1]?.textContent ?? ""])),
      );
      for (const [c, v] of Object.entries(evalEv.perClass as Record<string, number | null>)) assert.equal(perClass[c], v === null ? "–" : v.toFixed(1), `per-class IoU of ${c}`);
      await page.waitForTimeout(500);
      await shot("01-dashboard-completed.png");
    });

    it("Evaluate Checkpoint: its per-class IoU table appears in the dashboard beside the training curves", async () => {
      await runCommand(page, "AdaptSeg: Evaluate Checkpoint");
      await pick(page, "experiments/tiny.json");
      await pick(page, `${tinyRun.split("/").at(-1)}/ckpt-00000006.safetensors`);
      const metricsFile = join(tinyRun, "eval-ckpt-00000006", "metrics.json");
      await waitFor("metrics.json", () => existsSync(metricsFile), 120_000);
      const m = JSON.parse(readFileSync(metricsFile, "utf8"));
      const d = await dash();
      const col: Record<string, string> = await waitFor(
        "the evaluation's column in the per-class table",
        () =>
          d.evaluate((id: string) => {
            const th = Array.from(document.querySelectorAll<HTMLElement>("#perclass thead th[data-col]")).findIndex((t) => t.dataset.col === id);
            if (th < 0) return undefined;
            return Object.fromEntries(
              Array.from(document.querySelectorAll("#perclass tbody tr[data-class]")).map((tr) => [tr.getAttribute("data-class"), tr.querySelectorAll("td")[th + 1]?.textContent ?? ""]),
            );
          }, metricsFile),
        30_000,
      );
      for (const [c, v] of Object.entries(m.perClass as Record<string, number | null>)) assert.equal(col[c], v === null ? "–" : v.toFixed(1), `per-class IoU of ${c}`);
      assert.equal(col["(mIoU)"], m.miou.toFixed(1));
      await waitForToast(page, /mIoU .* over \d+ images/, 15_000);
      await clearToasts(page);
      await d.evaluate(() => document.getElementById("perclass")?.scrollIntoView());
      await page.waitForTimeout(300);
      await shot("02-evaluate-checkpoint.png");
      await d.evaluate(() => window.scrollTo(0, 0));
    });

    it("Open Run compares two runs in two colours with a legend, and their per-class IoU side by side", async () => {
      const other = join(ws, "runs/from-task"); // the extension-host suite's task run (another seed and lr)
      assert.ok(existsSync(join(other, "events.jsonl")));
      await runCommand(page, "AdaptSeg: Open Run");
      await toggle(page, "runs/from-task");
      await page.keyboard.press("Enter");
      const d = await dash();
      const runs: { id: string; color: string }[] = await waitFor(
        "two runs in the dashboard",
        async () => {
          const r = await d.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>("#runs li[data-kind=run]")).map((li) => ({ id: li.dataset.id!, color: li.dataset.color! })));
          return r.length === 2 ? r : undefined;
        },
        20_000,
      );
      assert.notEqual(runs[0]!.color, runs[1]!.color, "the two runs have the same colour");
      const series: { run: string; color: string }[] = await waitFor(
        "the loss chart to hold both runs",
        async () => {
          const s = JSON.parse(await d.evaluate(() => document.querySelector<HTMLElement>('#charts .chart[data-chart="seg"]')?.dataset.series ?? "[]"));
          return new Set(s.map((x: any) => x.run)).size === 2 ? s : undefined;
        },
        20_000,
      );
      for (const r of runs)
        assert.ok(
          series.filter((x) => x.run === r.id).every((x) => x.color === r.color),
          `run ${r.id} is not drawn in its colour ${r.color}`,
        );
      // The legend: the run list's swatches in the runs' colours, and under the chart the term's line
      // style with the two runs' swatches.
      const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(", ")})`;
      const swatches: string[] = await d.evaluate(() => Array.from(document.querySelectorAll("#runs li[data-kind=run] .swatch")).map((s) => getComputedStyle(s).backgroundColor));
      assert.deepEqual(
        swatches,
        runs.map((r) => rgb(r.color)),
      );
      const keys: string[] = await d.evaluate(() => Array.from(document.querySelectorAll('#charts .chart[data-chart="seg"] .terms-legend .swatch')).map((s) => getComputedStyle(s).backgroundColor));
      assert.deepEqual(new Set(keys), new Set(runs.map((r) => rgb(r.color))), "the chart's legend does not show both runs' colours");
      const cols: string[] = await d.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>("#perclass thead th[data-col]")).map((t) => t.dataset.col!));
      assert.ok(
        runs.every((r) => cols.includes(r.id)),
        `per-class columns: ${cols.join(", ")}`,
      );
      await page.waitForTimeout(500);
      await shot("03-compare-two-runs.png");
    });

    it("a sweep shows mean ± sd per setting and the paired gain", async () => {
      await runCommand(page, "AdaptSeg: Open Run");
      await toggle(page, "sweeps/lambda");
      await page.keyboard.press("Enter");
      const d = await dash();
      const rows: Record<string, { mean: string; gain: string }> = await waitFor(
        "the sweep table",
        () =>
          d.evaluate(() => {
            const trs = Array.from(document.querySelectorAll<HTMLElement>(".sweep-table tbody tr[data-setting]"));
            return trs.length ? Object.fromEntries(trs.map((tr) => [tr.dataset.setting, { mean: tr.querySelector(".mean")!.textContent!, gain: tr.querySelector(".gain")!.textContent! }])) : undefined;
          }),
        20_000,
      );
      assert.equal(rows["source-only"]!.mean, "21.50 ± 1.00");
      assert.equal(rows["output-space"]!.mean, "24.00 ± 1.00");
      // Paired per seed: +2.5, +3.5, +1.5 -> mean 2.5, sd 1.
      assert.equal(rows["output-space"]!.gain, "+2.50 ± 1.00");
      assert.match(await d.evaluate(() => document.querySelector(".sweep-table caption")?.textContent ?? ""), /Sweep lambda: mIoU over seeds; paired gain vs "source-only" \(done: 6 completed\)/);
      await d.evaluate(() => document.querySelector("#sweeps")?.scrollIntoView());
      await page.waitForTimeout(300);
      await shot("04-sweep.png");
      await d.evaluate(() => window.scrollTo(0, 0));
    });

    it("the explorer offers Train Experiment on experiment configs only", async () => {
      await tryCommand(page, "View: Show Explorer");
      const menuOf = async (name: string) => {
        const row = page.locator(".explorer-folders-view .monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${name.replace(".", "\\.")}$`) }) }).first();
        await row.waitFor({ timeout: 30_000 });
        await row.click({ button: "right" });
        const items = page.locator(".context-view .monaco-menu .action-label");
        await items.first().waitFor({ timeout: 10_000 });
        const labels: string[] = await items.allTextContents();
        await page.keyboard.press("Escape");
        return labels;
      };
      const onConfig = await waitFor(
        "the config index",
        async () => {
          const l = await menuOf("my-run.json");
          return l.includes("Train Experiment") ? l : undefined;
        },
        20_000,
        1000,
      );
      assert.ok(onConfig.includes("Train Experiment"));
      const onData = await menuOf("data.json");
      assert.ok(!onData.includes("Train Experiment"), `Train Experiment on data.json: ${onData.join(", ")}`);
      await tryCommand(page, "View: Close Primary Side Bar");
    });

    it("hovering an image path in a text file shows the mask thumbnail", async () => {
      await quickOpen(page, "images.txt");
      const token = page.locator(".monaco-editor .view-line", { hasText: "0016E5_07959.png" }).first();
      await token.waitFor({ timeout: 60_000 });
      const img = page.locator(".monaco-hover:not(.hidden) img[src^='data:image/png;base64,']").first();
      await waitFor(
        "the hover with the mask thumbnail",
        async () => {
          const box = await token.boundingBox();
          await page.mouse.move(box.x + 5, box.y + box.height + 120);
          await page.mouse.move(box.x + Math.min(box.width / 2, 150), box.y + box.height / 2, { steps: 3 });
          return img.waitFor({ timeout: 4_000 }).then(
            () => true,
            () => false,
          );
        },
        120_000,
        500,
      );
      await waitFor("the thumbnail to load", () => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), 20_000);
      const w = await img.evaluate((el: HTMLImageElement) => el.naturalWidth);
      assert.ok(w > 0 && w <= 256, `thumbnail width ${w}`);
      await shot("05-hover.png");
      await page.mouse.move(5, 5);
    });

    it('Segment Image: a tab titled "Segmentation: frame.png", three even panes, legend, opacity', async () => {
      await quickOpen(page, "frame.png");
      await page.waitForTimeout(1000); // let the default image editor become active
      await runCommand(page, "AdaptSeg: Segment Image");
      const pv = await webviewFrame(page, "#overlay", 90_000);
      await page.locator(".tabs-container .tab", { hasText: "Segmentation: frame.png" }).first().waitFor({ timeout: 10_000 });
      await waitFor(
        "image, mask and overlay to load and a legend",
        () =>
          pv.evaluate(
            () =>
              ["image", "mask", "overlay"].every((id) => {
                const el = document.getElementById(id) as HTMLImageElement | null;
                return el?.complete && el.naturalWidth > 0;
              }) && document.querySelectorAll("#legend li[data-class]").length > 0,
          ),
        120_000,
      );
      const legend: { cls: string; text: string }[] = await pv.evaluate(() =>
        Array.from(document.querySelectorAll("#legend li[data-class]")).map((li) => ({ cls: li.getAttribute("data-class")!, text: li.textContent ?? "" })),
      );
      let sum = 0;
      for (const { cls, text } of legend) {
        assert.ok(text.includes(cls), `legend item ${cls}: "${text}"`);
        const pct = /(\d+(?:\.\d+)?)\s*%/.exec(text);
        assert.ok(pct, `legend item ${cls} has no percentage: "${text}"`);
        sum += Number(pct[1]);
      }
      assert.ok(Math.abs(sum - 100) <= 2, `class shares sum to ${sum}%`);
      const widths: number[] = await pv.evaluate(() => Array.from(document.querySelectorAll(".panes figure")).map((f) => f.getBoundingClientRect().width));
      assert.equal(widths.length, 3);
      assert.ok(Math.max(...widths) - Math.min(...widths) < 2, `pane widths ${widths.join(", ")}`);
      const before = await pv.evaluate(() => getComputedStyle(document.getElementById("overlay")!).opacity);
      await pv.evaluate(() => {
        const s = document.getElementById("opacity") as HTMLInputElement;
        s.value = s.min || "0";
        s.dispatchEvent(new Event("input", { bubbles: true }));
      });
      const after = await pv.evaluate(() => getComputedStyle(document.getElementById("overlay")!).opacity);
      assert.notEqual(after, before, "the opacity slider does not change the overlay");
      await pv.evaluate(() => {
        const s = document.getElementById("opacity") as HTMLInputElement;
        s.value = String((Number(s.max || 1) + Number(s.min || 0)) / 2);
        s.dispatchEvent(new Event("input", { bubbles: true }));
      });
      console.log(`      legend: ${legend.map((l) => l.text.trim()).join("; ")}; pane widths ${widths.map(Math.round).join(", ")}`);
      await shot("06-segmentation-preview.png");
      await tryCommand(page, "View: Close All Editors");
    });

    it("a run survives a window reload: status bar and dashboard come back, Stop from the palette stops it with a checkpoint", async () => {
      await runCommand(page, "AdaptSeg: Train Experiment");
      await pick(page, "experiments/long.json");
      longRun = await newRunDir("long");
      started.push(longRun);
      await waitFor("a few iterations", () => existsSync(join(longRun, "events.jsonl")) && events(longRun).filter((e) => e.type === "iteration").length >= 3, 120_000);
      await shot("07-long-run-live.png");
      await runCommand(page, "Developer: Reload Window");
      await page.waitForTimeout(2000);
      await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
      const bar = page.locator(".statusbar-item", { hasText: `${longRun.split("/").at(-1)}: it` }).first();
      await bar.waitFor({ timeout: 60_000 });
      const d = await dash();
      await waitFor("the restored dashboard to show the run live", async () => (await runState(d, longRun))?.state === "live", 30_000);
      const before = events(longRun).filter((e) => e.type === "iteration").length;
      await waitFor("the run to go on after the reload", () => events(longRun).filter((e) => e.type === "iteration").length > before + 1, 60_000);
      console.log(`      status bar after the reload: ${(await bar.textContent()).trim()}`);
      await shot("08-after-reload.png");
      await runCommand(page, "AdaptSeg: Stop Run");
      const toast = await waitForToast(page, /stopped at iteration \d+; checkpoint saved to .*ckpt-\d+\.safetensors/, 90_000);
      assert.deepEqual(toast.buttons, ["Resume Run", "Reveal Checkpoint"]);
      const ev = events(longRun);
      assert.deepEqual(ev.at(-1), { ...ev.at(-1), type: "end", status: "stopped" });
      assert.ok(
        ev.some((e) => e.type === "checkpoint" && e.reason === "signal"),
        "no checkpoint on SIGINT",
      );
      const s = await waitFor(
        "the dashboard to show stopped",
        async () => {
          const x = await runState(d, longRun);
          return x?.state === "stopped" ? x : undefined;
        },
        15_000,
      );
      assert.match(s.detail, /stopped at iteration \d+; checkpoint .*ckpt-\d+\.safetensors/);
      await waitFor("the status bar item to go", async () => !(await bar.isVisible()), 10_000);
      await shot("09-stopped-after-reload.png");
      await clearToasts(page);
    });

    it("Resume Run from the palette continues from the checkpoint, live again", async () => {
      const stoppedAt = events(longRun)
        .filter((e) => e.type === "checkpoint")
        .at(-1).iteration;
      await runCommand(page, "AdaptSeg: Resume Run");
      await pick(page, longRun.split("/").at(-1)!);
      await waitFor("a resumed start event", () => events(longRun).some((e) => e.type === "start" && e.resumed && e.iteration === stoppedAt), 60_000);
      await waitFor("iterations after the resume", () => events(longRun).filter((e) => e.type === "iteration" && e.iteration > stoppedAt).length >= 2, 60_000);
      const d = await dash();
      const s = await waitFor(
        "the dashboard to show the run live again",
        async () => {
          const x = await runState(d, longRun);
          return x?.state === "live" ? x : undefined;
        },
        15_000,
      );
      assert.match(s.text, new RegExp(`it ${stoppedAt + 1}|it \\d+`));
      await page
        .locator(".statusbar-item", { hasText: `${longRun.split("/").at(-1)}: it` })
        .first()
        .waitFor({ timeout: 15_000 });
      await shot("10-resumed.png");
    });

    it('deleting the run folder of a live run shows "failed" naming the folder (no Open Config)', async () => {
      rmSync(longRun, { recursive: true, force: true });
      const d = await dash();
      const s = await waitFor(
        "the dashboard to show failed",
        async () => {
          const x = await runState(d, longRun);
          return x?.state === "failed" ? x : undefined;
        },
        30_000,
      );
      assert.ok(s.detail.includes(longRun), `the failure does not name the folder: ${s.detail}`);
      const toast = await waitForToast(page, new RegExp(`failed: the run folder ${longRun.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} was deleted`), 15_000);
      assert.ok(!toast.buttons.includes("Open Config"), `buttons: ${toast.buttons.join(", ")}`);
      await shot("11-run-folder-deleted.png");
      await waitFor("the CLI process to end", () => cliPids(longRun).length === 0, 60_000);
      await clearToasts(page);
    });

    it('a run whose Node cannot start shows "failed" with the reason and Open Settings', async () => {
      writeFileSync(join(ws, ".vscode/settings.json"), JSON.stringify({ ...settings, "adaptseg.nodePath": "/nonexistent/bin/node" }, null, 2));
      await page.waitForTimeout(1500); // the settings file watcher
      const before = existsSync(join(ws, "runs")) ? readdirSync(join(ws, "runs")).map((f) => join(ws, "runs", f)) : [];
      await runCommand(page, "AdaptSeg: Train Experiment");
      await pick(page, "experiments/tiny.json");
      const toast = await waitForToast(page, /"adaptseg\.nodePath" is "\/nonexistent\/bin\/node": no such file/, 30_000);
      assert.deepEqual(toast.buttons, ["Open Settings"]);
      const d = await dash();
      const s = await waitFor(
        "the dashboard to show the new run failed",
        async () => {
          const all = await d.evaluate(() =>
            Array.from(document.querySelectorAll<HTMLElement>("#runs li[data-kind=run]")).map((li) => ({
              id: li.dataset.id!,
              state: li.dataset.state!,
              detail: li.querySelector(".detail")?.textContent ?? "",
            })),
          );
          return all.find((x: { id: string; state: string }) => !before.some((b) => x.id.startsWith(b)) && x.state === "failed");
        },
        20_000,
      );
      assert.match(s.detail, /adaptseg\.nodePath/);
      await shot("12-node-cannot-start.png");
      await toast.click("Open Settings");
      await page.locator(".settings-editor .setting-item-contents", { hasText: "Node Path" }).first().waitFor({ timeout: 20_000 });
      await page.waitForTimeout(500);
      await shot("13-open-settings-nodePath.png");
      writeFileSync(join(ws, ".vscode/settings.json"), JSON.stringify(settings, null, 2));
      await tryCommand(page, "View: Close All Editors");
      await clearToasts(page);
    });

    it("a config with errors: errors in the editor at the fields; Train fails with the CLI's reason and Open Config", async () => {
      await quickOpen(page, "experiments/bad.experiment.json");
      await page.locator(".monaco-editor .squiggly-error").first().waitFor({ timeout: 30_000 });
      await runCommand(page, "AdaptSeg: Train Experiment");
      await pick(page, "experiments/bad.experiment.json");
      const toast = await waitForToast(page, /failed: .*bad\.experiment\.json: invalid config/, 60_000);
      assert.deepEqual(toast.buttons, ["Open Config"]);
      await page
        .locator(".notifications-toasts")
        .first()
        .screenshot({ path: join(shots, "15-config-error-notification.png") })
        .catch(() => {});
      await tryCommand(page, "Focus on Problems View");
      await page.locator(".markers-panel .monaco-list-row", { hasText: "model.widthMultiplier" }).first().waitFor({ timeout: 15_000 });
      const problems: string[] = await page.locator(".markers-panel .monaco-list-row").allTextContents();
      console.log(
        `      problems: ${problems
          .slice(0, 6)
          .map((p) => p.replace(/\s+/g, " ").trim())
          .join(" | ")}`,
      );
      await shot("14-config-errors.png");
      await clearToasts(page);
    });
  });
});

/** The state shown for a run in the dashboard's list. */
async function runState(frame: any, runDir: string): Promise<{ state: string; detail: string; text: string } | undefined> {
  return frame.evaluate(
    (id: string) => {
      const li = document.querySelector<HTMLElement>(`#runs li[data-id="${id}"]`);
      return li ? { state: li.dataset.state ?? "", detail: li.querySelector(".detail")?.textContent ?? "", text: li.textContent ?? "" } : undefined;
    },
    join(runDir, "events.jsonl"),
  );
}

/** Waits for a notification toast whose message matches; returns it with its buttons and a click. */
async function waitForToast(page: any, re: RegExp, ms: number) {
  const t = await waitFor(
    `a notification matching ${re}`,
    async () => {
      const all: { text: string; buttons: string[] }[] = await page.evaluate(() =>
        Array.from(document.querySelectorAll(".notifications-toasts .notification-toast")).map((t) => ({
          text: t.querySelector(".notification-list-item-message")?.textContent ?? "",
          buttons: Array.from(t.querySelectorAll(".notification-list-item-buttons-container .monaco-button")).map((b) => b.textContent?.trim() ?? ""),
        })),
      );
      return all.find((x) => re.test(x.text));
    },
    ms,
    250,
  );
  console.log(`      notification: ${t.text} [${t.buttons.join("] [")}]`);
  return {
    ...t,
    click: (label: string) =>
      page
        .locator(".notifications-toasts .notification-toast", { hasText: t.text.slice(0, 60) })
        .locator(".notification-list-item-buttons-container .monaco-button", { hasText: label })
        .first()
        .click(),
  };
}

async function clearToasts(page: any) {
  await tryCommand(page, "Notifications: Clear All Notifications");
}

/** The extension hosts' logs code-server wrote so far. */
function exthostLogs(work: string): string[] {
  const logs = join(work, "cs-user/logs");
  return !existsSync(logs)
    ? []
    : readdirSync(logs)
        .flatMap((d) =>
          readdirSync(join(logs, d))
            .filter((h) => h.startsWith("exthost"))
            .map((h) => join(logs, d, h, "remoteexthost.log")),
        )
        .filter((f) => existsSync(f));
}

/** F1 until the quick input opens (the workbench DOM appears before it is interactive). */
async function openPalette(page: any) {
  const input = page.locator(".quick-input-widget input");
  await waitFor(
    "the command palette",
    async () => {
      await page.keyboard.press("F1");
      return input.waitFor({ state: "visible", timeout: 1500 }).then(
        () => true,
        () => false,
      );
    },
    120_000,
    500,
  );
  return input;
}

async function runCommand(page: any, title: string) {
  await paletteSelect(page, `>${title}`, title);
}

/** For the screenshots only: a layout command that may be missing does not fail the test. */
async function tryCommand(page: any, title: string) {
  await paletteSelect(page, `>${title}`, title, 15_000).catch(() => page.keyboard.press("Escape"));
}

/** Quick Open (the palette without ">") on a workspace file (its rows show the file name). */
async function quickOpen(page: any, file: string) {
  await paletteSelect(page, file, file.split("/").at(-1)!);
}

/** Types `query` into the palette and accepts the row showing `label`; reopens the palette until
 * that row appears (commands of a just-started extension host appear only in a new palette). */
async function paletteSelect(page: any, query: string, label: string, ms = 120_000) {
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
  await waitFor(
    `"${label}" in the palette`,
    async () => {
      const input = await openPalette(page);
      await input.fill(query);
      if (
        await row.waitFor({ timeout: 5_000 }).then(
          () => true,
          () => false,
        )
      )
        return true;
      await page.keyboard.press("Escape");
      return false;
    },
    ms,
    500,
  );
  await page.keyboard.press("Enter");
}

/** Picks the QuickPick item whose label contains `label`. */
async function pick(page: any, label: string) {
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
  await row.waitFor({ timeout: 60_000 });
  await row.click();
}

/** The (nested) webview frame that contains `selector`. */
async function webviewFrame(page: any, selector: string, ms: number) {
  return waitFor(
    `a webview with ${selector}`,
    async () => {
      for (const f of page.frames()) if (await f.$(selector).catch(() => null)) return f;
      return undefined;
    },
    ms,
    500,
  );
}

/** Toggles the checkbox of a multi-select QuickPick row whose label contains `label`. */
async function toggle(page: any, label: string) {
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
  await row.waitFor({ timeout: 60_000 });
  const box = row.locator("input[type=checkbox], .quick-input-list-checkbox").first();
  if (await box.count()) await box.click();
  else await row.click();
}
