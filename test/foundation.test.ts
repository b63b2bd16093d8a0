// Foundation: config validation and schema, the plugin container, backend selection, the CLI.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { writeFileSync, readdirSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import {
  AdaptationStrategy,
  Backbone,
  ConfigError,
  DatasetAdapter,
  Discriminator,
  applyPluginOptions,
  bindPlugin,
  composeConfigSchema,
  createContainer,
  fieldPath,
  loadConfigFile,
  pluginNames,
  resolvePlugin,
  validateConfig,
  withExtends,
} from "@adaptseg/core";
import { builtinModules } from "@adaptseg/engine";
import { repoRoot, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");
const base = () => ({
  model: { type: "vgg16-deeplab" },
  adaptation: { type: "output-space", lambdaAdv: [0.001] },
  source: { type: "gta5", root: "gta5" },
  target: { type: "cityscapes", root: "cityscapes" },
});

describe("experiment config", () => {
  it("accepts a minimal config and every example in examples/", () => {
    validateConfig(base());
    const files = readdirSync(join(repoRoot, "examples")).filter((f) => f.endsWith(".json") && !f.endsWith(".sweep.json"));
    assert.ok(files.length >= 8, `expected the paper settings in examples/, found ${files.length}`);
    for (const f of files) validateConfig(loadConfigFile(join(repoRoot, "examples", f)).config, f);
  });

  it("names the field path of a wrong type, also inside a plugin's own options", async () => {
    const container = await createContainer({}, { modules: builtinModules() });
    const c = base();
    (c.adaptation as { lambdaAdv: unknown[] }).lambdaAdv = [0.0002, "x"];
    assert.throws(
      () => applyPluginOptions(c, container, "exp.json"),
      (e: ConfigError) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.problems.includes("adaptation.lambdaAdv[1] must be a number"), e.message);
        assert.match(e.message, /^exp\.json: invalid config/);
        return true;
      },
    );
    assert.throws(() => validateConfig({ ...base(), seed: "x" }, "exp.json"), /seed must be an integer/);
  });

  it("rejects unknown keys and missing required fields by path", async () => {
    const container = await createContainer({}, { modules: builtinModules() });
    const c = { ...base(), model: { type: "vgg16-deeplab", widthMultipler: 0.5 } } as Record<string, unknown>;
    assert.throws(
      () => applyPluginOptions(c, container),
      (e: ConfigError) => {
        assert.ok(e.problems.includes("model.widthMultipler is not a known field"), e.message);
        return true;
      },
    );
    delete c.target;
    assert.throws(
      () => validateConfig(c),
      (e: ConfigError) => {
        assert.ok(e.problems.includes("target is required"), e.message);
        return true;
      },
    );
    assert.throws(() => applyPluginOptions({ ...base(), adaptation: { type: "output-space", gan: "wgan" } }, container), /adaptation\.gan must be "vanilla" or "lsgan"/);
  });

  it("converts JSON pointers to field paths", () => {
    assert.equal(fieldPath("/adaptation/lambdaAdv/1"), "adaptation.lambdaAdv[1]");
    assert.equal(fieldPath(""), "(root)");
  });

  it("`adaptseg schema` prints the schema composed from the plugins' own option schemas", async () => {
    const printed = JSON.parse(execFileSync(process.execPath, [cli, "schema"], { encoding: "utf8" })) as {
      properties: { adaptation: { anyOf: { title: string; properties: Record<string, { type?: string }> }[] } };
    };
    const container = await createContainer({}, { modules: builtinModules() });
    assert.deepEqual(printed, withExtends(composeConfigSchema(container)));
    const os = printed.properties.adaptation.anyOf.find((v) => v.title === "output-space")!;
    assert.equal(os.properties.lambdaAdv!.type, "array");
  });
});

