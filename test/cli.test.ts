// The adaptseg command line: every command's --help from its declaration, one clear error for an
// unknown option, numbers range-checked by name, the README's table generated, `schema` with plugins,
// a run piped into `head -n 2` ending cleanly, and `predict` keeping same-named inputs apart.
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseEvent, type RunEvent } from "@adaptseg/core";
import { commands } from "../packages/cli/src/commands.js";
import { describeWithData, repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");
/** Runs the CLI; never throws: { code, stdout, stderr }. */
async function adaptseg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [cli, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout: string; stderr: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout, stderr: x.stderr };
  }
}
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at .+[:(]/m, `a stack trace:\n${stderr}`);

describe("adaptseg CLI: declarations, help, errors", function () {
  this.timeout(120_000);

  it("knows every command", () => {
    assert.deepEqual(commands.map((c) => c.name).sort(), ["demo", "eval", "export", "info", "predict", "predict-server", "retrieve", "schema", "sweep", "train", "worker"]);
  });

  it("`<command> --help` exits 0 and lists every option of every command; `help <command>` is the same; `--help` lists every command", async () => {
    const runs = await Promise.all(commands.map((c) => adaptseg(c.name, "--help")));
    commands.forEach((c, i) => {
      const r = runs[i]!;
      assert.equal(r.code, 0, `${c.name} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: adaptseg ${c.name}\\b`), c.name);
      for (const name of Object.keys(c.options)) assert.match(r.stdout, new RegExp(`--${name}\\b`), `${c.name} --help lists --${name}`);
      assert.match(r.stdout, /-h, --help/);
    });
    // -h anywhere before `--` wins over everything else, even an unknown option.
    const [h, help, main] = await Promise.all([adaptseg("train", "--bogus", "-h"), adaptseg("help", "train"), adaptseg("--help")]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(help.stdout, h.stdout);
    assert.equal(main.code, 0);
    for (const c of commands) assert.match(main.stdout, new RegExp(`^  ${c.name} `, "m"));
  });

  it("an unknown option or command is one clear error with the usage (exit 2, no stack)", async () => {
    const r = await adaptseg("train", "--config", "x.json", "--max-iter", "5");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^adaptseg train: unknown option --max-iter \(did you mean --max-iters\?\)\n/);
    assert.match(r.stderr, /\nusage: adaptseg train --config <file> \[--out <dir>\]/);
    assert.equal(r.stderr.match(/unknown option/g)!.length, 1);
    noStack(r.stderr);
    const p = await adaptseg("info", "stray");
    assert.equal(p.code, 2);
    assert.match(p.stderr, /info: unexpected argument "stray"/);
    const u = await adaptseg("trian");
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown command "trian"/);
    const m = await adaptseg("train");
    assert.equal(m.code, 2);
    assert.match(m.stderr, /--config <file> is required/);
  });

  it("numbers are range-checked from the declaration, naming the option", async () => {
    const cases: [string[], RegExp][] = [
      [["train", "--config", "c.json", "--max-iters", "0"], /--max-iters must be an integer >= 1, got "0"/],
      [["train", "--config", "c.json", "--max-iters", "-3"], /--max-iters must be an integer >= 1, got "-3"/],
      [["train", "--config", "c.json", "--max-iters", "2.5"], /--max-iters must be an integer >= 1/],
      [["train", "--config", "c.json", "--seed", "abc"], /--seed must be an integer, got "abc"/],
      [["predict", "--checkpoint", "c", "--alpha", "abc", "a.png"], /--alpha must be a number from 0 to 1, got "abc"/],
      [["predict", "--checkpoint", "c", "--alpha", "1.5", "a.png"], /--alpha must be a number from 0 to 1, got "1.5"/],
      [["predict", "--checkpoint", "c", "--alpha", "-0.1", "a.png"], /--alpha must be a number from 0 to 1, got "-0.1"/],
      [["predict", "--checkpoint", "c", "--size", "0x48", "a.png"], /--size must be WIDTHxHEIGHT, integers >= 8, got "0x48"/],
      [["predict", "--checkpoint", "c", "--size", "64", "a.png"], /--size must be WIDTHxHEIGHT/],
      [["retrieve", "--config", "c.json", "--checkpoint", "c", "--k", "0"], /--k must be an integer >= 1/],
      [["eval", "--config", "c.json", "--checkpoint", "c", "--limit", "-1"], /--limit must be an integer >= 1/],
      [["demo", "--lr", "0"], /--lr must be a number > 0, got "0"/],
      [["demo", "--seeds", "1,x"], /--seeds must be an integer, got "x"/],
      [["demo", "--iters", "0"], /--iters must be an integer >= 1/],
      [["predict", "--checkpoint", "c", "--runtime", "gpu", "a.png"], /--runtime must be one of onnx, tfjs, got "gpu"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => adaptseg(...args)));
    cases.forEach(([args, re], i) => {
      assert.equal(runs[i]!.code, 2, `${args.join(" ")}: ${runs[i]!.stderr}`);
      assert.match(runs[i]!.stderr, re, args.join(" "));
      noStack(runs[i]!.stderr);
    });
    // In range, parsing passes and the command itself fails on the missing file (exit 1, not 2).
    const ok = await adaptseg("train", "--config", join(tmp(), "missing.json"), "--max-iters", "1", "--seed", "-5");
    assert.equal(ok.code, 1, ok.stderr);
    assert.match(ok.stderr, /config file not found/);
  });

  it("README.md's command table is `adaptseg help --markdown`", async () => {
    const r = await adaptseg("help", "--markdown");
    assert.equal(r.code, 0);
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Command line"), readme.indexOf("\n## ", readme.indexOf("## Command line") + 1));
    const table =
      section
        .split("\n")
        .filter((l) => l.startsWith("|"))
        .join("\n") + "\n";
    assert.equal(table, r.stdout, "README.md's table is stale: paste `adaptseg help --markdown` into its Command line section");
    for (const c of commands) assert.ok(r.stdout.includes(`| \`${c.name}`), c.name);
  });

  it("`schema` composes the plugins a config lists (through extends) or --plugin names, and knows `extends`", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(realpathSync(join(repoRoot, "packages/core/node_modules/inversify")), join(dir, "node_modules/inversify"), "dir");
    writeFileSync(
      join(dir, "toy.mjs"),
      `import { ContainerModule } from "inversify";
const toy = { name: "toy-net", options: { type: "object", properties: { depth: { type: "integer", minimum: 1, default: 3 } } }, create() { throw new Error("not here"); } };
export const containerModule = new ContainerModule(({ bind }) => { bind(Symbol.for("adaptseg.Backbone")).toConstantValue(toy); });
`,
    );
    writeFileSync(join(dir, "base.json"), JSON.stringify({ plugins: ["./toy.mjs"] }));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub/exp.json"), JSON.stringify({ extends: "../base.json", name: "x" }));
    const toyVariant = (out: string) => (JSON.parse(out).properties.model.anyOf as { title: string; properties: Record<string, { minimum?: number }> }[]).find((v) => v.title === "toy-net");
    const [plain, byConfig, byFlag] = await Promise.all([adaptseg("schema"), adaptseg("schema", "--config", join(dir, "sub/exp.json")), adaptseg("schema", "--plugin", join(dir, "toy.mjs"))]);
    for (const r of [plain, byConfig, byFlag]) assert.equal(r.code, 0, r.stderr);
    assert.equal(toyVariant(plain.stdout), undefined);
    for (const r of [byConfig, byFlag]) assert.equal(toyVariant(r.stdout)?.properties.depth?.minimum, 1);
    const s = JSON.parse(plain.stdout);
    assert.equal(s.properties.extends.type, "string");
    assert.ok(s.properties.model.anyOf.some((v: { title: string }) => v.title === "vgg16-deeplab"));
  });
});

