import { ContainerModule } from "inversify";
import { bindPlugin, DataPipeline, DatasetAdapter } from "@adaptseg/core";
import { Pipeline } from "./pipeline.js";
import { CityscapesAdapter } from "./cityscapes.js";
import { CamVidAdapter } from "./camvid.js";
import { Gta5Adapter, SynthiaAdapter } from "./synthetic.js";
import { ImageFolderAdapter } from "./folder.js";

export * from "./labels.js";
export * from "./spaces.js";
export * from "./camvid.js";
export * from "./image.js";
export * from "./synthetic.js";
export * from "./pipeline.js";
export { CityscapesAdapter, ImageFolderAdapter };
export { default as sharp } from "sharp";

export const containerModule = new ContainerModule(({ bind }) => {
  bindPlugin(bind, DatasetAdapter, CityscapesAdapter, "cityscapes");
  bindPlugin(bind, DatasetAdapter, CamVidAdapter, "camvid");
  bindPlugin(bind, DatasetAdapter, Gta5Adapter, "gta5");
  bindPlugin(bind, DatasetAdapter, SynthiaAdapter, "synthia");
  bindPlugin(bind, DatasetAdapter, ImageFolderAdapter, "image-folder");
  bind(DataPipeline)
    .toDynamicValue((ctx) => new Pipeline(() => ctx.getAll<DatasetAdapter>(DatasetAdapter)))
    .inSingletonScope();
});
