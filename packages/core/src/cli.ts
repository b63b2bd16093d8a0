#!/usr/bin/env node
// The `adaptseg` command line. Each command lives in cli/<name>.ts and is loaded on demand.
import { writeFileSync } from "node:fs";
const commands: Record<string, { describe: string; load: () => Promise<{ run(argv: string[]): Promise<number | void> }> }> = {
  info: { describe: "backend choice and known plugins [--json]", load: () => import("./cli/info.js") },
  schema: { describe: "print the experiment config JSON Schema", load: () => import("./cli/schema.js") },
  train: { describe: "--config f.json [--out dir] [--resume] [--max-iters N] [--backend b] [--seed n] [--data dir] [--json-events]", load: () => import("./cli/train.js") },
  eval: { describe: "--config f.json --checkpoint c [--out dir] [--limit N]", load: () => import("./cli/eval.js") },
  retrieve: { describe: "--config f.json --checkpoint c [--k 5] [--out dir] [--limit N]: cross-domain nearest neighbours", load: () => import("./cli/retrieve.js") },
  predict: { describe: "--checkpoint c <image...> [--out dir] [--size WxH]", load: () => import("./cli/predict.js") },
  "predict-server": { describe: "[--checkpoint c]: JSON-lines prediction service on stdin/stdout (editors)", load: () => import("./cli/predict-server.js") },
  demo: { describe: "CamVid day -> dusk: source-only vs output-space, dusk mIoU side by side [--data dir] [--out dir] [--iters N] [--seed n] [--backend b] [--quiet]", load: () => import("./cli/demo.js") },
};

export function usage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length));
  return `usage: adaptseg <command> [options]\n\ncommands:\n${Object.entries(commands)
    .map(([k, c]) => `  ${k.padEnd(w)}  ${c.describe}`)
    .join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "help" || cmd === "--help" || cmd === "-h") {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  const c = commands[cmd];
  if (!c) {
    process.stderr.write(`adaptseg: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const code = await (await c.load()).run(rest);
  return typeof code === "number" ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`adaptseg: ${message}\n`);
    // Editors that run the CLI as a terminal task (VS Code) read the failure from this file.
    if (process.env.ADAPTSEG_ERROR_FILE) writeFileSync(process.env.ADAPTSEG_ERROR_FILE, JSON.stringify({ message }) + "\n");
    if (process.env.ADAPTSEG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
