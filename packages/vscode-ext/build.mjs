// Bundles the extension (CJS, vscode external; no TF.js may enter) and writes the config schema.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
const here = new URL(".", import.meta.url).pathname;
mkdirSync(here + "dist", { recursive: true });
await build({ entryPoints: [here + "src/extension.ts"], bundle: true, format: "cjs", platform: "node", target: "node20",
  external: ["vscode"], outfile: here + "dist/extension.cjs", sourcemap: true, logLevel: "warning" });
if (/tfjs/.test(readFileSync(here + "dist/extension.cjs", "utf8"))) throw new Error("TF.js leaked into the extension bundle");
try {
  const schema = execFileSync(process.execPath, [here + "../core/dist/cli.js", "schema"], { encoding: "utf8" });
  writeFileSync(here + "dist/config.schema.json", schema);
} catch (e) { console.warn(`vscode-ext: schema not generated (${e.message.split("\n")[0]})`); }
console.log("built adaptseg-vscode");
