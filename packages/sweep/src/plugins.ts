// Plugin-aware validation for sweeps: a container with the built-in packages (and the base
// config's plugins) knows every strategy's, backbone's and discriminator's options, so an axis
// over `adaptation.lambdaAdv` is checked against the strategy that takes it.
import { applyPluginOptions, composeConfigSchema, createContainer } from "@adaptseg/core";
import { loadBase, type PluginChecks } from "./expand.js";
import type { SweepFile } from "./types.js";

/** Checks with the built-in plugins (@adaptseg/engine's builtinModules) and the base config's own. */
export async function pluginChecks(sweep: SweepFile, file?: string): Promise<PluginChecks> {
  const { builtinModules } = await import("@adaptseg/engine");
  const { config, dir } = loadBase(sweep, file);
  const plugins = Array.isArray(config?.plugins) ? (config.plugins as string[]) : undefined;
  const container = await createContainer({ plugins }, { baseDir: dir, modules: builtinModules() });
  return { schema: composeConfigSchema(container), validate: (c) => void applyPluginOptions(c, container) };
}
