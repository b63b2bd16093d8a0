// Bundles the extension (CJS, vscode external; no TF.js may enter) and, separately, the webview
// scripts (browser IIFE); copies uPlot, the stylesheet and the example configs into dist; writes the
// config schema.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
const here = new URL(".", import.meta.url).pathname;
const dist = join(here, "dist");
// The event types come from core's source, so this build does not wait for core's.
const alias = { "@adaptseg/core/events": join(here, "../core/src/events.ts") };
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "media"), { recursive: true });
mkdirSync(join(dist, "examples"), { recursive: true });

await build({
  entryPoints: [join(here, "src/extension.ts")],
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["vscode"],
  alias,
  outfile: join(dist, "extension.cjs"),
  sourcemap: true,
  logLevel: "warning",
});
if (/tfjs|@tensorflow/.test(readFileSync(join(dist, "extension.cjs"), "utf8"))) throw new Error("TF.js leaked into the extension bundle");
for (const page of ["dashboard", "preview"])
  await build({
    entryPoints: [join(here, `src/webview/${page}.ts`)],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    alias,
    outfile: join(dist, "media", `${page}.js`),
    minify: true,
    logLevel: "warning",
  });

// uPlot is loaded by the webview from dist/media (never from the network).
const uplot = dirname(createRequire(join(here, "package.json")).resolve("uplot"));
copyFileSync(join(uplot, "uPlot.iife.min.js"), join(dist, "media/uPlot.iife.min.js"));
copyFileSync(join(uplot, "uPlot.min.css"), join(dist, "media/uPlot.min.css"));
copyFileSync(join(here, "src/webview/style.css"), join(dist, "media/style.css"));
copyFileSync(join(here, "src/webview/segment.svg"), join(dist, "media/segment.svg"));

// New Experiment Config scaffolds from the repo's examples (their $schema path is repo-relative;
// in a workspace, jsonValidation maps experiments/*.json to the schema instead).
const examples = join(here, "../../examples");
// Examples that extend another are resolved here, so a scaffold stands alone; sweep files are no configs.
const { loadConfigFile } = await import("@adaptseg/core");
for (const f of readdirSync(examples).filter((f) => f.endsWith(".json") && !f.endsWith(".sweep.json"))) {
  const { $schema: _, extends: _base, ...config } = loadConfigFile(join(examples, f)).config;
  writeFileSync(join(dist, "examples", f), JSON.stringify(config, null, 2) + "\n");
}

// The config schema comes from the CLI (`adaptseg schema`): packages/cli (packages/core before the
// core split); ADAPTSEG_CLI names another.
const cli = [process.env.ADAPTSEG_CLI, join(here, "../cli/dist/cli.js"), join(here, "../core/dist/cli.js")].find((f) => f && existsSync(f));
try {
  if (!cli) throw new Error("no built CLI (packages/cli/dist/cli.js)");
  const schema = execFileSync(process.execPath, [cli, "schema"], { encoding: "utf8" });
  JSON.parse(schema);
  writeFileSync(join(dist, "config.schema.json"), schema);
} catch (e) {
  console.warn(`vscode-ext: schema not generated (${e.message.split("\n")[0]})`);
}
// Type-check (esbuild only strips types); the webview scripts and the shared protocol included.
execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", join(here, "tsconfig.json")], { stdio: "inherit" });
console.log("built adaptseg-vscode");
