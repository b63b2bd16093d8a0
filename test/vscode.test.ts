// VS Code extension: manifest and bundle checks, then the real thing: the .vsix installed into
// code-server (VS Code 1.100.3), the extension's own mocha suite inside the real extension host,
// and a headless Chromium acting as a user (palette -> Train Experiment -> live dashboard, hover
// thumbnail, image preview). Nothing is mocked: the CLI trains on the shared CamVid frames.
// Screenshots of each step go to test-output/vscode/ (git-ignored).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { format } from "node:util";
import { build } from "esbuild";
import { repoRoot, sharedData, tmp } from "./helpers.js";
import { chromiumPath, installVsix, isolatedEnv, launchChromium, listExtensions, startCodeServer, vsceBin, waitFor, type CodeServer } from "./vscode-harness.js";

const ext = join(repoRoot, "packages/vscode-ext");
const cli = join(repoRoot, "packages/core/dist/cli.js");
const shots = join(repoRoot, "test-output/vscode");
const COMMANDS = ["Train Experiment", "Resume Run", "Stop Run", "Evaluate Checkpoint", "Show Training Dashboard", "Segment Image", "New Experiment Config", "Open Run"];
const IMAGE = "camvid/CamVid/val/0016E5_07959.png"; // relative to the data root

describe("vscode-ext", function () {
  this.timeout(180_000);
  before(() => execFileSync(process.execPath, [join(ext, "build.mjs")], { stdio: "inherit" }));

  it("declares the AdaptSeg commands, the adaptseg task type and jsonValidation", () => {
    const pkg = JSON.parse(readFileSync(join(ext, "package.json"), "utf8"));
    const titles = pkg.contributes.commands.filter((c: any) => c.category === "AdaptSeg").map((c: any) => c.title);
    for (const t of COMMANDS) assert.ok(titles.includes(t), `missing command ${t}`);
    assert.equal(pkg.contributes.taskDefinitions[0].type, "adaptseg");
    assert.deepEqual(pkg.contributes.jsonValidation.map((j: any) => j.fileMatch), ["adaptseg*.json", "experiments/*.json"]);
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
function tinyConfig(iters: number) {
  const size = { width: 64, height: 48 };
  const camvid = (options: Record<string, unknown>, limit: number) => ({ type: "camvid", root: "camvid/CamVid", split: "train", size, limit, options });
  return {
    name: "tiny", seed: 5,
    model: { type: "vgg16-deeplab", widthMultiplier: 0.125 },
    discriminator: { type: "fc", widthMultiplier: 0.125 },
    adaptation: { type: "output-space", gan: "vanilla", lambdaAdv: [0.01] },
    source: camvid({ excludeSequences: ["0001TP"] }, 6),
    target: camvid({ sequences: ["0001TP"] }, 4),
    evaluation: { dataset: camvid({ sequences: ["0001TP"], fraction: [0.9, 1] }, 2) },
    training: { maxIters: iters, stopIter: iters, snapshotEvery: iters, keepSnapshots: 1, optimizerG: { lr: 0.01 } },
  };
}

/** The test workspace: settings, a tiny config, an image list, a copied frame, a tasks.json entry. */
function makeWorkspace(work: string) {
  const ws = join(work, "ws");
  mkdirSync(join(ws, ".vscode"), { recursive: true });
  mkdirSync(join(ws, "experiments"));
  writeFileSync(join(ws, "experiments/tiny.json"), JSON.stringify(tinyConfig(6), null, 2));
  // The checkpoint for hover and preview comes from a real 2-iteration CLI run.
  const seedCfg = join(work, "seed.json");
  writeFileSync(seedCfg, JSON.stringify(tinyConfig(2)));
  execFileSync(process.execPath, [cli, "train", "--config", seedCfg, "--out", join(work, "seed-run"), "--data", sharedData], { stdio: "pipe" });
  const ckpt = join(work, "seed-run", readdirSync(join(work, "seed-run")).find((f) => /^ckpt-.*\.safetensors$/.test(f))!);
  writeFileSync(join(ws, ".vscode/settings.json"), JSON.stringify({
    "adaptseg.cliPath": cli,
    "adaptseg.nodePath": process.execPath,
    "adaptseg.dataRoot": sharedData,
    "adaptseg.runsFolder": "runs",
    "adaptseg.checkpoint": ckpt,
  }, null, 2));
  writeFileSync(join(ws, ".vscode/tasks.json"), JSON.stringify({
    version: "2.0.0",
    tasks: [{ label: "adaptseg: tiny (task)", type: "adaptseg", command: "train", config: join(ws, "experiments/tiny.json"), out: join(ws, "runs/from-task") }],
  }, null, 2));
  writeFileSync(join(ws, "images.txt"), `${IMAGE}\n`);
  copyFileSync(join(sharedData, IMAGE), join(ws, "frame.png"));
  // Quiet workbench: no welcome page, no tips.
  mkdirSync(join(work, "cs-user/User"), { recursive: true });
  writeFileSync(join(work, "cs-user/User/settings.json"), JSON.stringify({
    "workbench.startupEditor": "none", "workbench.tips.enabled": false, "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": false, "extensions.autoUpdate": false, "update.mode": "none", "editor.hover.delay": 200,
  }));
  return { ws, ckpt };
}

describe("vscode-ext in a real code-server", function () {
  this.timeout(300_000);
  let work: string, ws: string, server: CodeServer | undefined, browser: any, page: any;
  const shot = async (name: string) => page.screenshot({ path: join(shots, name) });

  before(async () => {
    assert.ok(existsSync(vsceBin) && existsSync(chromiumPath), "code-server or Chromium is missing: `node scripts/setup.mjs --test` installs them (npm test runs it)");
    rmSync(shots, { recursive: true, force: true });
    mkdirSync(shots, { recursive: true });
    work = tmp("adaptseg-vscode-");
    execFileSync(process.execPath, [join(ext, "build.mjs")], { stdio: "inherit" });
    // vsce does not understand pnpm: package without dependencies (the bundle is self-contained).
    execFileSync(vsceBin, ["package", "--no-dependencies", "--skip-license", "--allow-missing-repository", "-o", join(work, "adaptseg.vsix")],
      { cwd: ext, env: isolatedEnv(work), stdio: "pipe" });
    ({ ws } = makeWorkspace(work));
    installVsix(work, join(work, "adaptseg.vsix"));
    server = await startCodeServer(work);
    browser = await launchChromium(work);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    server?.stop();
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
      entryPoints: readdirSync(join(ext, "test/suite")).filter((f) => f.endsWith(".ts")).map((f) => join(ext, "test/suite", f)),
      outdir: out, bundle: true, format: "cjs", platform: "node", target: "node20", external: ["vscode"], logLevel: "warning",
      define: { ADAPTSEG_MOCHA_FROM: JSON.stringify(join(repoRoot, "package.json")), ADAPTSEG_RESULTS: JSON.stringify(results) },
    });
    const remote = (p: string) => `vscode-remote://127.0.0.1:${server!.port}${p}`;
    const payload = [["extensionDevelopmentPath", remote(ext)], ["extensionTestsPath", remote(join(out, "index.js"))]];
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
    await hostPage.screenshot({ path: join(shots, "0-extension-host-suite.png") }).catch(() => {});
    await hostPage.close().catch(() => {});
    const res = existsSync(results) ? JSON.parse(readFileSync(results, "utf8")) as { title: string; state: string; error?: string }[] : [];
    for (const r of res) console.log(`      [host] ${r.state}: ${r.title}${r.error ? `\n${r.error.split("\n").slice(0, 4).join("\n")}` : ""}`);
    assert.equal(code, 0, `extension-host suite exit code ${code}; log:\n${log.slice(-40).join("\n")}`);
    assert.ok(res.length >= 3, `only ${res.length} extension-host test results`);
    assert.deepEqual(res.filter((r) => r.state !== "passed").map((r) => r.title), []);
  });

  describe("a user in Chromium", () => {
    afterEach(async function () {
      if (this.currentTest?.state === "failed" && page) await page.screenshot({ path: join(shots, `failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, "-")}.png`) }).catch(() => {});
    });
    let hostLogsBefore: string[] = [];
    before(async () => {
      hostLogsBefore = exthostLogs(work);
      page = await browser.newPage();
      await page.goto(`${server!.origin}/?folder=${encodeURIComponent(ws)}`);
      await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
    });

    it("runs AdaptSeg: Train Experiment from the palette and the dashboard shows the CLI's loss values", async () => {
      await runCommand(page, "AdaptSeg: Train Experiment");
      // This window's extension host (not the development one above) activated the installed .vsix.
      await waitFor("the installed extension to activate", () => exthostLogs(work).filter((f) => !hostLogsBefore.includes(f))
        .some((f) => readFileSync(f, "utf8").includes("_doActivateExtension adaptseg.adaptseg-vscode")), 30_000);
      await pick(page, "experiments/tiny.json");
      await shot("1-train-picked-config.png");
      // The run folder the extension created: runs/tiny-YYYYMMDD-HHMMSS.
      const runDir = await waitFor("the run folder runs/tiny-*", () => {
        const d = existsSync(join(ws, "runs")) && readdirSync(join(ws, "runs")).filter((f) => /^tiny-\d{8}-\d{6}$/.test(f)).sort().at(-1);
        return d ? join(ws, "runs", d) : undefined;
      }, 60_000);
      const events = () => readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      const dash = await webviewFrame(page, "#latest", 90_000);
      let seenLive = 0;
      await waitFor("the run to end", async () => {
        seenLive = Math.max(seenLive, Number(await dash.evaluate(() => document.body.dataset.points ?? 0)));
        return existsSync(join(runDir, "events.jsonl")) && events().some((e) => e.type === "end");
      }, 150_000, 500);
      const ev = events();
      assert.equal(ev.at(-1).status, "completed", `run ended ${JSON.stringify(ev.at(-1))}`);
      const iters = ev.filter((e) => e.type === "iteration");
      assert.equal(iters.length, 6);
      await waitFor("the dashboard to receive all 6 iteration events", async () => Number(await dash.evaluate(() => document.body.dataset.points)) === iters.length, 30_000);
      const last = iters.at(-1);
      const expected: Record<string, number> = { ...last.losses, lr_G: last.lr.G, ...(last.lr.D !== undefined ? { lr_D: last.lr.D } : {}) };
      const shown: Record<string, string> = await dash.evaluate(() => Object.fromEntries(
        Array.from(document.querySelectorAll("#latest tr[data-term]")).map((tr) => [tr.getAttribute("data-term"), tr.querySelector("td.value")?.textContent?.trim() ?? ""])));
      assert.deepEqual(Object.keys(shown).sort(), Object.keys(expected).sort(), "loss terms shown vs the iteration events' keys");
      for (const [term, text] of Object.entries(shown)) {
        const v = Number(text);
        assert.ok(/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text) && Number.isFinite(v), `${term}: "${text}" is not a finite decimal`);
        // Equal to the event's value up to the digits shown.
        const digits = /\.(\d+)/.exec(text.split(/e/i)[0]!)?.[1]!.length ?? 0;
        const tol = 0.5 * 10 ** -digits * (/e/i.test(text) ? 10 ** Number(text.split(/e/i)[1]) : 1) * 1.000001;
        assert.ok(Math.abs(v - expected[term]!) <= tol, `${term}: dashboard shows ${text}, events.jsonl has ${expected[term]}`);
      }
      assert.equal(Number(await dash.evaluate(() => document.getElementById("iteration")?.textContent)), last.iteration);
      assert.ok(await dash.evaluate(() => document.querySelectorAll("#charts canvas").length > 0), "no chart canvas in #charts");
      // mIoU per evaluation: the run's eval event, to the two decimals a table shows.
      const evalEv = ev.filter((e) => e.type === "eval").at(-1);
      assert.ok(evalEv, "the run has no eval event");
      await waitFor(`the dashboard to show the eval's mIoU ${evalEv.miou}`, async () =>
        ((await dash.evaluate(() => document.body.innerText)) as string).match(/\d+\.\d+/g)?.some((n) => Math.abs(Number(n) - evalEv.miou) <= 0.006), 15_000);
      console.log(`      dashboard: ${JSON.stringify(shown)}, mIoU ${evalEv.miou.toFixed(2)} (points seen while live: ${seenLive})`);
      await shot("2-dashboard.png");
    });

    it("hovering an image path in a text file shows the mask thumbnail", async () => {
      await quickOpen(page, "images.txt");
      const token = page.locator(".monaco-editor .view-line", { hasText: "0016E5_07959.png" }).first();
      await token.waitFor({ timeout: 60_000 });
      const img = page.locator(".monaco-hover:not(.hidden) img[src^='data:image/png;base64,']").first();
      await waitFor("the hover with the mask thumbnail", async () => {
        const box = await token.boundingBox();
        await page.mouse.move(box.x + 5, box.y + box.height + 120);
        await page.mouse.move(box.x + Math.min(box.width / 2, 150), box.y + box.height / 2, { steps: 3 });
        return img.waitFor({ timeout: 4_000 }).then(() => true, () => false);
      }, 120_000, 500);
      await waitFor("the thumbnail to load", () => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), 20_000);
      const w = await img.evaluate((el: HTMLImageElement) => el.naturalWidth);
      assert.ok(w > 0 && w <= 256, `thumbnail width ${w}`);
      await shot("3-hover.png");
    });

    it("opens an image with the segmentation preview: image, mask, overlay, legend, opacity", async () => {
      await quickOpen(page, "frame.png");
      await page.waitForTimeout(1000); // let the default image editor become active
      await runCommand(page, "AdaptSeg: Segment Image");
      // Where the command asks which image, answer like a user.
      if (await page.locator(".quick-input-widget input").isVisible().catch(() => false)) await pick(page, "frame.png");
      const pv = await webviewFrame(page, "#overlay", 90_000);
      await waitFor("image, mask and overlay to load and a legend", () => pv.evaluate(() =>
        ["image", "mask", "overlay"].every((id) => { const el = document.getElementById(id) as HTMLImageElement | null; return el && el.complete && el.naturalWidth > 0; })
        && document.querySelectorAll("#legend li[data-class]").length > 0), 120_000);
      const legend: { cls: string; text: string }[] = await pv.evaluate(() => Array.from(document.querySelectorAll("#legend li[data-class]")).map((li) => ({ cls: li.getAttribute("data-class")!, text: li.textContent ?? "" })));
      let sum = 0;
      for (const { cls, text } of legend) {
        assert.ok(text.includes(cls), `legend item ${cls}: "${text}"`);
        const pct = /(\d+(?:\.\d+)?)\s*%/.exec(text);
        assert.ok(pct, `legend item ${cls} has no percentage: "${text}"`);
        sum += Number(pct[1]);
      }
      assert.ok(Math.abs(sum - 100) <= 2, `class shares sum to ${sum}%`);
      const before = await pv.evaluate(() => getComputedStyle(document.getElementById("overlay")!).opacity);
      await pv.evaluate(() => { const s = document.getElementById("opacity") as HTMLInputElement; s.value = s.min || "0"; s.dispatchEvent(new Event("input", { bubbles: true })); });
      const after = await pv.evaluate(() => getComputedStyle(document.getElementById("overlay")!).opacity);
      assert.notEqual(after, before, "the opacity slider does not change the overlay");
      await pv.evaluate(() => { const s = document.getElementById("opacity") as HTMLInputElement; s.value = String((Number(s.max || 1) + Number(s.min || 0)) / 2); s.dispatchEvent(new Event("input", { bubbles: true })); });
      console.log(`      legend: ${legend.map((l) => l.text.trim()).join("; ")}`);
      // Room for the screenshot: no panel, no side bar.
      for (const c of ["View: Hide Panel", "View: Close Primary Side Bar"]) await tryCommand(page, c);
      await page.waitForTimeout(1000);
      await shot("4-preview.png");
    });
  });
});

