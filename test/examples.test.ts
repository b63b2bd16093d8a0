// examples/: one config per paper setting, each valid against the config schema and buildable:
// its plugins resolve, its adaptation strategy accepts its options (lambdaAdv per level), and its
// network outputs and input sizes fit the strategy's discriminators.
import { strict as assert } from "node:assert";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { Backbone, DatasetAdapter, applyPluginOptions, createContainer, loadConfigFile, resolvePlugin, validateConfig, type ExperimentConfig } from "@adaptseg/core";
import { builtinModules, createAdaptation } from "@adaptseg/engine";
import { expandSweep, loadSweepFile } from "@adaptseg/sweep";
import { repoRoot } from "./helpers.js";

const dir = join(repoRoot, "examples");
const examples = readdirSync(dir)
  .filter((f) => f.endsWith(".json") && !f.endsWith(".sweep.json"))
  .map((f) => [f, validateConfig(loadConfigFile(join(dir, f)).config, join(dir, f))] as [string, ExperimentConfig]);

describe("examples/", function () {
  this.timeout(120_000);

  it("cover every paper setting", () => {
    const find = (pred: (c: ExperimentConfig) => boolean, what: string) =>
      assert.ok(
        examples.some(([, c]) => pred(c)),
        `no example for ${what}`,
      );
    const gta = (c: ExperimentConfig) => c.source.type === "gta5" && c.target.type === "cityscapes";
    for (const s of ["source-only", "output-space", "multi-level", "feature-level"]) find((c) => gta(c) && c.adaptation.type === s, `GTA5 -> Cityscapes ${s}`);
    for (const n of [16, 13]) find((c) => c.source.type === "synthia" && c.target.type === "cityscapes" && c.source.options?.classes === n, `SYNTHIA -> Cityscapes (${n} classes)`);
    // The lambda sweep is one sweep file (docs/sweeps.md) whose runs take the paper's three weights.
    const sweepFile = join(dir, "gta2cityscapes-lambda.sweep.json");
    const lambdas = expandSweep(loadSweepFile(sweepFile), { file: sweepFile, out: join(tmpdir(), "lambda-sweep") })
      .runs.map((r) => r.config)
      .filter((c) => gta(c) && c.adaptation.type === "output-space")
      .map((c) => (c.adaptation.lambdaAdv as number[] | undefined)?.[0]);
    for (const l of [0.0005, 0.001, 0.004]) assert.ok(lambdas.includes(l), `no run of the lambda sweep takes lambdaAdv ${l}`);
    find((c) => c.source.type === "camvid" && !!(c.target.options?.sequences as string[] | undefined)?.includes("0001TP"), "CamVid day -> dusk");
  });

  for (const [file, config] of examples)
    it(`${file}: plugins resolve, the strategy accepts its options, sizes fit its discriminators`, async () => {
      const before = tf.memory().numTensors;
      const container = await createContainer(config, { baseDir: dir, modules: builtinModules() });
      resolvePlugin(container, Backbone, config.model.type, "model.type");
      for (const ds of [config.source, config.target, config.evaluation?.dataset]) if (ds) resolvePlugin(container, DatasetAdapter, ds.type, "dataset type");
      // Narrow networks are enough to check the options: D's shape does not depend on them.
      const narrow = { ...config, discriminator: { type: "fc", ...config.discriminator, widthMultiplier: 1 / 64 } };
      // Every plugin section validates against its plugin's own options schema.
      const resolved = applyPluginOptions(narrow, container, file);
      const { run } = createAdaptation(resolved, container, { numClasses: 19, featureChannels: 16 } as Parameters<typeof createAdaptation>[2]);
      try {
        const levels = [...run.discriminators.keys()];
        if (levels.includes("aux")) assert.equal(config.model.auxHead, true, "multi-level needs model.auxHead");
        // Each D level sees its input at full image size (output-space) or at 1/8 (features): >= 32 px.
        const min = levels.includes("features") ? 256 : 32;
        for (const ds of [config.source, config.target]) {
          const size = ds.augment?.crop ?? ds.size;
          if (levels.length && size) assert.ok(Math.min(size.width, size.height) >= min, `${ds.type}: input ${size.width}x${size.height} < ${min} px for D on ${levels}`);
        }
      } finally {
        run.dispose();
      }
      assert.equal(tf.memory().numTensors, before);
    });
});
