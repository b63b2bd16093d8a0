// `adaptseg schema`: the experiment config JSON Schema, composed from the built-in plugins and the
// plugins a config names (or --plugin files): each backbone, discriminator and strategy contributes
// its own options. Files that use `extends` validate against it too.
import { isAbsolute, resolve } from "node:path";
import { composeConfigSchema, createContainer, loadConfigFile, withExtends } from "@adaptseg/core";
import { defineCommand } from "../command.js";
import { stdout } from "./common.js";

export default defineCommand({
  name: "schema",
  description: "the experiment config JSON Schema, with the options of the built-in plugins and of the config's or given plugins",
  options: {
    config: { type: "string", value: "file", description: "include the plugins this config (and what it extends) lists" },
    plugin: { type: "string", value: "file", multiple: true, description: "include this plugin module (ESM or CJS)" },
  },
  async run(v) {
    const plugins: string[] = [];
    if (v.config) {
      const { config, baseDir, file } = loadConfigFile(v.config);
      const listed = config.plugins ?? [];
      if (!Array.isArray(listed) || listed.some((p) => typeof p !== "string")) throw new Error(`${file}: plugins must be an array of file paths`);
      plugins.push(...(listed as string[]).map((p) => (isAbsolute(p) ? p : resolve(baseDir, p))));
    }
    plugins.push(...v.plugin.map((p) => resolve(p)));
    const { builtinModules } = await import("@adaptseg/engine");
    const container = await createContainer({ plugins }, { modules: builtinModules() });
    stdout.write(JSON.stringify(withExtends(composeConfigSchema(container)), null, 2) + "\n");
  },
});
