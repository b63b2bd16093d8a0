// The VS Code extension's logic that needs no editor: finding the CLI, checking nodePath, run states
// and failure reasons, number formatting, sweep statistics and config validation. (The real editor
// is test/vscode.test.ts.)
import { strict as assert } from "node:assert";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, tmp } from "./helpers.js";
import { binTarget, checkNode, findCli, resolveCli, SetupError } from "../packages/vscode-ext/src/discover.js";
import { describeFailure, eventsSince, statusFromEvents } from "../packages/vscode-ext/src/status.js";
import { sig4, meanSd, gain } from "../packages/vscode-ext/src/format.js";
import { normalizeSweep } from "../packages/vscode-ext/src/sweep.js";
import { looksLikeExperiment, parseTree, validate, validateConfig } from "../packages/vscode-ext/src/jsonschema.js";

const touch = (f: string, text = "") => {
  mkdirSync(join(f, ".."), { recursive: true });
  writeFileSync(f, text);
  return f;
};
const setupError = (fn: () => unknown, re: RegExp, setting: string) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SetupError, `not a SetupError: ${e}`);
    assert.equal(e.setting, setting);
    assert.match(e.message, re);
    return;
  }
  assert.fail("no error");
};

describe("vscode-ext: finding the CLI", () => {
  it("prefers packages/cli/dist/cli.js over the pre-split packages/core/dist/cli.js, and finds the checkout from a subfolder", () => {
    const ws = tmp("adaptseg-cli-");
    const core = touch(join(ws, "packages/core/dist/cli.js"));
    assert.equal(findCli([ws]).file, core);
    const cli = touch(join(ws, "packages/cli/dist/cli.js"));
    assert.equal(findCli([ws]).file, cli);
    mkdirSync(join(ws, "examples/sub"), { recursive: true });
    assert.equal(findCli([join(ws, "examples/sub")]).file, cli);
    assert.equal(resolveCli(undefined, ws, [ws]), cli);
  });

  it("follows node_modules/.bin/adaptseg: pnpm's shell shim and npm's symlink", () => {
    const ws = tmp("adaptseg-bin-");
    const target = touch(join(ws, "node_modules/@adaptseg/cli/dist/cli.js"), "#!/usr/bin/env node\n");
    // pnpm writes a shell script naming the target relative to $basedir.
    touch(
      join(ws, "node_modules/.bin/adaptseg"),
      `#!/bin/sh\nbasedir=$(dirname "$(echo "$0" | sed -e 's,\\\\,/,g')")\nif [ -x "$basedir/node" ]; then\n  exec "$basedir/node"  "$basedir/../@adaptseg/cli/dist/cli.js" "$@"\nelse\n  exec node  "$basedir/../@adaptseg/cli/dist/cli.js" "$@"\nfi\n`,
    );
    assert.equal(binTarget(join(ws, "node_modules/.bin/adaptseg")), target);
    assert.equal(findCli([ws]).file, target);
    const npm = tmp("adaptseg-npm-");
    const t2 = touch(join(npm, "node_modules/@adaptseg/cli/dist/cli.js"), "#!/usr/bin/env node\n");
    mkdirSync(join(npm, "node_modules/.bin"));
    symlinkSync("../@adaptseg/cli/dist/cli.js", join(npm, "node_modules/.bin/adaptseg"));
    assert.equal(findCli([npm]).file, t2);
  });

  it("says which setting to set: nothing found, an unbuilt checkout, a cliPath that does not exist", () => {
    const empty = tmp("adaptseg-none-");
    setupError(() => resolveCli(undefined, empty, [empty]), /not found in this workspace.*"adaptseg\.cliPath"/, "adaptseg.cliPath");
    const unbuilt = tmp("adaptseg-unbuilt-");
    touch(join(unbuilt, "packages/cli/src/cli.ts"));
    setupError(() => resolveCli(undefined, unbuilt, [unbuilt]), /not built yet.*node scripts\/build\.mjs/, "adaptseg.cliPath");
    setupError(() => resolveCli("tools/cli.js", empty, [empty]), new RegExp(`"adaptseg\\.cliPath" is set to ${join(empty, "tools/cli.js")}, which does not exist`), "adaptseg.cliPath");
    // A set cliPath wins over what the workspace holds.
    const ws = tmp("adaptseg-set-");
    touch(join(ws, "packages/cli/dist/cli.js"));
    const mine = touch(join(ws, "mine/cli.js"));
    assert.equal(resolveCli("mine/cli.js", ws, [ws]), mine);
  });

  it("checks nodePath: Node runs, a missing file, a name not on PATH and a non-Node executable are told apart", async function () {
    this.timeout(30_000);
    assert.match(await checkNode(process.execPath), /^\d+\.\d+\.\d+$/);
    const why = async (p: string) =>
      checkNode(p).then(
        () => "ok",
        (e) => {
          assert.ok(e instanceof SetupError);
          assert.equal(e.setting, "adaptseg.nodePath");
          return e.message as string;
        },
      );
    assert.match(await why("/nonexistent/bin/node"), /"adaptseg\.nodePath" is "\/nonexistent\/bin\/node": no such file/);
    assert.match(await why("adaptseg-no-such-node"), /not found on PATH/);
    const fake = join(tmp("adaptseg-fake-"), "node");
    writeFileSync(fake, "#!/bin/sh\necho hello\n");
    chmodSync(fake, 0o755);
    assert.match(await why(fake), /printed "hello", not a Node\.js version/);
  });
});

