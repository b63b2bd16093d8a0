// docs/adding-a-dataset.md, done as written: the plugin and the config are read out of the doc, written
// only into a temporary folder, loaded with `plugins: [...]` and trained with through the real CLI.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createContainer, DatasetAdapter, resolvePlugin } from "@adaptseg/core";
import { builtinModules } from "@adaptseg/engine";
import { describeWithData, repoRoot, sharedData, tmp } from "./helpers.js";

const DOC = readFileSync(join(repoRoot, "docs/adding-a-dataset.md"), "utf8");
const block = (lang: string, i = 0) => [...DOC.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))][i]![1]!;
const PLUGIN = block("js");
/** The doc's config, with its `/data/` folder pointed at the shared data. */
const CONFIG = JSON.parse(block("json").replaceAll('"/data/', `"${sharedData}/`));

/** A folder holding my-dataset.mjs (from the doc) and what it imports, as `npm install` would leave it. */
function pluginFolder(): string {
  const dir = tmp();
  mkdirSync(join(dir, "node_modules/@adaptseg"), { recursive: true });
  const dn = join(repoRoot, "packages/datasets/node_modules");
  for (const [to, from] of [
    ["@adaptseg/core", join(dn, "@adaptseg/core")],
    ["inversify", join(dn, "inversify")],
    ["@adaptseg/datasets", join(repoRoot, "packages/datasets")],
  ]) {
    symlinkSync(realpathSync(from!), join(dir, "node_modules", to!), "dir");
  }
  writeFileSync(join(dir, "my-dataset.mjs"), PLUGIN);
  return dir;
}

describeWithData("datasets: an external dataset plugin (docs/adding-a-dataset.md)", () => {
  it("loads ./my-dataset.mjs from the config folder and lists real CamVid frames", async () => {
    const dir = pluginFolder();
    const c = await createContainer({ plugins: ["./my-dataset.mjs"] }, { baseDir: dir, modules: builtinModules() });
    const ds = resolvePlugin<DatasetAdapter>(c, DatasetAdapter, "my-frames");
    const samples = await ds.list({ root: join(sharedData, "camvid/CamVid/val") });
    assert.equal(samples.length, 101);
    const l = await ds.readLabel(samples[0].label!, {});
    assert.equal(l.width * l.height, 480 * 360);
    assert.equal(ds.meta({}).classSpace, "camvid11");
    // The built-in adapters are bound by name too.
    for (const n of ["cityscapes", "camvid", "gta5", "synthia"]) assert.equal(resolvePlugin<DatasetAdapter>(c, DatasetAdapter, n).name, n);
  });

  it("trains 2 iterations with it through the CLI (adaptseg train --config ... --max-iters 2); events.jsonl has both", async function () {
    this.timeout(600000);
    const dir = pluginFolder();
    assert.equal(CONFIG.source.type, "my-frames");
    assert.deepEqual(CONFIG.plugins, ["./my-dataset.mjs"]);
    writeFileSync(join(dir, "config.json"), JSON.stringify(CONFIG, null, 2));
    const out = join(dir, "runs/mine");
    const cli = join(repoRoot, "packages/cli/dist/cli.js");
    // cwd is the temp folder: nothing of the repo is on the plugin's resolution path but its node_modules links.
    const r = await promisify(execFile)(process.execPath, [cli, "train", "--config", join(dir, "config.json"), "--out", out, "--max-iters", "2"], { cwd: dir, maxBuffer: 1 << 24 });
    const events = readFileSync(join(out, "events.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const its = events.filter((e) => e.type === "iteration");
    assert.deepEqual(
      its.map((e) => e.iteration),
      [1, 2],
      r.stdout + r.stderr,
    );
    for (const e of its) {
      assert.ok(Number.isFinite(e.losses.seg) && e.losses.seg > 0, JSON.stringify(e.losses));
      assert.ok(
        Object.keys(e.losses).some((k) => k.startsWith("adv")),
        `an adversarial term (target used): ${Object.keys(e.losses)}`,
      );
    }
    // seg CE of an untrained 11-class net starts near ln(11)
    assert.ok(Math.abs(its[0].losses.seg - Math.log(11)) < 1.5, `seg ${its[0].losses.seg}`);
    const end = events.find((e) => e.type === "end");
    assert.equal(end?.iteration, 2);
    const start = events.find((e) => e.type === "start");
    assert.equal(start?.outDir, out);
    assert.ok(existsSync(join(out, "events.jsonl")));
  });
});
