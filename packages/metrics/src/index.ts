// @adaptseg/metrics: segmentation metrics (confusion matrix, mIoU, tables) with no TF.js and no
// run-time dependencies.
export * from "./confusion.js";
