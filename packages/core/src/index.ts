// @adaptseg/core: plugin contracts, the experiment config, the inversify container, run events,
// the seeded RNG, the safetensors codec and pure-JS image helpers. No TF.js at run time.
export * from "./contracts.js";
export * from "./config.js";
export * from "./options.js";
export * from "./config-file.js";
export * from "./protocol.js";
export * from "./container.js";
export * from "./events.js";
export * from "./io/safetensors.js";
export * from "./image.js";
export * from "./rng.js";
