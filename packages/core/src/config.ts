// The experiment config: one TypeBox source gives the TypeScript type, the JSON Schema
// (`adaptseg schema`, VS Code completion) and run-time validation with field-path errors.
import { Type as T, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Obj = <P extends Parameters<typeof T.Object>[0]>(props: P, description?: string) =>
  T.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

const Size = Obj(
  {
    width: T.Integer({ minimum: 8, description: "Width in pixels" }),
    height: T.Integer({ minimum: 8, description: "Height in pixels" }),
  },
  "Input size the images are resized to (images bicubic, labels nearest).",
);

export const DatasetConfigSchema = Obj({
  type: T.String({ description: "Dataset adapter name: gta5, synthia, cityscapes, camvid, image-folder, or a plugin's." }),
  root: T.Optional(T.String({ description: "Dataset folder. Relative paths resolve against --data / ADAPTSEG_DATA, then the config's folder." })),
  split: T.Optional(T.String({ description: "Split, e.g. train or val." })),
  list: T.Optional(T.String({ description: "A list file of samples (official list format of the dataset)." })),
  size: T.Optional(Size),
  limit: T.Optional(T.Integer({ minimum: 1, description: "Use at most this many samples." })),
  augment: T.Optional(
    Obj({
      scale: T.Optional(T.Tuple([T.Number({ exclusiveMinimum: 0 }), T.Number({ exclusiveMinimum: 0 })], { description: "Random scale range [min, max]." })),
      crop: T.Optional(Size),
      mirror: T.Optional(T.Boolean()),
    }),
  ),
  options: T.Optional(T.Record(T.String(), T.Unknown(), { description: "Adapter-specific options (e.g. sequences, cities, classes)." })),
});

const Optim = {
  lr: T.Number({ exclusiveMinimum: 0 }),
  power: T.Optional(T.Number({ minimum: 0, description: "Poly decay power." })),
};

export const ExperimentConfigSchema = T.Object(
  {
    $schema: T.Optional(T.String()),
    name: T.Optional(T.String()),
    description: T.Optional(T.String()),
    seed: T.Optional(T.Integer({ default: 1234 })),
    backend: T.Optional(T.String({ description: "auto, tfjs-node-gpu, tfjs-node, wasm or cpu (ADAPTSEG_BACKEND overrides)." })),
    threads: T.Optional(T.Integer({ minimum: 1, description: "wasm threads (default: all cores)." })),
    plugins: T.Optional(T.Array(T.String(), { description: "Plugin modules (ESM or CJS) exporting a ContainerModule." })),
    model: Obj({
      type: T.String({ default: "vgg16-deeplab" }),
      numClasses: T.Optional(T.Integer({ minimum: 2, description: "Defaults to the source class space's size." })),
      widthMultiplier: T.Optional(T.Number({ exclusiveMinimum: 0, maximum: 1 })),
      aspp: T.Optional(T.Union([T.Literal("faithful"), T.Literal("fixed")])),
      fc7Padding: T.Optional(T.Union([T.Literal("same"), T.Literal("none")])),
      auxHead: T.Optional(T.Boolean()),
      init: T.Optional(T.String({ description: "ImageNet weights: .safetensors (torchvision names) or TF.js model.json." })),
    }),
    discriminator: T.Optional(
      Obj({
        type: T.String({ default: "fc" }),
        upsample: T.Optional(T.Boolean({ description: "Upsample D's logit map to its input size (paper) or not (official code)." })),
        widthMultiplier: T.Optional(T.Number({ exclusiveMinimum: 0, maximum: 1 })),
      }),
    ),
    adaptation: Obj({
      type: T.String({ description: "source-only, output-space, multi-level, feature-level, or a plugin's." }),
      gan: T.Optional(T.Union([T.Literal("vanilla"), T.Literal("lsgan")])),
      lambdaSeg: T.Optional(T.Number({ minimum: 0, description: "Weight of the auxiliary head's CE." })),
      lambdaAdv: T.Optional(T.Array(T.Number({ minimum: 0 }), { description: "One weight per adversarial level: output-space/feature-level [w], multi-level [aux, main]." })),
    }),
    source: DatasetConfigSchema,
    target: DatasetConfigSchema,
    evaluation: T.Optional(
      Obj({
        dataset: T.Optional(DatasetConfigSchema),
        every: T.Optional(T.Integer({ minimum: 0, description: "Evaluate every N iterations (0: only at the end)." })),
        classes: T.Optional(T.Array(T.Integer({ minimum: 0 }), { description: "Class subset for mIoU (default: all)." })),
      }),
    ),
    training: T.Optional(
      Obj({
        maxIters: T.Optional(T.Integer({ minimum: 1, description: "Poly-decay horizon (250000)." })),
        stopIter: T.Optional(T.Integer({ minimum: 1, description: "Early-stop iteration (150000)." })),
        batchSize: T.Optional(T.Integer({ minimum: 1 })),
        snapshotEvery: T.Optional(T.Integer({ minimum: 1 })),
        keepSnapshots: T.Optional(T.Integer({ minimum: 1 })),
        logEvery: T.Optional(T.Integer({ minimum: 1 })),
        optimizerG: T.Optional(Obj({ ...Optim, momentum: T.Optional(T.Number({ minimum: 0 })), weightDecay: T.Optional(T.Number({ minimum: 0 })) })),
        optimizerD: T.Optional(Obj({ ...Optim, betas: T.Optional(T.Tuple([T.Number(), T.Number()])) })),
      }),
    ),
    loader: T.Optional(
      Obj({
        prefetch: T.Optional(T.Integer({ minimum: 0 })),
        onError: T.Optional(T.Union([T.Literal("fail"), T.Literal("skip")])),
      }),
    ),
  },
  { additionalProperties: false, title: "AdaptSeg experiment" },
);

export type ExperimentConfig = Static<typeof ExperimentConfigSchema>;
export type DatasetConfig = Static<typeof DatasetConfigSchema>;

/** The JSON Schema (draft 2020-12 compatible) of an experiment config. */
export function configJsonSchema(): Record<string, unknown> {
  return { $schema: "https://json-schema.org/draft/2020-12/schema", $id: "https://adaptseg.dev/schema/experiment.json", ...JSON.parse(JSON.stringify(ExperimentConfigSchema)) };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[], readonly file?: string) {
    super(`${file ? `${file}: ` : ""}invalid config:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** `/adaptation/lambdaAdv/1` -> `adaptation.lambdaAdv[1]`. */
export function fieldPath(pointer: string): string {
  const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  return parts.reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : s ? `${s}.${p}` : p), "") || "(root)";
}

function describe(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return (schema.anyOf as TSchema[]).map(describe).join(" or ");
  const t = schema.type as string | undefined;
  return t === "integer" ? "an integer" : t === "array" ? "an array" : t === "object" ? "an object" : t ? `a ${t}` : "valid";
}

/** Validates a parsed config; throws ConfigError listing each bad field by path. */
export function validateConfig(input: unknown, file?: string): ExperimentConfig {
  const problems: string[] = [];
  for (const e of Value.Errors(ExperimentConfigSchema, input)) {
    const path = fieldPath(e.path);
    let msg: string;
    if (e.value === undefined) msg = `${path} is required`;
    else if (e.message.startsWith("Unexpected property")) msg = `${path} is not a known field`;
    else if (e.schema.type && e.schema.type !== "object" && typeof e.value !== (e.schema.type === "integer" ? "number" : e.schema.type)) msg = `${path} must be ${describe(e.schema)}`;
    else if (e.schema.anyOf) msg = `${path} must be ${describe(e.schema)}`;
    else msg = `${path}: ${e.message.toLowerCase()}`;
    if (!problems.includes(msg)) problems.push(msg);
  }
  if (problems.length) throw new ConfigError(problems, file);
  return input as ExperimentConfig;
}