describeWithData("adaptseg CLI: runs", function () {
  this.timeout(300_000);
  let dir: string;
  let checkpoint: string;

  it("`adaptseg train ... | head -n 2` ends cleanly: exit 0, no stack trace, a checkpoint, the end event; the config's extends applies", () => {
    dir = tmp();
    // The base is the tiny run; the experiment extends it for 40 iterations (it must stop long before).
    writeFileSync(join(dir, "base.json"), JSON.stringify({ ...tinyConfig("source-only", 6), evaluation: undefined }));
    writeFileSync(join(dir, "exp.json"), JSON.stringify({ extends: "base.json", training: { stopIter: 40, snapshotEvery: 2 } }));
    const out = join(dir, "run");
    const r = spawnSync(
      "bash",
      ["-c", '"$NODE" "$CLI" train --config "$DIR/exp.json" --out "$OUT" --data "$DATA" 2>"$DIR/stderr.txt" | head -n 2 >"$DIR/head.txt"; echo "${PIPESTATUS[0]}" >"$DIR/code.txt"'],
      {
        env: { ...process.env, NODE: process.execPath, CLI: cli, DIR: dir, OUT: out, DATA: sharedData },
        encoding: "utf8",
        timeout: 240_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const stderr = readFileSync(join(dir, "stderr.txt"), "utf8");
    assert.equal(readFileSync(join(dir, "code.txt"), "utf8").trim(), "0", stderr);
    noStack(stderr);
    assert.doesNotMatch(stderr, /EPIPE|Unhandled|Error/, stderr);
    assert.match(stderr, /stdout closed: checkpointing and stopping/);
    assert.equal(readFileSync(join(dir, "head.txt"), "utf8").split("\n").filter(Boolean).length, 2);
    const events = readFileSync(join(out, "events.jsonl"), "utf8").split("\n").map(parseEvent).filter(Boolean) as RunEvent[];
    const start = events.find((e) => e.type === "start");
    assert.equal(start?.type === "start" && start.stopIter, 40, "stopIter from the extending file");
    const end = events.at(-1)!;
    assert.equal(end.type, "end");
    assert.equal(end.type === "end" && end.status, "stopped");
    assert.ok(end.iteration < 40, `stopped at ${end.iteration}`);
    const ck = events.filter((e) => e.type === "checkpoint").at(-1);
    assert.ok(ck?.type === "checkpoint" && ck.reason === "signal" && ck.iteration === end.iteration && existsSync(ck.path), JSON.stringify(ck));
    checkpoint = ck.path;
  });

  it("predict keeps inputs with one file name in different folders apart, and refuses two that would write the same files", async () => {
    assert.ok(checkpoint, "needs the run above");
    const val = join(sharedData, "camvid/CamVid/val");
    const [a, b] = readdirSync(val)
      .filter((f) => f.endsWith(".png"))
      .sort()
      .slice(0, 2)
      .map((f) => join(val, f));
    const inputs = join(dir, "inputs");
    for (const [sub, from] of [
      ["day", a!],
      ["dusk", b!],
    ] as const) {
      mkdirSync(join(inputs, sub), { recursive: true });
      copyFileSync(from, join(inputs, sub, "frame.png"));
    }
    const out = join(dir, "pred");
    const r = await adaptseg("predict", "--checkpoint", checkpoint, "--out", out, "--alpha", "0.3", join(inputs, "day/frame.png"), join(inputs, "dusk/frame.png"));
    assert.equal(r.code, 0, r.stderr);
    for (const sub of ["day", "dusk"]) for (const k of ["mask", "color", "overlay"]) assert.ok(existsSync(join(out, sub, `frame_${k}.png`)), `${sub}/frame_${k}.png`);
    assert.notDeepEqual(readFileSync(join(out, "day/frame_overlay.png")), readFileSync(join(out, "dusk/frame_overlay.png")));
    // frame.png and frame.jpg in one folder would both write frame_*.png: refused before anything is written.
    copyFileSync(join(inputs, "day/frame.png"), join(inputs, "day/frame.jpg"));
    const out2 = join(dir, "pred2");
    const clash = await adaptseg("predict", "--checkpoint", checkpoint, "--out", out2, join(inputs, "day/frame.png"), join(inputs, "day/frame.jpg"));
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /day\/frame\.png and .*day\/frame\.jpg would both write frame_\{mask,color,overlay\}\.png/);
    noStack(clash.stderr);
    assert.ok(!existsSync(out2), "nothing written");
  });
});
