// Builds every workspace package: esbuild bundles src/ entries to dist/ (ESM .js + CJS .cjs),
// then tsc emits .d.ts. Order follows the dependency graph.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, existsSync } from "node:fs";
import { join, basename } from "node:path";
import { createRequire } from "node:module";

const root = new URL("..", import.meta.url).pathname;
const order = ["metrics", "core", "compute", "strategies", "datasets", "models-vgg", "models-resnet", "discriminators", "engine", "sweep", "cli", "vscode-ext"];
const only = process.argv.slice(2);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

for (const name of order) {
  if (only.length && !only.includes(name)) continue;
  const dir = join(root, "packages", name);
  if (!existsSync(join(dir, "package.json"))) continue;
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (pkg.scripts?.build) {
    execFileSync("npm", ["run", "-s", "build"], { cwd: dir, stdio: "inherit" });
    continue;
  }
  rmSync(join(dir, "dist"), { recursive: true, force: true });
  const entries = (pkg.buildEntries ?? ["src/index.ts"]).map((e) => join(dir, e));
  const common = { entryPoints: entries, bundle: true, packages: "external", platform: "node", target: "node20", outdir: join(dir, "dist"), sourcemap: true, logLevel: "warning" };
  await build({ ...common, format: "esm" });
  await build({ ...common, format: "cjs", outExtension: { ".js": ".cjs" } });
  execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { stdio: "inherit" });
  console.log(`built ${pkg.name} (${entries.map((e) => basename(e)).join(", ")})`);
}
