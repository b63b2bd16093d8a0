// @adaptseg/engine: builds experiments from configs and trains, evaluates and predicts with them
// (optimisers, checkpoints, evaluation, rendering, retrieval). No argument parsing, no console output:
// progress goes to the caller as events.
export * from "./builtins.js";
export * from "./train/optim.js";
export * from "./train/checkpoint.js";
export * from "./train/trainer.js";
export * from "./train/evaluate.js";
export * from "./eval/index.js";
export * from "./eval/retrieve.js";
export * from "./predict.js";
export * from "./export.js";
