// Config validation for the editor: a JSON(C) parser that keeps offsets and a validator for the JSON
// Schema keywords `adaptseg schema` uses (type, const, enum, anyOf, properties, required,
// additionalProperties, patternProperties, items/prefixItems/additionalItems, min/maxItems,
// minimum/maximum/exclusive*, min/maxLength, pattern, $ref to #/$defs). VS Code's JSON language
// service reports schema problems as warnings only (hard-coded in its server); the extension reports
// these as errors. No `vscode` here (unit tested in test/vscode-units.test.ts).

export type JNode =
  | { type: "object"; offset: number; length: number; props: { key: string; keyOffset: number; keyLength: number; value: JNode }[] }
  | { type: "array"; offset: number; length: number; items: JNode[] }
  | { type: "string"; offset: number; length: number; value: string }
  | { type: "number"; offset: number; length: number; value: number }
  | { type: "boolean"; offset: number; length: number; value: boolean }
  | { type: "null"; offset: number; length: number; value: null };

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Parses JSON with comments and trailing commas (what VS Code accepts in .json configs). */
export function parseTree(text: string): JNode {
  let i = 0;
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff) i++;
      else if (c === 47 && text[i + 1] === "/") {
        const e = text.indexOf("\n", i);
        i = e < 0 ? text.length : e + 1;
      } else if (c === 47 && text[i + 1] === "*") {
        const e = text.indexOf("*/", i + 2);
        if (e < 0) throw new JsonSyntaxError("unterminated comment", i);
        i = e + 2;
      } else return;
    }
  };
  const str = (): { value: string; offset: number; length: number } => {
    const start = i;
    if (text[i] !== '"') throw new JsonSyntaxError("string expected", i);
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      if (text[i] === "\n") throw new JsonSyntaxError("unterminated string", start);
      i++;
    }
    if (i >= text.length) throw new JsonSyntaxError("unterminated string", start);
    i++;
    let value: string;
    try {
      value = JSON.parse(text.slice(start, i));
    } catch {
      throw new JsonSyntaxError("bad string escape", start);
    }
    return { value, offset: start, length: i - start };
  };
  const value = (): JNode => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      const props: Extract<JNode, { type: "object" }>["props"] = [];
      for (;;) {
        ws();
        if (text[i] === "}") {
          i++;
          break;
        }
        const k = str();
        ws();
        if (text[i] !== ":") throw new JsonSyntaxError("colon expected", i);
        i++;
        props.push({ key: k.value, keyOffset: k.offset, keyLength: k.length, value: value() });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          break;
        }
        throw new JsonSyntaxError("comma or } expected", i);
      }
      return { type: "object", offset: start, length: i - start, props };
    }
    if (c === "[") {
      i++;
      const items: JNode[] = [];
      for (;;) {
        ws();
        if (text[i] === "]") {
          i++;
          break;
        }
        items.push(value());
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          break;
        }
        throw new JsonSyntaxError("comma or ] expected", i);
      }
      return { type: "array", offset: start, length: i - start, items };
    }
    if (c === '"') {
      const s = str();
      return { type: "string", ...s };
    }
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) throw new JsonSyntaxError("value expected", i);
    i += m[0].length;
    const t = m[0];
    if (t === "true" || t === "false") return { type: "boolean", offset: start, length: t.length, value: t === "true" };
    if (t === "null") return { type: "null", offset: start, length: 4, value: null };
    return { type: "number", offset: start, length: t.length, value: Number(t) };
  };
  const root = value();
  ws();
  if (i < text.length) throw new JsonSyntaxError("end of file expected", i);
  return root;
}

/** The plain value of a node. */
export function toValue(n: JNode): unknown {
  if (n.type === "object") return Object.fromEntries(n.props.map((p) => [p.key, toValue(p.value)]));
  if (n.type === "array") return n.items.map(toValue);
  return n.value;
}

export interface Problem {
  offset: number;
  length: number;
  path: string;
  message: string;
}

type Schema = Record<string, any> | boolean;

