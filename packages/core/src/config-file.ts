// Experiment config files with `extends`: `{ "extends": "base.json", ... }` deep-merges the file onto
// its base (relative to the file; bases may extend further). Objects merge key by key, except that
// an object whose `type` differs from the base's replaces it (another plugin's or dataset's options
// would not apply: `"adaptation": { "type": "source-only" }` drops the base strategy's options); arrays and
// scalars replace. A cycle is an error naming every file in it; a missing base names the file that
// asked for it. Pure node:fs, no validation here (the caller validates the merged config).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";

export interface LoadedConfigFile {
  /** The merged config, `extends` removed; not yet validated. */
  config: Record<string, unknown>;
  /** The folder of the loaded file: relative paths in the config (dataset roots, model.init) resolve against it. */
  baseDir: string;
  /** The loaded file, absolute. */
  file: string;
  /** Every file read, the loaded one first, then its base, its base's base... */
  chain: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `over` deep-merged onto `base`: objects merge key by key, unless both name a `type` and the types
 * differ (then `over`'s object replaces); arrays and scalars (and null) replace. Neither input is modified.
 */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const sameKind = isObject(b) && isObject(v) && (!("type" in v) || !("type" in b) || v.type === b.type);
    out[k] = sameKind ? mergeConfig(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

const shown = (f: string) => {
  const r = relative(process.cwd(), f);
  return r && !r.startsWith("..") && !isAbsolute(r) ? r : f;
};

function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw new Error(`${shown(file)}: is a folder, not a config file`);
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === undefined) throw e;
    throw new Error(`${shown(file)}: cannot read the config file: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${shown(file)}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new Error(`${shown(file)}: a config must be a JSON object, got ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}`);
  return raw;
}

/**
 * Reads an experiment config file and everything it `extends`, and merges them. `plugins` of a base
 * file are made absolute against that base's folder (a shared base may name its own plugins); every
 * other relative path resolves, as always, against the loaded file's folder (`baseDir`).
 */
export function loadConfigFile(path: string): LoadedConfigFile {
  const file = resolve(path);
  if (!existsSync(file)) throw new Error(`config file not found: ${path}`);
  const chain: string[] = [];
  const layers: Record<string, unknown>[] = [];
  for (let at = file, from: string | undefined; ; ) {
    if (chain.includes(at)) throw new Error(`config "extends" cycle: ${[...chain, at].map(shown).join(" -> ")}`);
    if (from !== undefined && !existsSync(at)) throw new Error(`${shown(from)}: "extends" names ${shown(at)}, which does not exist`);
    chain.push(at);
    const raw = readJsonObject(at);
    const { extends: ext, ...rest } = raw;
    if (at !== file && Array.isArray(rest.plugins)) rest.plugins = rest.plugins.map((p) => (typeof p === "string" && !isAbsolute(p) ? resolve(dirname(at), p) : p));
    layers.push(rest);
    if (ext === undefined) break;
    if (typeof ext !== "string" || !ext) throw new Error(`${shown(at)}: "extends" must be a file path (a non-empty string), got ${JSON.stringify(ext)}`);
    from = at;
    at = resolve(dirname(at), ext);
  }
  const config = layers.reduceRight<Record<string, unknown>>((merged, layer) => mergeConfig(merged, layer), {});
  return { config, baseDir: dirname(file), file, chain };
}

/**
 * `schema` (an experiment config JSON Schema) with the `extends` property. Its required fields stay:
 * a file that extends another is partial, and editors that know `extends` (the VS Code extension)
 * skip "missing required" problems in such files themselves.
 */
export function withExtends(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = {
    extends: { type: "string", description: "A config file this one is merged onto (relative to this file): objects merge, unless their `type` differs; arrays and scalars replace." },
    ...(schema.properties as Record<string, unknown> | undefined),
  };
  return { ...schema, properties };
}
