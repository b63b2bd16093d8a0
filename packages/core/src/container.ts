// The inversify container: core's module (compute backends), the built-in packages' modules
// where installed, and plugin modules named in the config (`plugins: ["./my-plugin.js"]`).
import { Container, ContainerModule } from "inversify";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import * as points from "./contracts.js";
import { builtinBackends } from "./backend.js";

/** Packages whose ContainerModule is loaded when installed beside core. */
export const BUILTIN_PACKAGES = ["@adaptseg/models-vgg", "@adaptseg/discriminators", "@adaptseg/datasets", "@adaptseg/metrics"];

export const POINTS = {
  ComputeBackend: points.ComputeBackend,
  Backbone: points.Backbone,
  Discriminator: points.Discriminator,
  AdaptationStrategy: points.AdaptationStrategy,
  DatasetAdapter: points.DatasetAdapter,
  Metric: points.Metric,
} as const;
export type PointName = keyof typeof POINTS;

export const coreModule = (threads?: number) =>
  new ContainerModule(({ bind }) => {
    for (const b of builtinBackends(threads)) bind<points.ComputeBackend>(points.ComputeBackend).toConstantValue(b);
  });

/** Finds the ContainerModule a module exports: `containerModule`, `default`, or `default.containerModule`. */
function moduleOf(mod: Record<string, unknown>, from: string): ContainerModule {
  const cands = [mod.containerModule, mod.default, (mod.default as Record<string, unknown> | undefined)?.containerModule];
  const found = cands.find((c) => c && typeof (c as ContainerModule).load === "function");
  if (!found) throw new Error(`plugin ${from} exports no ContainerModule (export it as "containerModule" or default)`);
  return found as ContainerModule;
}

export interface ContainerInfo {
  loaded: string[];
  missing: { name: string; reason: string }[];
}

export interface CreateContainerOptions {
  /** Folder that relative plugin paths resolve against (the config file's folder). */
  baseDir?: string;
  threads?: number;
  /** Extra modules (tests, embedding apps). */
  modules?: ContainerModule[];
  /** Load the built-in packages (default true). */
  builtins?: boolean;
}

export async function createContainer(
  config: { plugins?: string[]; threads?: number } = {},
  opts: CreateContainerOptions = {},
): Promise<Container & { adaptseg: ContainerInfo }> {
  const container = new Container() as Container & { adaptseg: ContainerInfo };
  const info: ContainerInfo = { loaded: ["@adaptseg/core"], missing: [] };
  container.load(coreModule(opts.threads ?? config.threads));
  if (opts.builtins !== false) {
    for (const name of BUILTIN_PACKAGES) {
      let mod: Record<string, unknown>;
      try {
        mod = await import(name);
      } catch (e) {
        info.missing.push({ name, reason: (e as Error).message.split("\n")[0] });
        continue;
      }
      container.load(moduleOf(mod, name));
      info.loaded.push(name);
    }
  }
  for (const m of opts.modules ?? []) container.load(m);
  for (const p of config.plugins ?? []) {
    const file = isAbsolute(p) ? p : resolve(opts.baseDir ?? process.cwd(), p);
    if (!existsSync(file)) throw new Error(`plugin "${p}" not found (looked for ${file})`);
    let mod: Record<string, unknown>;
    try {
      mod = await import(pathToFileURL(file).href);
    } catch (e) {
      throw new Error(`plugin "${p}" (${file}) failed to load: ${(e as Error).message}`);
    }
    container.load(moduleOf(mod, p));
    info.loaded.push(file);
  }
  container.adaptseg = info;
  return container;
}

/** Names of every implementation bound to a plugin point. */
export function knownNames(container: Container, point: symbol): string[] {
  if (!container.isBound(point)) return [];
  return container.getAll<{ name: string }>(point).map((p) => p.name);
}

/** The implementation whose name is `type`; an unknown type lists the known names. */
export function resolvePlugin<T extends { name: string }>(container: Container, point: symbol, type: string, field = "type"): T {
  const known = knownNames(container, point);
  if (!known.includes(type)) {
    const label = Object.entries(POINTS).find(([, s]) => s === point)?.[0] ?? String(point.description);
    throw new Error(`${field}: unknown ${label} "${type}"; known: ${known.join(", ") || "(none registered)"}`);
  }
  // Not container.get(point, { name }): inversify 8 also matches the unnamed toService bindings, so with
  // two or more plugins on a point that lookup is ambiguous.
  return container.getAll<T>(point).find((p) => p.name === type)!;
}

/** Every plugin name the container knows, per point. */
export function pluginNames(container: Container): Record<PointName, string[]> {
  return Object.fromEntries(Object.entries(POINTS).map(([k, s]) => [k, knownNames(container, s)])) as Record<PointName, string[]>;
}