describe("plugin container", () => {
  it("knows every built-in plugin by name", async () => {
    const c = await createContainer({}, { modules: builtinModules() });
    const names = pluginNames(c);
    assert.deepEqual(names.ComputeBackend, ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"]);
    assert.ok(names.Backbone.includes("vgg16-deeplab"));
    assert.deepEqual([...names.AdaptationStrategy].sort(), ["advent", "aug-control", "dacs", "feature-level", "minent", "multi-level", "output-space", "self-training", "source-only"]);
    assert.ok(names.Discriminator.includes("fc"));
    for (const d of ["gta5", "synthia", "cityscapes", "camvid", "image-folder"]) assert.ok(names.DatasetAdapter.includes(d), d);
    assert.equal(resolvePlugin<{ name: string }>(c, Backbone, "vgg16-deeplab").name, "vgg16-deeplab");
  });

  it("an unknown type lists the known names", async () => {
    const c = await createContainer({}, { modules: builtinModules() });
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
         bind(Symbol.for("adaptseg.Discriminator")).toConstantValue({ name: "esm-disc", create() {} });
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
    assert.ok(pluginNames(c).Discriminator.includes("esm-disc"));
    assert.ok(pluginNames(c).DatasetAdapter.includes("cjs-data"));
    assert.equal(resolvePlugin<{ name: string }>(c, Discriminator, "esm-disc").name, "esm-disc");
    await assert.rejects(createContainer({ plugins: ["./nope.js"] }, { baseDir: dir }), /plugin "\.\/nope\.js" not found/);
    void DatasetAdapter;
  });

  it("bindPlugin binds under the point; a bound name other than the plugin's own is an error", async () => {
    const inversify = pathToFileURL(join(realpathSync(join(repoRoot, "packages/core/node_modules/inversify")), "lib/index.js")).href;
    type Module = NonNullable<NonNullable<Parameters<typeof createContainer>[1]>["modules"]>[number];
    const { ContainerModule } = (await import(inversify)) as { ContainerModule: new (load: (o: { bind: Parameters<typeof bindPlugin>[0] }) => void) => Module };
    class Good {
      readonly name = "good";
    }
    class Misnamed {
      readonly name = "actual";
    }
    const c = await createContainer({}, { modules: [new ContainerModule(({ bind }) => bindPlugin(bind, Discriminator, Good, "good"))] });
    assert.ok(resolvePlugin(c, Discriminator, "good") instanceof Good);
    const bad = await createContainer({}, { modules: [new ContainerModule(({ bind }) => bindPlugin(bind, Discriminator, Misnamed, "expected"))] });
    assert.throws(() => pluginNames(bad), /bindPlugin: Misnamed was bound as "expected" but its name is "actual"/);
  });
});

describe("adaptseg info", () => {
  it("--json names wasm as the backend here and says why the tfjs-node packages and webgpu were skipped", () => {
    const info = JSON.parse(execFileSync(process.execPath, [cli, "info", "--json"], { encoding: "utf8", env: { ...process.env, ADAPTSEG_BACKEND: "" } }));
    assert.equal(info.backend, "wasm");
    assert.deepEqual(
      info.skipped.map((s: { name: string }) => s.name),
      ["tfjs-node-gpu", "tfjs-node", "webgpu"],
    );
    for (const s of info.skipped)
      assert.match(s.reason, s.name === "webgpu" ? /did not load|no adapter|no GPU device here.*only when asked|software adapter .*skipped unless asked/ : /did not load|not installed|Cannot find/);
    assert.ok(info.plugins.AdaptationStrategy.length >= 4);
  });

  it("ADAPTSEG_BACKEND overrides the choice; an unknown backend is an error naming the known ones", () => {
    const info = JSON.parse(execFileSync(process.execPath, [cli, "info", "--json"], { encoding: "utf8", env: { ...process.env, ADAPTSEG_BACKEND: "cpu" } }));
    assert.equal(info.backend, "cpu");
    assert.throws(
      () => execFileSync(process.execPath, [cli, "info", "--backend", "webgl"], { encoding: "utf8", stdio: "pipe" }),
      (e: { stderr: string }) => /unknown backend "webgl"; known: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu/.test(e.stderr),
    );
  });
});