/** The extension hosts' logs code-server wrote so far. */
function exthostLogs(work: string): string[] {
  const logs = join(work, "cs-user/logs");
  return !existsSync(logs) ? [] : readdirSync(logs).flatMap((d) => readdirSync(join(logs, d)).filter((h) => h.startsWith("exthost"))
    .map((h) => join(logs, d, h, "remoteexthost.log"))).filter((f) => existsSync(f));
}

/** F1 until the quick input opens (the workbench DOM appears before it is interactive). */
async function openPalette(page: any) {
  const input = page.locator(".quick-input-widget input");
  await waitFor("the command palette", async () => {
    await page.keyboard.press("F1");
    return input.waitFor({ state: "visible", timeout: 1500 }).then(() => true, () => false);
  }, 120_000, 500);
  return input;
}

async function runCommand(page: any, title: string) {
  await paletteSelect(page, `>${title}`, title);
}

/** For the screenshots only: a layout command that may be missing does not fail the test. */
async function tryCommand(page: any, title: string) {
  await paletteSelect(page, `>${title}`, title, 15_000).catch(() => page.keyboard.press("Escape"));
}

/** Quick Open (the palette without ">") on a workspace file. */
async function quickOpen(page: any, file: string) {
  await paletteSelect(page, file, file);
}

/** Types `query` into the palette and accepts the row showing `label`; reopens the palette until
 * that row appears (commands of a just-started extension host appear only in a new palette). */
async function paletteSelect(page: any, query: string, label: string, ms = 120_000) {
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
  await waitFor(`"${label}" in the palette`, async () => {
    const input = await openPalette(page);
    await input.fill(query);
    if (await row.waitFor({ timeout: 5_000 }).then(() => true, () => false)) return true;
    await page.keyboard.press("Escape");
    return false;
  }, ms, 500);
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
  return waitFor(`a webview with ${selector}`, async () => {
    for (const f of page.frames()) if (await f.$(selector).catch(() => null)) return f;
    return undefined;
  }, ms, 500);
}