describe("vscode-ext: run states and failure reasons", () => {
  const t = (s: number) => new Date(s).toISOString();
  it("a config error offers Open Config; a process that never started names adaptseg.nodePath; a deleted run folder is named, without blaming the config", () => {
    const cfg = "/ws/experiments/tiny.json",
      out = "/ws/runs/tiny-20250101-000000";
    const c = describeFailure({ message: `${cfg}: invalid config:\n  model.widthMultiplier: must be <= 1`, config: cfg, out });
    assert.deepEqual(c.action, { kind: "config", file: cfg, field: "model.widthMultiplier" });
    assert.match(c.reason, /model\.widthMultiplier/);
    const n = describeFailure({ notStarted: true, nodePath: "/opt/node", config: cfg, out });
    assert.deepEqual(n.action, { kind: "settings", setting: "adaptseg.nodePath" });
    assert.match(n.reason, /"\/opt\/node" could not be run/);
    const g = describeFailure({ message: `ENOENT: no such file or directory, open '${out}/events.jsonl'`, config: cfg, out, hasTerminal: true });
    assert.equal(g.action, undefined, "a vanished folder is not a config problem");
    assert.match(g.reason, new RegExp(`run folder ${out} was deleted`));
    assert.match(describeFailure({ folderGone: true, out, config: cfg }).reason, /run folder .* was deleted/);
    const m = describeFailure({ message: "Cannot find module '/x/packages/cli/dist/cli.js'", cli: "/x/packages/cli/dist/cli.js", config: cfg });
    assert.deepEqual(m.action, { kind: "settings", setting: "adaptseg.cliPath" });
    const other = describeFailure({ message: "out of memory", config: cfg, hasTerminal: true });
    assert.deepEqual(other.action, { kind: "terminal" });
    assert.equal(describeFailure({ exitCode: 3 }).reason, "the CLI exited with code 3");
  });

  it("a resumed run's file: the events of this process only, and the state from its newest start", () => {
    const base = Date.parse("2025-01-01T00:00:00Z");
    const events: any[] = [
      { type: "start", time: t(base), iteration: 0, stopIter: 100, resumed: false },
      { type: "iteration", time: t(base + 1000), iteration: 1, losses: { seg: 1 }, lr: { G: 0.01 } },
      { type: "checkpoint", time: t(base + 2000), iteration: 1, path: "/r/ckpt-1.safetensors", reason: "signal" },
      { type: "end", time: t(base + 2100), iteration: 1, status: "stopped" },
      { type: "start", time: t(base + 60_000), iteration: 1, stopIter: 100, resumed: true },
      { type: "iteration", time: t(base + 61_000), iteration: 2, losses: { seg: 0.9 }, lr: { G: 0.01 } },
    ];
    assert.deepEqual(
      eventsSince(events, base + 59_000).map((e) => e.type),
      ["start", "iteration"],
    );
    // A resume right after a stop: the stop's end event (a moment earlier) is not this process's.
    assert.deepEqual(eventsSince(events.slice(0, 4), base + 3000), []);
    assert.equal(statusFromEvents(events.slice(0, 4), { folderExists: true, folder: "/r" }).state, "stopped");
    assert.match(statusFromEvents(events.slice(0, 4), { folderExists: true, folder: "/r" }).detail!, /checkpoint \/r\/ckpt-1\.safetensors/);
    assert.equal(statusFromEvents(events, { folderExists: true, folder: "/r", mtimeMs: base + 61_000, now: base + 62_000 }).state, "live");
    assert.equal(statusFromEvents(events, { folderExists: true, folder: "/r", mtimeMs: base + 61_000, now: base + 3600_000 }).state, "unknown");
    const gone = statusFromEvents(events, { folderExists: false, folder: "/r" });
    assert.equal(gone.state, "failed");
    assert.match(gone.detail!, /the run folder \/r does not exist/);
  });
});

