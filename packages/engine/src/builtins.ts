// The built-in packages' ContainerModules, in the order they are loaded: compute backends, the
// VGG-16 and ResNet-101 DeepLab backbones, the discriminator and adversarial strategies, the target-side strategies,
// the datasets.
import type { ContainerModule } from "inversify";
import { computeModule } from "@adaptseg/compute";
import { containerModule as modelsVgg } from "@adaptseg/models-vgg";
import { containerModule as modelsResnet } from "@adaptseg/models-resnet";
import { containerModule as discriminators } from "@adaptseg/discriminators";
import { containerModule as strategies } from "@adaptseg/strategies";
import { containerModule as datasets } from "@adaptseg/datasets";

/**
 * What buildExperiment, train and Predictor.open load when the caller passes no `modules`.
 * `threads`: wasm threads (default: all cores).
 */
export function builtinModules(opts: { threads?: number } = {}): ContainerModule[] {
  return [computeModule(opts.threads), modelsVgg, modelsResnet, discriminators, strategies, datasets];
}
