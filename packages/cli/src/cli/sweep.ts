// `adaptseg sweep <file>`: settings x seeds from a sweep file, on local worker processes or a
// BullMQ queue (docs/sweeps.md).
import { realpathSync } from "node:fs";
import { defineCommand } from "../command.js";
import { stdout } from "./common.js";

export default defineCommand({
  name: "sweep",
  description: "settings x seeds from a sweep file, on local workers or a queue; `sweep.json`, results table and chart",
  options: {
    out: { type: "string", value: "dir", description: "the sweep folder" },
    workers: { type: "integer", minimum: 1, description: "local worker processes (default: as many as the cores hold)" },
    queue: { type: "string", value: "redis://host:port", description: "run on a BullMQ queue instead of local workers" },
    "queue-name": { type: "string", value: "name", description: "the queue's name" },
    data: { type: "string", value: "dir", description: "--data for the runs" },
    "dry-run": { type: "boolean", description: "print the runs, train nothing" },
    "no-chart": { type: "boolean", description: "do not draw the chart" },
  },
  positionals: { name: "file", required: true, description: "the sweep file (*.sweep.json)" },
  async run(v) {
    const { runSweep } = await import("@adaptseg/sweep");
    const stopSignal = { stop: false };
    const onSignal = (sig: string) => {
      if (stopSignal.stop) process.exit(130);
      stopSignal.stop = true;
      process.stderr.write(`\n${sig}: stopping the sweep (runs checkpoint); again to quit at once\n`);
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    const r = await runSweep({
      file: v._[0]!,
      out: v.out,
      cli: realpathSync(process.argv[1]!),
      workers: v.workers,
      queue: v.queue,
      queueName: v["queue-name"],
      data: v.data,
      dryRun: v["dry-run"],
      chart: !v["no-chart"],
      stopSignal,
      log: (line) => stdout.write(line + "\n"),
    });
    return v["dry-run"] || r.json.state === "done" ? 0 : stopSignal.stop ? 130 : 1;
  },
});
