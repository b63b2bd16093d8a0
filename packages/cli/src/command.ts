// Commands declared once. Each module under cli/ exports `default defineCommand({...})`: its name, a
// one-line description, its options and positionals, and `run(args)`. Parsing (node:util parseArgs),
// range checks, `adaptseg <command> --help`, `adaptseg --help` and the README's command table
// (`adaptseg help --markdown`) all come from that declaration.
//
// Adding a command: write cli/<name>.ts as below and add it to the list in commands.ts. Import heavy
// packages (@adaptseg/engine, @adaptseg/compute, TF.js) inside run() with `await import(...)`, so that
// `--help` and the other commands do not load them.
//
//   export default defineCommand({
//     name: "eval",
//     description: "per-class IoU table, metrics.json, train-id and colour PNGs",
//     options: {
//       config: { type: "string", value: "file", description: "experiment config", required: true },
//       limit: { type: "integer", value: "n", description: "evaluate at most n images", minimum: 1 },
//     },
//     async run(args) { args.config /* string */; args.limit /* number | undefined */ },
//   });
import { parseArgs } from "node:util";

export type OptionType = "string" | "boolean" | "integer" | "number" | "size";

export interface OptionSpec {
  type: OptionType;
  description: string;
  default?: string | number | boolean | readonly (string | number)[];
  required?: boolean;
  /** May be repeated; each value may also be a comma-separated list (`--seeds 1,2,3`). Parsed as an array. */
  multiple?: boolean;
  /** Range of integer and number options (inclusive), and of both sides of a size. */
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  /** The values a string option accepts (its placeholder defaults to them: `<onnx|tfjs>`). */
  choices?: readonly string[];
  /** The placeholder in usage lines: `--config <file>`. Defaults to one per type. */
  value?: string;
  short?: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  required?: boolean;
  multiple?: boolean;
}

export interface Size {
  width: number;
  height: number;
}

type ValueOf<S extends OptionSpec> = S["type"] extends "boolean" ? boolean : S["type"] extends "integer" | "number" ? number : S["type"] extends "size" ? Size : string;
type ArgOf<S extends OptionSpec> = S extends { multiple: true }
  ? ValueOf<S>[]
  : S extends { type: "boolean" } | { required: true } | { default: string | number | boolean }
    ? ValueOf<S>
    : ValueOf<S> | undefined;

/** What run() receives: each option by its declared name (`args["max-iters"]`), positionals in `_`. */
export type Args<O extends Record<string, OptionSpec>> = { -readonly [K in keyof O]: ArgOf<O[K]> } & { _: string[] };

export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  name: string;
  /** One line; the README table's "what it does". */
  description: string;
  /** More text for `--help` (paragraphs), optional. */
  details?: string;
  options: O;
  positionals?: PositionalSpec;
  /** The exit code (0 when nothing is returned). Throw UsageError for bad arguments, Error for failures (exit 1). */
  // biome-ignore lint/suspicious/noConfusingVoidType: a command may return nothing (exit 0)
  run(args: Args<O>): Promise<number | void>;
}

export function defineCommand<const O extends Record<string, OptionSpec>>(c: Command<O>): Command<O> {
  return c;
}

// Commands of different option shapes in one list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = Command<any>;

/** A bad command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: AnyCommand,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

const placeholder = (name: string, o: OptionSpec) => o.value ?? o.choices?.join("|") ?? (o.type === "integer" ? "n" : o.type === "number" ? "x" : o.type === "size" ? "WxH" : name);
const flag = (name: string, o: OptionSpec) => (o.type === "boolean" ? `--${name}` : `--${name} <${placeholder(name, o)}>${o.multiple ? "..." : ""}`);
const positional = (p: PositionalSpec) => `<${p.name}${p.multiple ? "..." : ""}>`;

/** The range an option accepts, as words: "an integer >= 1", "a number from 0 to 1". */
function rangeText(o: OptionSpec): string {
  const what = o.type === "integer" ? "an integer" : o.type === "size" ? "WIDTHxHEIGHT, integers" : "a number";
  if (o.minimum !== undefined && o.maximum !== undefined) return `${what} from ${o.minimum} to ${o.maximum}`;
  if (o.exclusiveMinimum !== undefined) return `${what} > ${o.exclusiveMinimum}${o.maximum !== undefined ? ` and <= ${o.maximum}` : ""}`;
  if (o.minimum !== undefined) return `${what} >= ${o.minimum}`;
  if (o.maximum !== undefined) return `${what} <= ${o.maximum}`;
  return what;
}

