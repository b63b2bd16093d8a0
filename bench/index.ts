// `pnpm bench`: runs every bench/*.bench.ts (or those named: `pnpm bench conv metrics`).
// Each prints JSON lines: {"bench": ..., ...figures}.
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only.length || only.some((o) => f.startsWith(o)))
  .sort();
for (const f of files) {
  const mod = await import(pathToFileURL(join(here, f)).href);
  await mod.run();
}
