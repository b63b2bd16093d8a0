// Target-side adaptation strategies (SPEC section 7): MinEnt, CBST self-training, DACS and its
// augmentation-only control, plus the pieces they are built from.
import { ContainerModule } from "inversify";
import { AdaptationStrategy, bindPlugin, type Ctor } from "@adaptseg/core";
import { MinEnt } from "./minent.js";
import { SelfTraining } from "./self-training.js";
import { AugControl, Dacs } from "./dacs.js";

export * from "./losses.js";
export * from "./classmix.js";
export * from "./photometric.js";
export * from "./teacher.js";
export * from "./cbst.js";
export * from "./step.js";
export { MinEnt, MinEntOptions } from "./minent.js";
export { SelfTraining, SelfTrainingOptions } from "./self-training.js";
export { Dacs, AugControl, DacsOptions } from "./dacs.js";

export const containerModule = new ContainerModule(({ bind }) => {
  for (const S of [MinEnt, SelfTraining, Dacs, AugControl] as Ctor<AdaptationStrategy>[]) bindPlugin(bind, AdaptationStrategy, S, new S().name);
});
