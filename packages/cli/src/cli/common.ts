// Helpers shared by the CLI commands.
import { loadConfigFile, validateConfig, type ExperimentConfig } from "@adaptseg/core";

/** Reads an experiment config (following `extends`) and validates it; errors name the file and the field. */
export function loadConfig(file: string): { config: ExperimentConfig; baseDir: string; file: string } {
  const loaded = loadConfigFile(file);
  return { config: validateConfig(loaded.config, file), baseDir: loaded.baseDir, file: loaded.file };
}

export const fmtSec = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(0)}s`);

// stdout may close under us (`adaptseg train ... | head -n 2`): writes then fail with EPIPE. The CLI
// stops writing to it, tells whoever listens (train checkpoints and stops), and never crashes.
let stdoutClosed = false;
const closedListeners: (() => void)[] = [];
/** Installed once by cli.ts. */
export function guardStdio(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (stdoutClosed) return;
    stdoutClosed = true;
    if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") process.stderr.write(`adaptseg: stdout failed (${e.code ?? e.message}); no more output there\n`);
    for (const f of closedListeners.splice(0)) f();
  });
  process.stderr.on("error", () => {}); // nowhere left to report it
}
/** Calls `f` once stdout has closed (at once if it already has). */
export function onStdoutClosed(f: () => void): void {
  if (stdoutClosed) f();
  else closedListeners.push(f);
}
/** process.stdout, writing nothing once it has closed. */
export const stdout = {
  get isTTY(): boolean {
    return !!process.stdout.isTTY;
  },
  write(s: string): boolean {
    if (stdoutClosed || process.stdout.destroyed) return false;
    return process.stdout.write(s);
  },
};
