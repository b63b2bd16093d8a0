// `npm run typecheck [name...]`: tsc without output on every package (packages/*/tsconfig.json), on
// test/ and on bench/. Packages resolve each other through their built types (dist/*.d.ts), so run
// `npm run build` first. Prints the error count per project; exits 1 when any project has errors.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { createRequire } from "node:module";

const root = new URL("..", import.meta.url).pathname;
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const only = process.argv.slice(2);

const projects = [
  ...readdirSync(join(root, "packages"))
    .sort()
    .map((p) => join(root, "packages", p)),
  join(root, "test"),
  join(root, "bench"),
].filter((dir) => existsSync(join(dir, "tsconfig.json")) && (!only.length || only.some((o) => dir.endsWith(`/${o}`))));

let failed = 0;
for (const dir of projects) {
  const name = relative(root, dir);
  // Package tsconfigs emit declarations for the build; here nothing is written.
  const r = spawnSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json"), "--noEmit", "--emitDeclarationOnly", "false", "--pretty", "false"], { cwd: root, encoding: "utf8" });
  const out = `${r.stdout}${r.stderr}`.trim();
  const errors = out.split("\n").filter((l) => / error TS\d+:/.test(l)).length;
  if (r.status !== 0) {
    failed++;
    console.log(out);
  }
  console.log(`typecheck ${name}: ${r.status === 0 ? "ok" : `${errors || "?"} error(s)`}`);
}
if (failed) {
  console.log(`typecheck: ${failed} of ${projects.length} projects have errors`);
  process.exit(1);
}
