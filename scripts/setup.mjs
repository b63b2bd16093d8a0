// One-step set-up used by `npm run demo` and `npm test` on a fresh machine with Node 20 + npm:
// installs the workspace with the pinned pnpm, then builds every package.
// With --test it also installs what the VS Code tests need (Debian packages when root, code-server).
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const run = (cmd) => execSync(cmd, { cwd: root, stdio: "inherit" });
run(`npx -y pnpm@12.4.2 install ${process.env.CI ? "--frozen-lockfile" : ""} --reporter=append-only`);
if (process.argv.includes("--test")) {
  const debs = ["chromium", "ripgrep", "libkrb5-dev", "build-essential", "pkg-config", "python3"];
  const missing = debs.filter((p) => {
    try {
      execSync(`dpkg -s ${p}`, { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    if (process.getuid?.() === 0) run(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`);
    else throw new Error(`the VS Code tests need these Debian packages: sudo apt-get install -y ${missing.join(" ")}`);
  }
  if (!existsSync(`${root}/.cache/code-server/node_modules/.bin/code-server`)) run("bash scripts/vscode-test-setup.sh");
}
run("node scripts/build.mjs");
