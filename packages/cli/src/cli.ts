#!/usr/bin/env node
// The `adaptseg` command line: the commands of commands.ts, each parsed and documented from its
// declaration (command.ts). Exit codes: 0 done, 1 failed, 2 bad command line.
import { writeFileSync } from "node:fs";
import { UsageError, commandHelp, mainHelp, markdownTable, parseCommandArgs, synopsis, wantsHelp, type AnyCommand } from "./command.js";
import { commands } from "./commands.js";
import { guardStdio, stdout } from "./cli/common.js";

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h") {
    (name ? stdout : process.stderr).write(mainHelp(commands));
    return name ? 0 : 2;
  }
  if (name === "help") {
    if (rest.includes("--markdown")) stdout.write(markdownTable(commands));
    else {
      const cmd = commands.find((c) => c.name === rest[0]);
      if (rest[0] && !cmd) throw new UsageError(`unknown command "${rest[0]}"`);
      stdout.write(cmd ? commandHelp(cmd) : mainHelp(commands));
    }
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command "${name}"`);
  if (wantsHelp(rest)) {
    stdout.write(commandHelp(cmd));
    return 0;
  }
  let args;
  try {
    args = parseCommandArgs(cmd, rest);
  } catch (e) {
    if (e instanceof UsageError && !e.command) throw new UsageError(e.message, cmd);
    throw e;
  }
  const code = await cmd.run(args);
  return typeof code === "number" ? code : 0;
}

function usageText(cmd?: AnyCommand): string {
  return cmd ? `usage: adaptseg ${synopsis(cmd)}\n(adaptseg ${cmd.name} --help lists the options)\n` : mainHelp(commands);
}

guardStdio();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const message = err instanceof Error ? err.message : String(err);
    const cmd = err instanceof UsageError ? err.command : undefined;
    process.stderr.write(`adaptseg${cmd ? ` ${cmd.name}` : ""}: ${message}\n`);
    if (err instanceof UsageError) process.stderr.write(`\n${usageText(cmd)}`);
    // Editors that run the CLI as a terminal task (VS Code) read the failure from this file.
    if (process.env.ADAPTSEG_ERROR_FILE) writeFileSync(process.env.ADAPTSEG_ERROR_FILE, JSON.stringify({ message }) + "\n");
    if (process.env.ADAPTSEG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
