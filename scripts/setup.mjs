// One-step set-up used by `npm run demo` and `npm test` on a fresh machine with Node 20 + npm:
// installs the workspace with the pinned pnpm, then builds every package.
import { execSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const run = (cmd) => execSync(cmd, { cwd: root, stdio: "inherit" });
run(`npx -y pnpm@12.4.2 install ${process.env.CI ? "--frozen-lockfile" : ""} --reporter=append-only`);
run("node scripts/build.mjs");
