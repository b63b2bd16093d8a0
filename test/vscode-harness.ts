// Harness for the real-VS-Code tests: a code-server (installed by scripts/vscode-test-setup.sh into
// .cache/code-server) started detached in a throw-away work dir, and a headless Debian Chromium
// driven by playwright-core. See ../shared/notes/vscode-testing.md for the measured recipe.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { repoRoot } from "./helpers.js";

export const csDir = join(repoRoot, ".cache/code-server");
const codeServerBin = join(csDir, "node_modules/.bin/code-server");
export const vsceBin = join(csDir, "node_modules/.bin/vsce");
export const chromiumPath = process.env.ADAPTSEG_CHROMIUM ?? "/usr/bin/chromium";

/** XDG_* and TMPDIR under `work`, so neither code-server nor Chromium writes into $HOME. */
export function isolatedEnv(work: string): NodeJS.ProcessEnv {
  const d = (n: string) => {
    const p = join(work, n);
    mkdirSync(p, { recursive: true });
    return p;
  };
  return {
    ...process.env,
    XDG_CONFIG_HOME: d("xdg/config"),
    XDG_DATA_HOME: d("xdg/data"),
    XDG_CACHE_HOME: d("xdg/cache"),
    XDG_STATE_HOME: d("xdg/state"),
    TMPDIR: d("tmp"),
    EXTENSIONS_GALLERY: '{"serviceUrl":""}',
  };
}

/** Polls `fn` until it returns a truthy value; fails naming `what` after `ms`. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, ms = 60_000, every = 250): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}${last ? ` (last error: ${(last as Error).message?.split("\n")[0]})` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on("error", rej);
  });
}

export interface CodeServer {
  port: number;
  origin: string;
  output: () => string;
  stop: () => void;
}

export function codeServerDirs(work: string) {
  return ["--user-data-dir", join(work, "cs-user"), "--extensions-dir", join(work, "cs-ext")];
}

/** `code-server --install-extension file.vsix` into the work dir's extensions folder. */
export function installVsix(work: string, vsix: string): string {
  return execFileSync(codeServerBin, [...codeServerDirs(work), "--install-extension", vsix, "--force"], { env: isolatedEnv(work), encoding: "utf8", timeout: 120_000 });
}

export function listExtensions(work: string): string[] {
  return execFileSync(codeServerBin, [...codeServerDirs(work), "--list-extensions"], { env: isolatedEnv(work), encoding: "utf8", timeout: 120_000 })
    .split("\n")
    .filter(Boolean);
}

/** Starts code-server detached (own process group, so `stop` ends its watchers too). */
export async function startCodeServer(work: string): Promise<CodeServer> {
  const port = await freePort();
  let out = "";
  const child: ChildProcess = spawn(
    codeServerBin,
    ["--bind-addr", `127.0.0.1:${port}`, "--auth", "none", ...codeServerDirs(work), "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--ignore-last-opened"],
    { env: isolatedEnv(work), detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  };
  process.once("exit", stop);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitFor("code-server to listen", async () => (child.exitCode === null ? (await fetch(`${origin}/healthz`)).ok : Promise.reject(new Error(`code-server exited: ${out}`))), 60_000);
  } catch (e) {
    stop();
    throw e;
  }
  return { port, origin, output: () => out, stop };
}

/** Headless Debian Chromium with a profile under the work dir. */
export async function launchChromium(work: string) {
  // playwright-core lives in the code-server cache, not in the workspace's dependencies.
  const playwright = createRequire(join(csDir, "package.json"))("playwright-core");
  return playwright.chromium.launchPersistentContext(join(work, "chromium"), {
    executablePath: chromiumPath,
    viewport: { width: 1400, height: 900 },
    env: isolatedEnv(work),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}
