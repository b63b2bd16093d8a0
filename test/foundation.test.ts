// Foundation: config validation and schema, the plugin container, backend selection, the CLI.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { writeFileSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import {
  AdaptationStrategy,
  Backbone,
  ConfigError,
  DatasetAdapter,
  Discriminator,
  Metric,
  configJsonSchema,
  createContainer,
  fieldPath,
  pluginNames,
  resolvePlugin,
  validateConfig,
} from "@adaptseg/core";
import { repoRoot, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/core/dist/cli.js");
const base = () => ({
  model: { type: "vgg16-deeplab" },
  adaptation: { type: "output-space", lambdaAdv: [0.001] },
  source: { type: "gta5", root: "gta5" },
  target: { type: "cityscapes", root: "cityscapes" },
});

describe("experiment config", () => {
  it("accepts a minimal config and every example in examples/", () => {
    validateConfig(base());
    const files = readdirSync(join(repoRoot, "examples")).filter((f) => f.endsWith(".json"));
    assert.ok(files.length >= 8, `expected the paper settings in examples/, found ${files.length}`);
    for (const f of files) validateConfig(JSON.parse(readFileSync(join(repoRoot, "examples", f), "utf8")), f);
  });

  it("names the field path of a wrong type", () => {
    const c = base();
    (c.adaptation as { lambdaAdv: unknown[] }).lambdaAdv = [0.0002, "x"];
    assert.throws(() => validateConfig(c, "exp.json"), (e: ConfigError) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(e.problems.includes("adaptation.lambdaAdv[1] must be a number"), e.message);
      assert.match(e.message, /^exp\.json: invalid config/);
      return true;
    });
  });

  it("rejects unknown keys and missing required fields by path", () => {
    const c = { ...base(), model: { type: "vgg16-deeplab", widthMultipler: 0.5 } } as Record<string, unknown>;
    delete c.target;
    assert.throws(() => validateConfig(c), (e: ConfigError) => {
      assert.ok(e.problems.includes("model.widthMultipler is not a known field"), e.message);
      assert.ok(e.problems.includes("target is required"), e.message);
      return true;
    });
    assert.throws(() => validateConfig({ ...base(), adaptation: { type: "output-space", gan: "wgan" } }), /adaptation\.gan must be "vanilla" or "lsgan"/);
  });

  it("converts JSON pointers to field paths", () => {
    assert.equal(fieldPath("/adaptation/lambdaAdv/1"), "adaptation.lambdaAdv[1]");
    assert.equal(fieldPath(""), "(root)");
  });

  it("`adaptseg schema` prints the same JSON Schema", () => {
    const printed = JSON.parse(execFileSync(process.execPath, [cli, "schema"], { encoding: "utf8" }));
    assert.deepEqual(printed, configJsonSchema());
    assert.equal(printed.properties.adaptation.properties.lambdaAdv.type, "array");
  });
});

describe("plugin container", () => {
  it("knows every built-in plugin by name", async () => {
    const c = await createContainer();
    const names = pluginNames(c);
    assert.deepEqual(names.ComputeBackend, ["tfjs-node-gpu", "tfjs-node", "wasm", "cpu"]);
    assert.ok(names.Backbone.includes("vgg16-deeplab"));
    assert.deepEqual([...names.AdaptationStrategy].sort(), ["feature-level", "multi-level", "output-space", "source-only"]);
    assert.ok(names.Discriminator.includes("fc"));
    for (const d of ["gta5", "synthia", "cityscapes", "camvid", "image-folder"]) assert.ok(names.DatasetAdapter.includes(d), d);
    assert.ok(names.Metric.includes("miou"));
    assert.equal(resolvePlugin<{ name: string }>(c, Backbone, "vgg16-deeplab").name, "vgg16-deeplab");
  });

  it("an unknown type lists the known names", async () => {
    const c = await createContainer();
    assert.throws(() => resolvePlugin(c, AdaptationStrategy, "pixel-level", "adaptation.type"), /adaptation\.type: unknown AdaptationStrategy "pixel-level"; known: .*output-space/);
    assert.throws(() => resolvePlugin(c, Discriminator, "patchgan"), /known: fc/);
  });

  it("loads ESM and CJS plugin files named in the config; a missing one is a clear error", async () => {
    const dir = tmp();
    // Plugins import inversify themselves; here: the copy core uses (inversify 8 is ESM-only).
    const inversify = pathToFileURL(join(realpathSync(join(repoRoot, "packages/core/node_modules/inversify")), "lib/index.js")).href;
    writeFileSync(
      join(dir, "esm-plugin.mjs"),
      `import { ContainerModule } from ${JSON.stringify(inversify)};
       export const containerModule = new ContainerModule(({ bind }) => {
         bind(Symbol.for("adaptseg.Metric")).toConstantValue({ name: "esm-metric", create() {} });
       });`,
    );
    writeFileSync(
      join(dir, "cjs-plugin.cjs"),
      `const { ContainerModule } = require(${JSON.stringify(new URL(inversify).pathname)});
       module.exports = new ContainerModule(({ bind }) => {
         bind(Symbol.for("adaptseg.DatasetAdapter")).toConstantValue({ name: "cjs-data" });
       });`,
    );
    const c = await createContainer({ plugins: ["./esm-plugin.mjs", "./cjs-plugin.cjs"] }, { baseDir: dir });
    assert.ok(pluginNames(c).Metric.includes("esm-metric"));
    assert.ok(pluginNames(c).DatasetAdapter.includes("cjs-data"));
    assert.equal(resolvePlugin<{ name: string }>(c, Metric, "esm-metric").name, "esm-metric");
    await assert.rejects(createContainer({ plugins: ["./nope.js"] }, { baseDir: dir }), /plugin "\.\/nope\.js" not found/);
    void DatasetAdapter;
  });
});

describe("adaptseg info", () => {
  it("--json names wasm as the backend here and says why the tfjs-node packages were skipped", () => {
    const info = JSON.parse(execFileSync(process.execPath, [cli, "info", "--json"], { encoding: "utf8", env: { ...process.env, ADAPTSEG_BACKEND: "" } }));
    assert.equal(info.backend, "wasm");
    assert.deepEqual(info.skipped.map((s: { name: string }) => s.name), ["tfjs-node-gpu", "tfjs-node"]);
    for (const s of info.skipped) assert.match(s.reason, /did not load|not installed|Cannot find/);
    assert.ok(info.plugins.AdaptationStrategy.length >= 4);
  });

  it("ADAPTSEG_BACKEND overrides the choice; an unknown backend is an error naming the known ones", () => {
    const info = JSON.parse(execFileSync(process.execPath, [cli, "info", "--json"], { encoding: "utf8", env: { ...process.env, ADAPTSEG_BACKEND: "cpu" } }));
    assert.equal(info.backend, "cpu");
    assert.throws(
      () => execFileSync(process.execPath, [cli, "info", "--backend", "webgpu"], { encoding: "utf8", stdio: "pipe" }),
      (e: { stderr: string }) => /unknown backend "webgpu"; known: tfjs-node-gpu, tfjs-node, wasm, cpu/.test(e.stderr),
    );
  });
});
