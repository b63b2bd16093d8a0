// One-step set-up used by `npm run demo` and `npm test` on a fresh machine with Node 20 + npm:
// installs the workspace with the pinned pnpm, then builds every package. With --test (npm test)
// it also installs what the VS Code tests need, each only when missing: the Debian packages below
// (apt-get, as root) and code-server + playwright-core + vsce (scripts/vscode-test-setup.sh), and
// fetches Mesa's software Vulkan driver for the webgpu tests (scripts/mesa.mjs, no system install).
import { execSync, execFileSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const run = (cmd, env) => execSync(cmd, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
const DEBIAN = ["chromium", "redis-server", "ripgrep", "libkrb5-dev", "build-essential", "pkg-config", "python3", "libvulkan1"];

/** The DEBIAN packages not installed (dpkg's view); all of them where there is no dpkg. */
function missingDebianPackages() {
  let out;
  try {
    out = execFileSync("dpkg-query", ["-W", "-f=${Package} ${db:Status-Status}\\n", ...DEBIAN], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch (e) {
    if (e.code === "ENOENT") return DEBIAN;
    out = e.stdout ?? ""; // exit 1 when some package is unknown; the known ones are still listed
  }
  const installed = new Set(
    out
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]),
  );
  return DEBIAN.filter((p) => !installed.has(p));
}

const test = process.argv.includes("--test");
const missing = test ? missingDebianPackages() : [];
const apt = `apt-get install -y ${missing.join(" ")}`;
if (missing.length && process.getuid?.() !== 0) {
  // say so before the long install
  console.error(`npm test: the VS Code tests need the Debian packages ${missing.join(", ")}, which are missing.\n` + `Install them as root (apt-get update && ${apt}), or run npm test as root.`);
  process.exit(1);
}
run(`npx -y pnpm@12.4.2 install ${process.env.CI ? "--frozen-lockfile" : ""} --reporter=append-only`);
run("node scripts/build.mjs");
if (test) {
  if (missing.length) {
    console.log(`setup: installing Debian packages for the VS Code tests: ${missing.join(" ")}`);
    run("apt-get update");
    run(apt, { DEBIAN_FRONTEND: "noninteractive" });
  }
  run("bash scripts/vscode-test-setup.sh");
  // Mesa 25's lavapipe into .cache/mesa for the webgpu tests (which skip, saying why, without it).
  try {
    run("node scripts/mesa.mjs");
  } catch {
    console.error("setup: Mesa's lavapipe could not be fetched (see above); the webgpu tests will be skipped");
  }
}
