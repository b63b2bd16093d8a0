// Bundles the extension (CJS, vscode external; no TF.js may enter) and, separately, the webview
// scripts (browser IIFE); copies uPlot, the stylesheet and the example configs into dist; writes the
// config schema.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
const here = new URL(".", import.meta.url).pathname;
const dist = join(here, "dist");
// The event types come from core's source, so this build does not wait for core's.
const alias = { "@adaptseg/core/events": join(here, "../core/src/events.ts") };
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "media"), { recursive: true });
mkdirSync(join(dist, "examples"), { recursive: true });

await build({ entryPoints: [join(here, "src/extension.ts")], bundle: true, format: "cjs", platform: "node", target: "node20",
  external: ["vscode"], alias, outfile: join(dist, "extension.cjs"), sourcemap: true, logLevel: "warning" });
if (/tfjs|@tensorflow/.test(readFileSync(join(dist, "extension.cjs"), "utf8"))) throw new Error("TF.js leaked into the extension bundle");
for (const page of ["dashboard", "preview"])
  await build({ entryPoints: [join(here, `src/webview/${page}.ts`)], bundle: true, format: "iife", platform: "browser", target: "es2022",
    alias, outfile: join(dist, "media", `${page}.js`), minify: true, logLevel: "warning" });

// uPlot is loaded by the webview from dist/media (never from the network).
const uplot = dirname(createRequire(join(here, "package.json")).resolve("uplot"));
copyFileSync(join(uplot, "uPlot.iife.min.js"), join(dist, "media/uPlot.iife.min.js"));
copyFileSync(join(uplot, "uPlot.min.css"), join(dist, "media/uPlot.min.css"));
copyFileSync(join(here, "src/webview/style.css"), join(dist, "media/style.css"));

// New Experiment Config scaffolds from the repo's examples (their $schema path is repo-relative;
// in a workspace, jsonValidation maps experiments/*.json to the schema instead).
const examples = join(here, "../../examples");
for (const f of readdirSync(examples).filter((f) => f.endsWith(".json"))) {
  const { $schema: _, ...config } = JSON.parse(readFileSync(join(examples, f), "utf8"));
  writeFileSync(join(dist, "examples", f), JSON.stringify(config, null, 2) + "\n");
}

try {
  const schema = execFileSync(process.execPath, [join(here, "../core/dist/cli.js"), "schema"], { encoding: "utf8" });
  writeFileSync(join(dist, "config.schema.json"), schema);
} catch (e) { console.warn(`vscode-ext: schema not generated (${e.message.split("\n")[0]})`); }
// Type-check (esbuild only strips types); the webview scripts and the shared protocol included.
execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", join(here, "tsconfig.json")], { stdio: "inherit" });
console.log("built adaptseg-vscode");