describe("vscode-ext: numbers and sweeps", () => {
  it("values at 4 significant digits, small learning rates in exponent form", () => {
    assert.equal(sig4(0.7442381978034973), "0.7442");
    assert.equal(sig4(2.3356223106384277), "2.336");
    assert.equal(sig4(0.001993718664752192), "0.001994");
    assert.equal(sig4(0.00001993718664752192), "1.994e-5");
    assert.equal(sig4(0.0001), "1e-4");
    assert.equal(sig4(1234.5678), "1235");
    assert.equal(sig4(0), "0");
    assert.equal(meanSd(12.3456, 0.5), "12.35 ± 0.50");
    assert.equal(gain(1.5, 0.25), "+1.50 ± 0.25");
    assert.equal(gain(-0.5, 0.25), "-0.50 ± 0.25");
  });

  it("sweep.json: mean ± sd per setting and the paired gain over shared seeds, computed where the file has runs only", () => {
    const s = normalizeSweep({
      baseline: "source-only",
      settings: [
        {
          id: "source-only",
          values: { "adaptation.type": "source-only" },
          runs: [
            { seed: 1, miou: 10 },
            { seed: 2, miou: 12 },
            { seed: 3, miou: 14 },
          ],
        },
        {
          id: "output-space",
          values: { "adaptation.type": "output-space", lambdaAdv: 0.001 },
          runs: [
            { seed: 1, miou: 13, perClass: { road: 50, sky: null } },
            { seed: 2, miou: 13, perClass: { road: 60, sky: 80 } },
            { seed: 4, miou: 20 },
          ],
        },
        { id: "given", values: {}, runs: [{ seed: 1, miou: 1 }], mean: 42, sd: 1, pairedGain: { mean: 5, sd: 2, perSeed: { 1: 5 } } },
      ],
    });
    const [b, o, g] = s.settings;
    assert.equal(b!.mean, 12);
    assert.equal(b!.sd, 2);
    assert.equal(b!.pairedGain, undefined);
    assert.ok(Math.abs(o!.mean! - 46 / 3) < 1e-12);
    // Paired over seeds 1 and 2 only: gains 3 and 1.
    assert.deepEqual(o!.pairedGain!.perSeed, [
      { seed: 1, gain: 3 },
      { seed: 2, gain: 1 },
    ]);
    assert.equal(o!.pairedGain!.mean, 2);
    assert.ok(Math.abs(o!.pairedGain!.sd - Math.SQRT2) < 1e-12);
    assert.deepEqual(o!.perClassMean, { road: 55, sky: 80 });
    assert.equal(g!.mean, 42);
    assert.deepEqual(g!.pairedGain, { mean: 5, sd: 2, perSeed: [{ seed: "1", gain: 5 }] });
    assert.throws(() => normalizeSweep({ runs: [] }), /no "settings" array/);
  });
});