function inRange(o: OptionSpec, n: number): boolean {
  return (o.minimum === undefined || n >= o.minimum) && (o.maximum === undefined || n <= o.maximum) && (o.exclusiveMinimum === undefined || n > o.exclusiveMinimum);
}

/** One option value from its text, range-checked; errors name the option. */
function convert(cmd: AnyCommand, name: string, o: OptionSpec, text: string): unknown {
  const bad = () => new UsageError(`--${name} must be ${rangeText(o)}, got ${JSON.stringify(text)}`, cmd);
  if (o.type === "string") {
    if (!text) throw new UsageError(`--${name} must not be empty`, cmd);
    if (o.choices && !o.choices.includes(text)) throw new UsageError(`--${name} must be one of ${o.choices.join(", ")}, got ${JSON.stringify(text)}`, cmd);
    return text;
  }
  if (o.type === "size") {
    const m = /^\s*(\d+)\s*x\s*(\d+)\s*$/i.exec(text);
    if (!m) throw bad();
    const size = { width: Number(m[1]), height: Number(m[2]) };
    if (!inRange(o, size.width) || !inRange(o, size.height)) throw bad();
    return size;
  }
  const n = text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(n) || (o.type === "integer" && !Number.isInteger(n)) || !inRange(o, n)) throw bad();
  return n;
}

const closest = (word: string, names: string[]): string | undefined => {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0]!;
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const t = d[j]!;
        d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = t;
      }
    }
    return d[b.length]!;
  };
  const best = names.map((n) => [n, dist(word, n)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(word.length / 3)) ? best[0] : undefined;
};

/** True when argv asks for the command's help (before any `--`). */
export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** Parses argv by the command's declaration: unknown options, missing values, types and ranges are UsageErrors naming the option. */
export function parseCommandArgs<O extends Record<string, OptionSpec>>(cmd: Command<O>, argv: string[]): Args<O> {
  const specs = Object.entries(cmd.options) as [string, OptionSpec][];
  // `--max-iters -3`: a negative number is the option's value, not an option (parseArgs would call it ambiguous).
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const spec = a.startsWith("--") ? cmd.options[a.slice(2)] : undefined;
    if (spec && spec.type !== "boolean" && /^-\d/.test(argv[i + 1] ?? "")) args.push(`${a}=${argv[++i]}`);
    else args.push(a);
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: !!cmd.positionals,
      options: Object.fromEntries(specs.map(([n, o]) => [n, { type: o.type === "boolean" ? "boolean" : "string", ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }])),
    }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (!err.code?.startsWith("ERR_PARSE_ARGS")) throw e;
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const opt = /'([^']+)'/.exec(err.message)?.[1] ?? "";
      const near = closest(
        opt.replace(/^-+/, "").split("=")[0]!,
        specs.map(([n]) => n),
      );
      throw new UsageError(`unknown option ${opt}${near ? ` (did you mean --${near}?)` : ""}`, cmd);
    }
    if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const arg = /'([^']+)'/.exec(err.message)?.[1];
      throw new UsageError(`unexpected argument ${arg ? JSON.stringify(arg) : ""}: ${cmd.name} takes no positional arguments`.replace(" :", ":"), cmd);
    }
    const opt = /'(--?[\w-]+)/.exec(err.message)?.[1];
    const spec = opt ? specs.find(([n, o]) => `--${n}` === opt || (o.short && `-${o.short}` === opt)) : undefined;
    if (spec && spec[1].type === "boolean") throw new UsageError(`--${spec[0]} takes no value`, cmd);
    if (spec) throw new UsageError(`--${spec[0]} needs a value: ${flag(spec[0], spec[1])}`, cmd);
    throw new UsageError(err.message.split(". ")[0]!, cmd);
  }
  const out: Record<string, unknown> = { _: parsed.positionals };
  for (const [name, o] of specs) {
    const raw = parsed.values[name];
    if (o.type === "boolean") {
      out[name] = raw === undefined ? (o.default ?? false) : raw;
      continue;
    }
    if (raw === undefined) {
      if (o.required) throw new UsageError(`${flag(name, o)} is required`, cmd);
      out[name] = o.multiple ? [...((o.default as unknown[] | undefined) ?? [])] : o.default;
      continue;
    }
    if (o.multiple) {
      const items = (raw as string[]).flatMap((r) => r.split(",")).map((s) => s.trim());
      out[name] = items.map((s) => convert(cmd, name, o, s));
    } else out[name] = convert(cmd, name, o, raw as string);
  }
  const p = cmd.positionals;
  if (p?.required && parsed.positionals.length === 0) throw new UsageError(`${positional(p)} is required: ${p.description}`, cmd);
  if (p && !p.multiple && parsed.positionals.length > 1) throw new UsageError(`one ${positional(p)} expected, got ${parsed.positionals.length}`, cmd);
  return out as Args<O>;
}

