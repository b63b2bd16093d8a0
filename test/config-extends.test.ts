// Config `extends` (@adaptseg/core loadConfigFile): deep merge onto the base, chains, cycles and
// missing bases named by file, and the examples that use it. Pure node:fs, no shared data.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfigFile, mergeConfig, validateConfig, withExtends } from "@adaptseg/core";
import { repoRoot, tmp } from "./helpers.js";

const write = (file: string, v: unknown) => {
  writeFileSync(file, typeof v === "string" ? v : JSON.stringify(v, null, 2));
  return file;
};

describe("config extends", () => {
  it("deep-merges: objects merge key by key, arrays, scalars and null replace; inputs untouched", () => {
    const base = { a: 1, list: [1, 2, 3], obj: { x: 1, deep: { p: 1, q: 2 }, arr: [1] }, keep: "k", gone: { y: 1 } };
    const over = { a: 2, list: [9], obj: { deep: { q: 3 }, arr: [], z: true }, gone: null };
    const snapshot = JSON.stringify([base, over]);
    assert.deepEqual(mergeConfig(base, over), { a: 2, list: [9], obj: { x: 1, deep: { p: 1, q: 3 }, arr: [], z: true }, keep: "k", gone: null });
    assert.equal(JSON.stringify([base, over]), snapshot);
  });

  it("an object whose type differs from the base's replaces it (another plugin's options do not carry over)", () => {
    const base = { adaptation: { type: "output-space", gan: "vanilla", lambdaAdv: [0.001] }, source: { type: "gta5", root: "gta5", options: { a: 1 } } };
    const m = mergeConfig(base, { adaptation: { type: "source-only" }, source: { root: "elsewhere" } });
    assert.deepEqual(m.adaptation, { type: "source-only" });
    assert.deepEqual(m.source, { type: "gta5", root: "elsewhere", options: { a: 1 } });
    assert.deepEqual(mergeConfig(base, { adaptation: { type: "output-space", lambdaAdv: [0.004] } }).adaptation, { type: "output-space", gan: "vanilla", lambdaAdv: [0.004] });
  });

  it("follows a chain relative to each file; the nearest file wins; extends is dropped; a base's plugins resolve against the base", () => {
    const dir = tmp();
    mkdirSync(join(dir, "bases/deeper"), { recursive: true });
    write(join(dir, "bases/deeper/root.json"), { seed: 1, name: "root", plugins: ["./p.js"], training: { maxIters: 100, stopIter: 50 } });
    write(join(dir, "bases/mid.json"), { extends: "deeper/root.json", name: "mid", training: { stopIter: 20 } });
    const top = write(join(dir, "top.json"), { extends: "bases/mid.json", name: "top", training: { batchSize: 2 } });
    const r = loadConfigFile(top);
    assert.deepEqual(r.config, { seed: 1, name: "top", plugins: [join(dir, "bases/deeper/p.js")], training: { maxIters: 100, stopIter: 20, batchSize: 2 } });
    assert.equal(r.baseDir, dir);
    assert.equal(r.file, top);
    assert.deepEqual(r.chain, [top, join(dir, "bases/mid.json"), join(dir, "bases/deeper/root.json")]);
    // The loaded file's own plugins stay as written (they resolve against baseDir, as before).
    write(top, { extends: "bases/mid.json", plugins: ["./mine.js"] });
    assert.deepEqual(loadConfigFile(top).config.plugins, ["./mine.js"]);
  });

  it("a cycle is an error naming every file in it", () => {
    const dir = tmp();
    const a = write(join(dir, "a.json"), { extends: "b.json" });
    write(join(dir, "b.json"), { extends: "c.json" });
    write(join(dir, "c.json"), { extends: "a.json" });
    assert.throws(
      () => loadConfigFile(a),
      (e: Error) => /cycle/.test(e.message) && /a\.json -> .*b\.json -> .*c\.json -> .*a\.json/.test(e.message),
    );
    const self = write(join(dir, "self.json"), { extends: "./self.json" });
    assert.throws(() => loadConfigFile(self), /cycle: .*self\.json -> .*self\.json/);
  });

  it("a missing base names the file that extends it and the path looked for", () => {
    const dir = tmp();
    const child = write(join(dir, "child.json"), { extends: "mid.json" });
    write(join(dir, "mid.json"), { extends: "nope/base.json" });
    assert.throws(
      () => loadConfigFile(child),
      (e: Error) => e.message.includes("mid.json") && e.message.includes(join(dir, "nope/base.json")) && /does not exist/.test(e.message),
    );
    assert.throws(() => loadConfigFile(join(dir, "absent.json")), /config file not found: .*absent\.json/);
  });

  it("a bad base names its file: not JSON, not an object, a non-string extends", () => {
    const dir = tmp();
    write(join(dir, "broken.json"), "{ nope");
    assert.throws(() => loadConfigFile(write(join(dir, "c1.json"), { extends: "broken.json" })), /broken\.json: not valid JSON/);
    write(join(dir, "list.json"), "[1]");
    assert.throws(() => loadConfigFile(write(join(dir, "c2.json"), { extends: "list.json" })), /list\.json: a config must be a JSON object, got an array/);
    assert.throws(() => loadConfigFile(write(join(dir, "c3.json"), { extends: ["a.json"] })), /c3\.json: "extends" must be a file path/);
  });

  it("the examples that extend resolve to complete, valid configs", () => {
    const ex = (f: string) => loadConfigFile(join(repoRoot, "examples", f));
    const so = ex("gta2cityscapes-source-only.json");
    assert.ok(so.chain.length > 1, "gta2cityscapes-source-only.json extends the output-space example");
    assert.deepEqual(so.config.adaptation, { type: "source-only" });
    assert.deepEqual(so.config.source, ex("gta2cityscapes-output-space.json").config.source);
    const s13 = validateConfig(ex("synthia2cityscapes-13.json").config);
    for (const d of [s13.source, s13.target, s13.evaluation!.dataset!]) assert.equal(d.options?.classes, 13, d.type);
    assert.equal(s13.source.type, "synthia");
  });

  it("withExtends: the schema knows `extends` and keeps everything else", () => {
    const base = { type: "object", required: ["model", "source"], properties: { model: {} }, additionalProperties: false };
    const s = withExtends(base) as typeof base & { properties: Record<string, { type?: string }> };
    assert.equal(s.properties.extends?.type, "string");
    assert.deepEqual({ ...s, properties: { model: s.properties.model } }, base);
  });
});