describe("vscode-ext: sweep.json from packages/sweep", () => {
  it("reads the adaptseg-sweep/1 file `adaptseg sweep` writes: its mean ± sd and paired differences, its state", async function () {
    const results = join(repoRoot, "packages/sweep/src/results.ts");
    if (!existsSync(results)) this.skip(); // packages/sweep not there: the documented shape is tested above
    const { settingsSummary } = await import(results);
    const seeds = [1, 2, 3];
    const settings = [
      { id: "lambdaAdv=0.0005", values: { "adaptation.lambdaAdv": [0.0005] } },
      { id: "lambdaAdv=0.001", values: { "adaptation.lambdaAdv": [0.001] } },
    ];
    const miou: Record<string, number[]> = { "lambdaAdv=0.0005": [30, 31, 35], "lambdaAdv=0.001": [32, 34, 36] };
    const runs = settings.flatMap((st) =>
      seeds.map((seed, k) => ({
        id: `${st.id}/seed-${seed}`,
        setting: st.id,
        seed,
        stage: "main",
        outDir: `/s/${st.id}/seed-${seed}`,
        // The last run of the second setting is still running: its seed is left out of the pairs.
        status: st.id === "lambdaAdv=0.001" && seed === 3 ? "running" : "completed",
        metrics: { miou: miou[st.id]![k]!, pixelAccuracy: 80, iteration: 100, perClass: { road: miou[st.id]![k]! * 2, sky: null } },
      })),
    );
    const summary = settingsSummary({ settings, seeds, baseline: "lambdaAdv=0.0005" }, runs);
    const file = {
      format: "adaptseg-sweep/1",
      name: "lambda",
      outDir: "/s",
      updatedAt: new Date().toISOString(),
      state: "running",
      executor: { kind: "local", workers: 2 },
      axes: [{ path: "adaptation.lambdaAdv", label: "lambdaAdv", values: [0.0005, 0.001] }],
      seeds,
      baseline: "lambdaAdv=0.0005",
      metric: "miou",
      settings: summary,
      runs,
      files: {},
    };
    const s = normalizeSweep(JSON.parse(JSON.stringify(file)));
    assert.equal(s.metric, "mIoU");
    assert.equal(s.state, "running");
    assert.deepEqual(s.runStatus, { completed: 5, running: 1 });
    assert.equal(s.seeds, 3);
    const [a, b] = s.settings;
    assert.equal(a!.mean, 32);
    assert.ok(Math.abs(a!.sd! - Math.sqrt(7)) < 1e-12);
    assert.equal(a!.pairedGain, undefined, "the baseline has no paired gain");
    assert.equal(b!.mean, 33);
    // Seeds 1 and 2 only: +2, +3.
    assert.equal(b!.pairedGain!.mean, 2.5);
    assert.deepEqual(b!.pairedGain!.perSeed, [
      { seed: "1", gain: 2 },
      { seed: "2", gain: 3 },
    ]);
    assert.equal(meanSd(b!.mean, b!.sd), "33.00 ± 1.41");
    assert.deepEqual(b!.perClassMean, { road: 66, sky: null });
  });
});