/** `train --config <file> [--out <dir>] ...`: the command, required options, optional ones, positionals. */
export function synopsis(cmd: AnyCommand): string {
  const specs = Object.entries(cmd.options as Record<string, OptionSpec>);
  const parts = [cmd.name, ...specs.filter(([, o]) => o.required).map(([n, o]) => flag(n, o)), ...specs.filter(([, o]) => !o.required).map(([n, o]) => `[${flag(n, o)}]`)];
  if (cmd.positionals) parts.push(cmd.positionals.required ? positional(cmd.positionals) : `[${positional(cmd.positionals)}]`);
  return parts.join(" ");
}

const wrap = (text: string, width: number, indent: string): string => {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
};

/** `adaptseg <command> --help`. */
export function commandHelp(cmd: AnyCommand): string {
  const specs = Object.entries(cmd.options as Record<string, OptionSpec>);
  const rows: [string, string][] = specs.map(([n, o]) => {
    const notes: string[] = [];
    if (o.required) notes.push("required");
    if (o.type === "integer" || o.type === "number" || (o.type === "size" && (o.minimum ?? o.maximum ?? o.exclusiveMinimum) !== undefined)) notes.push(rangeText(o));
    if (o.multiple) notes.push("repeatable, or comma-separated");
    if (o.default !== undefined && o.type !== "boolean") notes.push(`default ${Array.isArray(o.default) ? o.default.join(",") : o.default}`);
    return [`${o.short ? `-${o.short}, ` : ""}${flag(n, o)}`, `${o.description}${notes.length ? ` (${notes.join("; ")})` : ""}`];
  });
  rows.push(["-h, --help", "this help"]);
  const w = Math.min(28, Math.max(...rows.map(([f]) => f.length)));
  const indent = " ".repeat(w + 4);
  const lines = [`usage: adaptseg ${synopsis(cmd)}`, "", wrap(cmd.description, 96, ""), ...(cmd.details ? ["", wrap(cmd.details, 96, "")] : [])];
  if (cmd.positionals) lines.push("", "arguments:", `  ${positional(cmd.positionals).padEnd(w)}  ${wrap(cmd.positionals.description, 96 - w - 4, indent)}`);
  lines.push("", "options:");
  for (const [f, d] of rows) lines.push(f.length > w ? `  ${f}\n${indent}${wrap(d, 96 - w - 4, indent)}` : `  ${f.padEnd(w)}  ${wrap(d, 96 - w - 4, indent)}`);
  return lines.join("\n") + "\n";
}

/** `adaptseg --help`. */
export function mainHelp(commands: AnyCommand[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: adaptseg <command> [options]",
    "       adaptseg <command> --help    the options of one command",
    "       adaptseg help --markdown     the command table (README.md)",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.description}`),
    "",
    "exit codes: 0 done (also when stopped by a signal or a closed stdout, after a checkpoint), 1 failed, 2 bad command line",
    "",
  ].join("\n");
}

/** The README's command table. */
export function markdownTable(commands: AnyCommand[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  return ["| command | what it does |", "|---|---|", ...commands.map((c) => `| \`${esc(synopsis(c))}\` | ${esc(c.description)} |`)].join("\n") + "\n";
}
