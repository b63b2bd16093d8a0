// `adaptseg worker --queue redis://host:port`: trains sweep runs taken from a BullMQ queue until
// stopped (SIGINT/SIGTERM: the current run checkpoints and goes back to the queue).
import { realpathSync } from "node:fs";
import { defineCommand } from "../command.js";
import { stdout } from "./common.js";

export default defineCommand({
  name: "worker",
  description: "trains sweep runs from a BullMQ queue until stopped (the run in progress checkpoints and goes back)",
  options: {
    queue: { type: "string", value: "redis://host:port", required: true, description: "the queue's Redis" },
    "queue-name": { type: "string", value: "name", description: "the queue's name" },
    data: { type: "string", value: "dir", description: "--data for the runs" },
    work: { type: "string", value: "dir", description: "where runs train when the sweep's folder is not visible here (default runs/worker)" },
    isolated: { type: "boolean", description: "train in --work even where the sweep's folder is visible" },
    concurrency: { type: "integer", minimum: 1, description: "runs at a time (default 1: a run uses every core)" },
    "lock-duration": { type: "integer", minimum: 1, value: "ms", description: "BullMQ lock duration (default 30000)" },
    "stalled-interval": { type: "integer", minimum: 1, value: "ms", description: "BullMQ stalled-check interval (default 30000)" },
    "drain-delay": { type: "integer", minimum: 1, value: "s", description: "seconds an idle worker long-polls (default 5)" },
  },
  async run(v) {
    const { startWorker } = await import("@adaptseg/sweep");
    const log = (line: string) => stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
    const worker = await startWorker({
      url: v.queue,
      queue: v["queue-name"],
      cli: realpathSync(process.argv[1]!),
      data: v.data,
      work: v.work,
      isolated: v.isolated,
      concurrency: v.concurrency,
      lockDuration: v["lock-duration"],
      stalledInterval: v["stalled-interval"],
      drainDelay: v["drain-delay"],
      log,
    });
    await new Promise<void>((resolve) => {
      let closing = false;
      const stop = (sig: string) => {
        if (closing) process.exit(130);
        closing = true;
        log(`${sig}: stopping; a run in progress checkpoints and goes back to the queue`);
        worker.close().then(resolve, resolve);
      };
      process.on("SIGINT", stop).on("SIGTERM", stop);
    });
    log(`worker ${worker.id} stopped after ${worker.completed.length} run${worker.completed.length === 1 ? "" : "s"}`);
    return 0;
  },
});
