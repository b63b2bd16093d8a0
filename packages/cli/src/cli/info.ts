// `adaptseg info`: the compute backend this machine gets and every plugin name.
import { ComputeBackend, createContainer, pluginNames } from "@adaptseg/core";
import { defineCommand } from "../command.js";
import { stdout } from "./common.js";

export default defineCommand({
  name: "info",
  description: "the chosen compute backend, why each one before it was skipped, every plugin name",
  options: {
    json: { type: "boolean", description: "print a JSON report" },
    backend: { type: "string", value: "name", description: "try this backend instead of choosing (else ADAPTSEG_BACKEND)" },
  },
  async run(v) {
    const [{ selectBackend }, { builtinModules }, tf] = await Promise.all([import("@adaptseg/compute"), import("@adaptseg/engine"), import("@tensorflow/tfjs-core")]);
    const container = await createContainer({}, { modules: builtinModules() });
    const choice = await selectBackend(container.getAll(ComputeBackend), v.backend);
    const report = {
      backend: choice.name,
      tfBackend: tf.getBackend(),
      kernels: choice.kernels,
      adapter: choice.adapter,
      skipped: choice.skipped,
      plugins: pluginNames(container),
      modules: container.adaptseg,
    };
    if (v.json) {
      stdout.write(JSON.stringify(report, null, 2) + "\n");
      return;
    }
    const lines = [`backend: ${report.backend}`];
    if (report.kernels) lines.push(`  kernels: ${report.kernels}`);
    if (report.adapter) lines.push(`  adapter: ${report.adapter}`);
    for (const s of report.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
    lines.push("plugins:");
    for (const [point, names] of Object.entries(report.plugins)) lines.push(`  ${point}: ${names.join(", ") || "(none)"}`);
    for (const m of report.modules.missing) lines.push(`  (not installed: ${m.name})`);
    stdout.write(lines.join("\n") + "\n");
  },
});
