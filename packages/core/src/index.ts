export * from "./contracts.js";
export * from "./config.js";
export * from "./container.js";
export * from "./backend.js";
export * from "./ops/dilated.js";
export * from "./kernels/index.js";
export * from "./events.js";