const typeOf = (n: JNode) => (n.type === "number" && Number.isInteger(n.value) ? "integer" : n.type);
const typeOk = (n: JNode, t: string) => t === typeOf(n) || (t === "number" && n.type === "number");
const pathJoin = (p: string, k: string | number) => (typeof k === "number" ? `${p}[${k}]` : p ? `${p}.${k}` : k);

function describe(s: Schema): string {
  if (typeof s === "boolean") return s ? "anything" : "nothing";
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v: unknown) => JSON.stringify(v)).join(" or ");
  if (Array.isArray(s.anyOf)) return [...new Set<string>(s.anyOf.map(describe))].join(" or ");
  if (s.type) return [...new Set<string>(Array.isArray(s.type) ? s.type : [s.type])].map((t) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`)).join(" or ");
  return "a valid value";
}

/** Schema problems of `node`; `anchor` is where to point for problems of the node as a whole (its key). */
export function validate(node: JNode, schema: Schema, root: Schema = schema, path = "", anchor?: { offset: number; length: number }): Problem[] {
  const out: Problem[] = [];
  const at = anchor ?? { offset: node.offset, length: node.type === "object" || node.type === "array" ? 1 : node.length };
  const here = (message: string, where: { offset: number; length: number } = { offset: node.offset, length: node.length }) => out.push({ ...where, path: path || "(root)", message });
  if (schema === true || schema === undefined) return out;
  if (schema === false) {
    here("is not allowed here");
    return out;
  }
  if (typeof schema.$ref === "string") {
    const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(schema.$ref);
    const target = m && typeof root === "object" ? (root.$defs ?? root.definitions)?.[m[1]!] : undefined;
    if (target !== undefined) out.push(...validate(node, target, root, path, anchor));
  }
  if (Array.isArray(schema.anyOf)) {
    const anyOf = schema.anyOf as Schema[];
    const branches = anyOf.map((b) => validate(node, b, root, path, anchor));
    if (!branches.some((b) => !b.length)) {
      // The branches of the node's type: one of them is what the author meant.
      const typed = anyOf
        .map((b, k) => ({ b, p: branches[k]! }))
        .filter(({ b }) => typeof b === "object" && b.const === undefined && (!b.type || (Array.isArray(b.type) ? b.type : [b.type]).some((t: string) => typeOk(node, t))));
      // Objects told apart by a constant property (`type`: one branch per plugin): that branch's problems.
      const key =
        node.type === "object" && typed.length > 1
          ? Object.keys((typed[0]!.b as Record<string, any>).properties ?? {}).find((k) => typed.every(({ b }) => (b as Record<string, any>).properties?.[k]?.const !== undefined))
          : undefined;
      if (key && node.type === "object") {
        const prop = node.props.find((p) => p.key === key);
        const hit = prop && typed.find(({ b }) => JSON.stringify((b as Record<string, any>).properties[key].const) === JSON.stringify(toValue(prop.value)));
        if (hit) out.push(...hit.p);
        else if (prop)
          out.push({
            offset: prop.value.offset,
            length: prop.value.length,
            path: pathJoin(path, key),
            message: `must be one of ${typed.map(({ b }) => JSON.stringify((b as Record<string, any>).properties[key].const)).join(", ")}`,
          });
        else out.push({ ...at, path: path || "(root)", message: `missing required property "${key}"` });
      } else if (typed.length >= 1) out.push(...typed.reduce((a, b) => (b.p.length < a.p.length ? b : a)).p);
      else here(`must be ${describe(schema)}`);
    }
  }
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(node, t))) {
      here(`must be ${describe({ type: types })}, not ${node.type === "number" && !Number.isInteger(node.value) ? "a fractional number" : describe({ type: typeOf(node) })}`);
      return out;
    }
  }
  const v = node.type === "object" || node.type === "array" ? undefined : node.value;
  if (schema.const !== undefined && JSON.stringify(toValue(node)) !== JSON.stringify(schema.const)) here(`must be ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(toValue(node)))) here(`must be ${describe({ enum: schema.enum })}`);
  if (typeof v === "number") {
    if (typeof schema.minimum === "number" && v < schema.minimum) here(`must be >= ${schema.minimum}`);
    if (typeof schema.maximum === "number" && v > schema.maximum) here(`must be <= ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === "number" && v <= schema.exclusiveMinimum) here(`must be > ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === "number" && v >= schema.exclusiveMaximum) here(`must be < ${schema.exclusiveMaximum}`);
  }
  if (typeof v === "string") {
    if (typeof schema.minLength === "number" && v.length < schema.minLength) here(`must have at least ${schema.minLength} characters`);
    if (typeof schema.maxLength === "number" && v.length > schema.maxLength) here(`must have at most ${schema.maxLength} characters`);
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(v)) here(`must match ${schema.pattern}`);
  }
  if (node.type === "object") {
    const props: Record<string, Schema> = schema.properties ?? {};
    const patterns = Object.entries((schema.patternProperties ?? {}) as Record<string, Schema>).map(([p, s]) => ({ re: new RegExp(p, "u"), s }));
    const seen = new Set<string>();
    for (const p of node.props) {
      seen.add(p.key);
      const key = { offset: p.keyOffset, length: p.keyLength };
      const sub = pathJoin(path, p.key);
      let matched = false;
      if (p.key in props) {
        matched = true;
        out.push(...validate(p.value, props[p.key]!, root, sub, key));
      }
      for (const { re, s } of patterns)
        if (re.test(p.key)) {
          matched = true;
          out.push(...validate(p.value, s, root, sub, key));
        }
      if (!matched) {
        if (schema.additionalProperties === false) {
          const known = Object.keys(props);
          out.push({ ...key, path: sub, message: `unknown property "${p.key}"${known.length ? ` (allowed: ${known.filter((k) => k !== "$schema").join(", ")})` : ""}` });
        } else if (typeof schema.additionalProperties === "object") out.push(...validate(p.value, schema.additionalProperties, root, sub, key));
      }
    }
    for (const r of (schema.required ?? []) as string[]) if (!seen.has(r)) out.push({ ...at, path: path || "(root)", message: `missing required property "${r}"` });
  }
  if (node.type === "array") {
    const n = node.items.length;
    if (typeof schema.minItems === "number" && n < schema.minItems) here(`must have at least ${schema.minItems} item${schema.minItems === 1 ? "" : "s"}`);
    if (typeof schema.maxItems === "number" && n > schema.maxItems) here(`must have at most ${schema.maxItems} item${schema.maxItems === 1 ? "" : "s"}`);
    const tuple: Schema[] | undefined = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : undefined;
    const rest: Schema | undefined = tuple ? (Array.isArray(schema.prefixItems) ? schema.items : schema.additionalItems) : schema.items;
    node.items.forEach((item, k) => {
      const s = tuple && k < tuple.length ? tuple[k] : rest;
      if (s === false) out.push({ offset: item.offset, length: item.length, path: pathJoin(path, k), message: `at most ${tuple?.length ?? 0} items` });
      else if (s !== undefined) out.push(...validate(item, s, root, pathJoin(path, k)));
    });
  }
  return out;
}

/** True for a parsed object that looks like an experiment config: it has `adaptation` and `source`,
 * or `extends` another config and sets one of the experiment's sections. */
export function looksLikeExperiment(v: unknown): boolean {
  if (!v || typeof v !== "object" || Array.isArray(v)) return false;
  if ("adaptation" in v && "source" in v) return true;
  return typeof (v as { extends?: unknown }).extends === "string" && ["adaptation", "model", "source", "target", "training", "evaluation"].some((k) => k in v);
}

/** A config's problems. A config that `extends` another is partial: what it leaves out (required
 * properties, at any depth) may come from the base, so only what it says itself is checked. */
export function validateConfig(tree: JNode, schema: Schema): Problem[] {
  const partial = tree.type === "object" && tree.props.some((p) => p.key === "extends");
  const problems = validate(tree, schema);
  return partial ? problems.filter((p) => !p.message.startsWith("missing required property")) : problems;
}
