// The inversify container: the ContainerModules the caller passes (the built-in packages' come
// from @adaptseg/engine's `builtinModules()`) and plugin modules named in the config
// (`plugins: ["./my-plugin.js"]`). Core itself binds nothing and loads no package by name.
import { Container, type ContainerModule } from "inversify";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import * as points from "./contracts.js";

export const POINTS = {
  ComputeBackend: points.ComputeBackend,
  Backbone: points.Backbone,
  Discriminator: points.Discriminator,
  AdaptationStrategy: points.AdaptationStrategy,
  DatasetAdapter: points.DatasetAdapter,
} as const;
export type PointName = keyof typeof POINTS;

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
  /**
   * The modules to load before the config's plugin files, in order: the compute backends and the
   * built-in plugins (`builtinModules()` of @adaptseg/engine), a test's or an embedding app's own.
   */
  modules?: ContainerModule[];
}

export async function createContainer(config: { plugins?: string[] } = {}, opts: CreateContainerOptions = {}): Promise<Container & { adaptseg: ContainerInfo }> {
  const container = new Container() as Container & { adaptseg: ContainerInfo };
  const info: ContainerInfo = { loaded: ["@adaptseg/core"], missing: [] };
  const names = new NameRegistry(container);
  for (const m of opts.modules ?? []) {
    container.load(m);
    info.loaded.push(`ContainerModule #${m.id}`);
    names.check(`module ContainerModule #${m.id}`);
  }
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
    names.check(`plugin "${p}" (${file})`);
  }
  container.adaptseg = info;
  return container;
}

/**
 * Who registered each plugin name: a second implementation under a name already taken (a plugin
 * re-using a built-in's name, two plugins with one name) is an error naming both, since which one
 * `type` selects would otherwise depend on load order.
 */
class NameRegistry {
  private owners = new Map<symbol, Map<string, { owner: string; count: number; impl?: string }>>();
  constructor(private container: Container) {}

  /** Records the names bound after `owner` loaded; throws on a name bound twice. */
  check(owner: string): void {
    for (const [label, point] of Object.entries(POINTS)) {
      let impls: { name?: unknown }[];
      try {
        impls = this.container.isBound(point) ? this.container.getAll<{ name?: unknown }>(point) : [];
      } catch {
        continue; // an implementation that cannot be built yet (its dependencies come later): resolvePlugin reports it
      }
      const counts = new Map<string, number>();
      for (const i of impls) if (typeof i?.name === "string") counts.set(i.name, (counts.get(i.name) ?? 0) + 1);
      const seen = this.owners.get(point) ?? new Map<string, { owner: string; count: number; impl?: string }>();
      this.owners.set(point, seen);
      for (const [name, count] of counts) {
        const before = seen.get(name);
        if (!before) {
          if (count > 1) throw new Error(`${owner} registers ${label} "${name}" ${count} times: each plugin name must be unique`);
          const ctor = (impls.find((i) => i?.name === name) as { constructor?: { name?: string } }).constructor?.name;
          seen.set(name, { owner, count, impl: ctor && ctor !== "Object" ? ctor : undefined });
        } else if (count > before.count) {
          throw new Error(
            `${owner} registers ${label} "${name}", a name ${before.owner.startsWith("module") ? `the built-in ${before.impl ?? label} (${before.owner})` : before.owner} already registers: rename one of them (plugin names must be unique)`,
          );
        }
      }
    }
  }
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
