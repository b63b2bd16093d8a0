// Finding the adaptseg CLI and checking the Node executable that runs it, without `vscode` (unit
// tested in test/vscode-units.test.ts). The CLI lives in packages/cli/dist/cli.js in the project
// checkout (packages/core/dist/cli.js before the core split) and is the `adaptseg` bin of
// @adaptseg/cli where the packages are installed.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Places looked at under each workspace folder (and its parents), preferred first. */
export const CLI_CANDIDATES = [
  "packages/cli/dist/cli.js",
  "node_modules/.bin/adaptseg",
  "node_modules/@adaptseg/cli/dist/cli.js",
  "packages/core/dist/cli.js",
  "node_modules/@adaptseg/core/dist/cli.js",
];
/** Sources that mean "this is the project checkout, not built yet". */
const UNBUILT = ["packages/cli/src/cli.ts", "packages/core/src/cli.ts"];

/** Raised for a setup problem the user fixes in a setting (the message names it). */
export class SetupError extends Error {
  constructor(
    message: string,
    readonly setting: string,
  ) {
    super(message);
    this.name = "SetupError";
  }
}

/** The script a node_modules/.bin entry runs: a symlink (npm, yarn), a node script, or pnpm's shell shim. */
export function binTarget(bin: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(bin);
  } catch {
    return undefined;
  }
  if (/\.[cm]?js$/.test(real)) return real;
  let text: string;
  try {
    text = fs.readFileSync(real, "utf8").slice(0, 4000);
  } catch {
    return undefined;
  }
  if (/^#!.*\bnode\b/.test(text)) return real;
  // pnpm: exec node "$basedir/../@adaptseg/cli/dist/cli.js" "$@"
  const m = /"\$basedir\/([^"$]+?\.[cm]?js)"/.exec(text);
  return m ? path.resolve(path.dirname(bin), m[1]!) : undefined;
}

export interface CliSearch {
  /** The CLI script found. */
  file?: string;
  /** Every path looked at, in order. */
  tried: string[];
  /** A project checkout whose CLI is not built yet. */
  unbuilt?: string;
}

/** Looks for the CLI under each root and up to `up` parent folders. */
export function findCli(roots: string[], up = 3): CliSearch {
  const tried: string[] = [];
  let unbuilt: string | undefined;
  for (const root of roots) {
    let dir = path.resolve(root);
    for (let i = 0; i <= up; i++) {
      for (const rel of CLI_CANDIDATES) {
        const p = path.join(dir, rel);
        tried.push(p);
        if (!fs.existsSync(p)) continue;
        const file = rel.includes(".bin/") ? binTarget(p) : p;
        if (file && fs.existsSync(file)) return { file, tried };
      }
      unbuilt ??= UNBUILT.some((s) => fs.existsSync(path.join(dir, s))) ? dir : undefined;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return { tried, unbuilt };
}

/** The CLI to run: the `adaptseg.cliPath` setting (resolved against `base`) or the one found under
 * `roots`; a SetupError naming the setting otherwise. */
export function resolveCli(setting: string | undefined, base: string, roots: string[]): string {
  if (setting) {
    const p = path.resolve(base, setting);
    if (!fs.existsSync(p))
      throw new SetupError(
        `"adaptseg.cliPath" is set to ${p}, which does not exist. Set it to the adaptseg CLI's cli.js, or clear it to let AdaptSeg find the CLI in the workspace.`,
        "adaptseg.cliPath",
      );
    if (fs.statSync(p).isDirectory()) {
      const inside = ["dist/cli.js", "cli.js"].map((f) => path.join(p, f)).find((f) => fs.existsSync(f));
      if (inside) return inside;
      throw new SetupError(`"adaptseg.cliPath" is the folder ${p}; set it to the CLI's cli.js file.`, "adaptseg.cliPath");
    }
    return p.includes(`${path.sep}.bin${path.sep}`) ? (binTarget(p) ?? p) : p;
  }
  const found = findCli(roots);
  if (found.file) return found.file;
  if (found.unbuilt)
    throw new SetupError(`The AdaptSeg CLI in ${found.unbuilt} is not built yet: run "node scripts/build.mjs" there, or set "adaptseg.cliPath" to a built cli.js.`, "adaptseg.cliPath");
  throw new SetupError(
    `The AdaptSeg CLI was not found in this workspace (looked for packages/cli/dist/cli.js and node_modules/.bin/adaptseg). Install @adaptseg/cli here, or set "adaptseg.cliPath" to its cli.js.`,
    "adaptseg.cliPath",
  );
}

/** Runs `node -v` with the configured executable; a SetupError naming `adaptseg.nodePath` if it is
 * not a Node.js 20+ executable. Resolves to the version. */
export function checkNode(nodePath: string, cwd?: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const bad = (why: string) => reject(new SetupError(`"adaptseg.nodePath" is "${nodePath}": ${why}. Set it to a Node.js 20+ executable (or "node" to use the one on PATH).`, "adaptseg.nodePath"));
    let child;
    try {
      child = execFile(nodePath, ["-e", "process.stdout.write(process.versions.node)"], { cwd, timeout: timeoutMs, encoding: "utf8" }, (err, stdout) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") return bad(path.isAbsolute(nodePath) || nodePath.includes("/") ? "no such file" : "not found on PATH");
          if (code === "EACCES") return bad("not executable");
          if (err.killed) return bad(`it did not answer within ${timeoutMs / 1000} s`);
          return bad(`it did not run as Node.js (${err.message.split("\n")[0]})`);
        }
        const v = stdout.trim();
        const major = Number(/^(\d+)\./.exec(v)?.[1]);
        if (!major) return bad(`it printed "${v.slice(0, 60)}", not a Node.js version`);
        if (major < 20) return bad(`it is Node.js ${v}; the CLI needs 20 or newer`);
        resolve(v);
      });
    } catch (e) {
      return bad((e as Error).message);
    }
    child.on("error", () => {
      /* reported through the callback */
    });
  });
}
