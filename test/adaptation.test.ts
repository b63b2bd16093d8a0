// The adaptation strategies in the trainer: warm starts, exact resume with a teacher and
// pseudo-label state, plugin options validated against each plugin's own schema.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyPluginOptions, composeConfigSchema, createContainer, type ExperimentConfig } from "@adaptseg/core";
import { builtinModules, listCheckpoints, train } from "@adaptseg/engine";
import { repoRoot, sharedData, tinyConfig, resumeAndRead, tmp, trainAndKill } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");

/** `tinyConfig` with the given adaptation options. */
const withAdaptation = (adaptation: ExperimentConfig["adaptation"], iters: number): ExperimentConfig => {
  const c = tinyConfig("output-space", iters);
  return { ...c, adaptation };
};

describe("adaptation strategies in the trainer (slow)", function () {
  this.timeout(300_000);

  for (const adaptation of [{ type: "self-training", teacher: "ema", roundLength: 3, portion: { start: 0.2, step: 0.1, max: 0.5 } }, { type: "dacs" }]) {
    it(`${adaptation.type}: kill -9 mid-run, then --resume, reproduces the loss sequence (teacher, thresholds, RNG restored)`, async () => {
      const dir = tmp();
      const cfg = withAdaptation(adaptation, 8);
      const cfgFile = join(dir, "exp.json");
      writeFileSync(cfgFile, JSON.stringify(cfg));
      const full = await train(cfg, { outDir: join(dir, "full"), dataRoot: sharedData });
      assert.ok(full.lossHistory.every((l) => Object.values(l).every(Number.isFinite)));
      const out = join(dir, "run");
      await trainAndKill(cfgFile, out, 5);
      assert.deepEqual(
        listCheckpoints(out).map((c) => c.iteration),
        [2, 4],
      );
      const resumed = resumeAndRead(cfgFile, out);
      assert.deepEqual(
        resumed.iterations.map((e) => e.iteration),
        [5, 6, 7, 8],
      );
      assert.deepEqual(
        resumed.iterations.map((e) => e.losses),
        full.lossHistory.slice(4),
      );
    });
  }

  it("a warm start (model.init + discriminator.init) gives the same first-iteration losses as resuming the checkpoint it starts from", async () => {
    // One source and one target frame, no augmentation: every batch is the same, so the losses
    // depend on the weights alone.
    const base = tinyConfig("output-space", 2);
    const one = (c: ExperimentConfig["source"]) => ({ ...c, limit: 1, augment: undefined });
    const cfg: ExperimentConfig = { ...base, source: one(base.source), target: one(base.target), training: { ...base.training, stopIter: 2, snapshotEvery: 100 } };
    const dir = tmp();
    const a = await train(cfg, { outDir: join(dir, "a"), dataRoot: sharedData });
    const ckpt = a.checkpoint!;
    const resumed = await train(cfg, { outDir: join(dir, "a"), dataRoot: sharedData, resume: true, stopIter: 3 });
    const warm = await train(
      { ...cfg, model: { ...cfg.model, init: ckpt }, discriminator: { ...cfg.discriminator!, init: ckpt }, training: { ...cfg.training, stopIter: 1 } },
      { outDir: join(dir, "b"), dataRoot: sharedData },
    );
    assert.deepEqual(Object.keys(warm.lossHistory[0]!).sort(), ["adv_main", "d_main", "d_main_src", "d_main_tgt", "seg"]);
    assert.deepEqual(warm.lossHistory[0], resumed.lossHistory[0]);
    // and a cold start differs (the check can fail)
    const cold = await train({ ...cfg, training: { ...cfg.training, stopIter: 1 } }, { outDir: join(dir, "c"), dataRoot: sharedData });
    assert.notDeepEqual(cold.lossHistory[0], warm.lossHistory[0]);
  });

  it("plugin options: each strategy's own schema gives defaults and names a bad field by path", async () => {
    const container = await createContainer({}, { modules: builtinModules() });
    const base = tinyConfig("output-space", 2);
    const got = applyPluginOptions({ ...base, adaptation: { type: "dacs" } }, container);
    assert.deepEqual(got.adaptation, { type: "dacs", lambdaMix: 1, emaAlpha: 0.99, threshold: 0.968, jitter: true, blur: true, lambdaSeg: 0 });
    assert.equal((applyPluginOptions({ ...base, model: { type: "vgg16-deeplab" } }, container).model as unknown as { widthMultiplier: number }).widthMultiplier, 1);
    assert.throws(() => applyPluginOptions({ ...base, adaptation: { type: "minent", lambdaEnt: "x" } }, container), /adaptation\.lambdaEnt must be a number/);
    assert.throws(() => applyPluginOptions({ ...base, adaptation: { type: "output-space", lambdaAdv: [0.1, "y"] } }, container), /adaptation\.lambdaAdv\[1\] must be a number/);
    assert.throws(() => applyPluginOptions({ ...base, adaptation: { type: "dacs", lamdaMix: 2 } }, container), /adaptation\.lamdaMix is not a known field/);
    assert.throws(() => applyPluginOptions({ ...base, model: { type: "vgg16-deeplab", aspp: "both" } }, container), /model\.aspp must be "fixed" or "faithful"/);
    assert.throws(() => applyPluginOptions({ ...base, adaptation: { type: "nope" } }, container), /adaptation\.type: unknown strategy "nope"; known: .*dacs/);
    const schema = composeConfigSchema(container) as { properties: Record<string, { anyOf: { title: string; properties: Record<string, unknown> }[] }> };
    const dacs = schema.properties.adaptation!.anyOf.find((v) => v.title === "dacs")!;
    assert.ok("lambdaMix" in dacs.properties && "threshold" in dacs.properties);
  });

  it("a backbone plugin loaded through plugins: [...] declares its own options: defaults, errors by path, schema", async () => {
    const dir = tmp();
    const file = join(dir, "tiny-backbone.mjs");
    // A backbone plugin written as a user would: its options schema in TypeBox.
    writeFileSync(
      file,
      `
      import { ContainerModule } from "inversify";
      import { Type } from "@sinclair/typebox";
      const Backbone = Symbol.for("adaptseg.Backbone");
      const plugin = { name: "tiny-net", options: Type.Object({ depth: Type.Integer({ minimum: 1, default: 3 }) }, { additionalProperties: false }), create() { throw new Error("not built in this test"); } };
      export const containerModule = new ContainerModule(({ bind }) => { bind(Backbone).toConstantValue(plugin); });
    `,
    );
    // the plugin's own node_modules, as a user's project would have them
    mkdirSync(join(dir, "node_modules/@sinclair"), { recursive: true });
    symlinkSync(realpathSync(join(repoRoot, "packages/core/node_modules/inversify")), join(dir, "node_modules/inversify"), "dir");
    symlinkSync(realpathSync(join(repoRoot, "packages/core/node_modules/@sinclair/typebox")), join(dir, "node_modules/@sinclair/typebox"), "dir");
    const container = await createContainer({ plugins: [file] }, { modules: builtinModules() });
    const base = tinyConfig("output-space", 2);
    assert.equal((applyPluginOptions({ ...base, model: { type: "tiny-net" } }, container).model as unknown as { depth: number }).depth, 3);
    assert.throws(() => applyPluginOptions({ ...base, model: { type: "tiny-net", depth: 0 } }, container), /model\.depth/);
    const schema = composeConfigSchema(container) as { properties: Record<string, { anyOf: { title: string; properties: Record<string, unknown> }[] }> };
    assert.ok("depth" in schema.properties.model!.anyOf.find((v) => v.title === "tiny-net")!.properties);
    // and the command line prints it
    const printed = JSON.parse(execFileSync(process.execPath, [cli, "schema", "--plugin", file], { encoding: "utf8" })) as typeof schema;
    assert.ok("depth" in printed.properties.model!.anyOf.find((v) => v.title === "tiny-net")!.properties);
  });
});