describe("vscode-ext: config validation", () => {
  const schemaFile = join(repoRoot, "packages/vscode-ext/dist/config.schema.json");
  it("reports schema problems with the field and the position, from the schema `adaptseg schema` writes", function () {
    if (!existsSync(schemaFile)) this.skip(); // built by `node scripts/build.mjs vscode-ext` (needs the CLI built)
    const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
    const text = `{
  // a comment, as VS Code allows
  "model": { "type": "vgg16-deeplab", "widthMultiplier": 2 },
  "adaptation": { "type": "output-space" },
  "source": { "type": "camvid", "sizee": { "width": 64, "height": 48 } },
  "target": { "type": "camvid", "augment": { "scale": [0.5] } },
  "seed": 1.5,
}`;
    const tree = parseTree(text);
    const problems = validate(tree, schema);
    const find = (path: string) => problems.find((p) => p.path === path);
    const wm = find("model.widthMultiplier");
    assert.ok(wm, JSON.stringify(problems));
    assert.match(wm.message, /<= 1/);
    assert.equal(text.slice(wm.offset, wm.offset + wm.length), "2");
    const extra = find("source.sizee");
    assert.ok(extra && /unknown property "sizee"/.test(extra.message));
    assert.equal(text.slice(extra.offset, extra.offset + extra.length), '"sizee"');
    assert.match(find("seed")!.message, /must be an integer/);
    assert.ok(find("target.augment.scale"), "a 1-item tuple where 2 are required");
    // No false alarms: every example config is valid (and looks like an experiment).
    for (const f of readdirSync(join(repoRoot, "examples")).filter((f) => f.endsWith(".json") && !f.endsWith(".sweep.json"))) {
      const ex = readFileSync(join(repoRoot, "examples", f), "utf8");
      assert.ok(looksLikeExperiment(JSON.parse(ex)), f);
      assert.deepEqual(
        validateConfig(parseTree(ex), schema).map((p) => `${f}: ${p.path}: ${p.message}`),
        [],
      );
    }
  });

  it("a union of objects told apart by `type` (one per plugin) reports the problems of the branch the type names", () => {
    const branch = (type: string, extra: Record<string, unknown>) => ({ type: "object", additionalProperties: false, required: ["type"], properties: { type: { const: type }, ...extra } });
    const schema = { type: "object", properties: { model: { anyOf: [branch("vgg", { width: { type: "number", maximum: 1 } }), branch("resnet", { depth: { type: "integer" } })] } } };
    const probs = (text: string) => validate(parseTree(text), schema).map((p) => `${p.path}: ${p.message} @${text.slice(p.offset, p.offset + p.length)}`);
    assert.deepEqual(probs('{"model": {"type": "vgg", "width": 2}}'), ["model.width: must be <= 1 @2"]);
    assert.deepEqual(probs('{"model": {"type": "resnet", "width": 0.5}}'), ['model.width: unknown property "width" (allowed: type, depth) @"width"']);
    assert.deepEqual(probs('{"model": {"type": "vit"}}'), ['model.type: must be one of "vgg", "resnet" @"vit"']);
    assert.deepEqual(probs('{"model": {"type": "vgg", "width": 0.5}}'), []);
    // A config that extends another may leave out what the base sets; what it says is still checked.
    const partial = '{"extends": "base.json", "model": {"width": 2}}';
    assert.deepEqual(
      validateConfig(parseTree(partial), { ...schema, required: ["model", "source"] }).map((p) => p.message),
      [],
    );
    assert.deepEqual(
      validateConfig(parseTree('{"extends": "b.json", "model": {"type": "vgg", "width": 2}}'), schema).map((p) => p.message),
      ["must be <= 1"],
    );
  });

  it("a missing required property points at the object's key; anyOf of constants reads as a choice", () => {
    const schema = {
      type: "object",
      required: ["model"],
      properties: { model: { type: "object", required: ["type"], properties: { type: { type: "string" }, aspp: { anyOf: [{ const: "faithful" }, { const: "fixed" }] } } } },
    };
    const text = '{ "model": { "aspp": "other" } }';
    const p = validate(parseTree(text), schema);
    assert.deepEqual(
      p.map((x) => [x.path, x.message, text.slice(x.offset, x.offset + x.length)]),
      [
        ["model.aspp", 'must be "faithful" or "fixed"', '"other"'],
        ["model", 'missing required property "type"', '"model"'],
      ],
    );
  });
});
