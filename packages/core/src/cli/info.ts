import { parseArgs } from "node:util";
import { createContainer, pluginNames } from "../container.js";
import { selectBackend } from "../backend.js";
import { ComputeBackend } from "../contracts.js";
import * as tf from "@tensorflow/tfjs-core";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" }, backend: { type: "string" } } });
  const container = await createContainer();
  const choice = await selectBackend(container.getAll(ComputeBackend), values.backend);
  const report = {
    backend: choice.name,
    tfBackend: tf.getBackend(),
    kernels: choice.kernels,
    skipped: choice.skipped,
    plugins: pluginNames(container),
    modules: container.adaptseg,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return 0;
  }
  const lines = [`backend: ${report.backend}`];
  if (report.kernels) lines.push(`  kernels: ${report.kernels}`);
  for (const s of report.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  lines.push("plugins:");
  for (const [point, names] of Object.entries(report.plugins)) lines.push(`  ${point}: ${names.join(", ") || "(none)"}`);
  for (const m of report.modules.missing) lines.push(`  (not installed: ${m.name})`);
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}
