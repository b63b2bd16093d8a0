// @adaptseg/sweep: sweeps over config paths and seeds, run by local worker processes or by
// `adaptseg worker` processes on a BullMQ queue; results as sweep.json, tables and a chart.
export * from "./types.js";
export * from "./expand.js";
export * from "./status.js";
export * from "./run.js";
export * from "./queue.js";
export * from "./results.js";
export * from "./chart.js";
export * from "./sweep.js";
export * from "./plugins.js";
