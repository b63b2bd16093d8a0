// Plugin options: each backbone, discriminator and strategy declares a schema of its own options
// (TypeBox); the config is validated against the one its `type` names, with that schema's defaults,
// and the JSON Schema of configs (`adaptseg schema`, editor completion) is composed from them.
import type { Container } from "inversify";
import { Kind, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { AdaptationStrategy, Backbone, Discriminator } from "./contracts.js";
import { ConfigError, ExperimentConfigSchema, configJsonSchema, schemaProblems, validateConfig, type ResolvedConfig } from "./config.js";
import { knownNames } from "./container.js";

interface Plugin {
  name: string;
  options?: TSchema;
}

/** The config sections whose options belong to a plugin, and the generic fields each keeps. */
const SECTIONS = [
  { field: "model", point: Backbone, label: "backbone", generic: ["type", "numClasses", "init", "upsample"] },
  { field: "discriminator", point: Discriminator, label: "discriminator", generic: ["type", "init"] },
  { field: "adaptation", point: AdaptationStrategy, label: "strategy", generic: ["type"] },
] as const;

const plugins = (container: Container, point: symbol): Plugin[] => (container.isBound(point) ? container.getAll<Plugin>(point) : []);

/**
 * Validates every plugin section against its plugin's options schema and fills that schema's
 * defaults. Throws ConfigError naming each bad field by path (`adaptation.<option>[0] must be a number`).
 */
export function applyPluginOptions(input: unknown, container: Container, file?: string): ResolvedConfig {
  const config = validateConfig(input, file) as unknown as Record<string, Record<string, unknown>>;
  const problems: string[] = [];
  for (const s of SECTIONS) {
    const section = config[s.field];
    if (!section) continue;
    const plugin = plugins(container, s.point).find((p) => p.name === section.type);
    if (!plugin) {
      problems.push(`${s.field}.type: unknown ${s.label} "${String(section.type)}"; known: ${knownNames(container, s.point).join(", ") || "(none registered)"}`);
      continue;
    }
    if (!plugin.options) continue;
    if (!(Kind in plugin.options)) {
      problems.push(`${s.field}.type: the ${s.label} "${plugin.name}" declares options that are not a TypeBox schema (build them with Type.Object from @sinclair/typebox)`);
      continue;
    }
    const generic = Object.fromEntries(Object.entries(section).filter(([k]) => (s.generic as readonly string[]).includes(k)));
    const own = Value.Default(plugin.options, Value.Clone(Object.fromEntries(Object.entries(section).filter(([k]) => !(k in generic)))));
    problems.push(...schemaProblems(plugin.options, own, s.field));
    config[s.field] = { ...generic, ...(own as object) };
  }
  if (problems.length) throw new ConfigError(problems, file);
  return config as unknown as ResolvedConfig;
}

/** The experiment config's JSON Schema with each plugin section as one variant per registered plugin. */
export function composeConfigSchema(container: Container): Record<string, unknown> {
  const schema = configJsonSchema() as { properties: Record<string, Record<string, unknown>> };
  const base = ExperimentConfigSchema.properties as unknown as Record<string, TSchema>;
  for (const s of SECTIONS) {
    const genericProps = JSON.parse(JSON.stringify((base[s.field] as TSchema).properties ?? {})) as Record<string, unknown>;
    const variants = plugins(container, s.point).map((p) => {
      const own = JSON.parse(JSON.stringify(p.options ?? { properties: {} })) as { properties?: Record<string, unknown>; required?: string[] };
      return {
        type: "object",
        title: p.name,
        properties: { ...genericProps, ...own.properties, type: { const: p.name } },
        required: ["type", ...(own.required ?? []).filter((k) => (own.properties?.[k] as { default?: unknown } | undefined)?.default === undefined)],
        additionalProperties: !p.options,
      };
    });
    const prev = schema.properties[s.field]!;
    schema.properties[s.field] = { description: prev.description, anyOf: variants.length ? variants : [prev] };
  }
  return JSON.parse(JSON.stringify(schema)); // plain JSON: no TypeBox symbols
}
