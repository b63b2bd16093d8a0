// The experiment config: one TypeBox source gives the TypeScript type, the JSON Schema
// (`adaptseg schema`, VS Code completion) and run-time validation with field-path errors.
import { Type as T, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Obj = <P extends Parameters<typeof T.Object>[0]>(props: P, description?: string) => T.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

const Size = Obj(
  {
    width: T.Integer({ minimum: 8, maximum: 8192, description: "Width in pixels (8..8192)" }),
    height: T.Integer({ minimum: 8, maximum: 8192, description: "Height in pixels (8..8192)" }),
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
      scale: T.Optional(T.Tuple([T.Number({ exclusiveMinimum: 0, maximum: 8 }), T.Number({ exclusiveMinimum: 0, maximum: 8 })], { description: "Random scale range [min, max] (each at most 8)." })),
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
    backend: T.Optional(T.String({ description: "auto, tfjs-node-gpu, tfjs-node, webgpu, wasm or cpu (ADAPTSEG_BACKEND overrides)." })),
    threads: T.Optional(T.Integer({ minimum: 1, maximum: 1024, description: "wasm threads (default: all cores)." })),
    plugins: T.Optional(T.Array(T.String(), { description: "Plugin modules (ESM or CJS) exporting a ContainerModule." })),
    model: T.Object(
      {
        type: T.String({ default: "vgg16-deeplab", description: "Backbone name: vgg16-deeplab, or a plugin's. Its own options sit beside type." }),
        numClasses: T.Optional(T.Integer({ minimum: 2, maximum: 255, description: "Defaults to the source class space's size; at least that size (train ids are bytes, 255 is void)." })),
        init: T.Optional(T.String({ description: "Initial weights: an AdaptSeg checkpoint (warm start of G), or a file the backbone reads (ImageNet weights)." })),
        upsample: T.Optional(
          T.Union([T.Literal("half-pixel"), T.Literal("align-corners")], {
            default: "half-pixel",
            description: "How logits are upsampled for the loss and evaluation: half-pixel centres (PyTorch >= 0.4) or align-corners (the official code under PyTorch 0.3; its checkpoints).",
          }),
        ),
      },
      { additionalProperties: true, description: "The segmentation network: `type` plus that backbone's options." },
    ),
    discriminator: T.Optional(
      T.Object(
        {
          type: T.String({ default: "fc", description: "Discriminator name: fc, or a plugin's. Its own options sit beside type." }),
          init: T.Optional(T.String({ description: "An AdaptSeg checkpoint whose discriminators (D/<level>/) start this run." })),
        },
        { additionalProperties: true, default: {} },
      ),
    ),
    adaptation: T.Object(
      {
        type: T.String({
          description: "Strategy: source-only, output-space, multi-level, feature-level, advent, minent, self-training, dacs, aug-control, or a plugin's. Its own options sit beside type.",
        }),
      },
      { additionalProperties: true },
    ),
    source: DatasetConfigSchema,
    target: DatasetConfigSchema,
    evaluation: T.Optional(
      Obj({
        dataset: T.Optional(DatasetConfigSchema),
        every: T.Optional(T.Integer({ minimum: 0, description: "Evaluate every N iterations (0: only at the end)." })),
        classes: T.Optional(T.Array(T.Integer({ minimum: 0, maximum: 254 }), { description: "Class subset for mIoU (default: all); train ids of the evaluation set's classes." })),
      }),
    ),
    training: T.Optional(
      Obj({
        maxIters: T.Optional(T.Integer({ minimum: 1, description: "Poly-decay horizon (250000)." })),
        stopIter: T.Optional(T.Integer({ minimum: 1, description: "Early-stop iteration (150000)." })),
        batchSize: T.Optional(T.Integer({ minimum: 1, maximum: 1024 })),
        snapshotEvery: T.Optional(T.Integer({ minimum: 1 })),
        keepSnapshots: T.Optional(T.Integer({ minimum: 1 })),
        optimizerG: T.Optional(Obj({ ...Optim, momentum: T.Optional(T.Number({ minimum: 0, maximum: 1 })), weightDecay: T.Optional(T.Number({ minimum: 0 })) })),
        optimizerD: T.Optional(Obj({ ...Optim, betas: T.Optional(T.Tuple([T.Number({ minimum: 0, exclusiveMaximum: 1 }), T.Number({ minimum: 0, exclusiveMaximum: 1 })])) })),
      }),
    ),
    loader: T.Optional(
      Obj({
        prefetch: T.Optional(T.Integer({ minimum: 0, maximum: 64, description: "Batches decoded ahead (0..64, default 2)." })),
        onError: T.Optional(T.Union([T.Literal("fail"), T.Literal("skip")])),
      }),
    ),
  },
  { additionalProperties: false, title: "AdaptSeg experiment" },
);

type Base = Static<typeof ExperimentConfigSchema>;
/** A plugin section: its generic fields plus the plugin's own options (validated by `applyPluginOptions`). */
type Section<S> = NonNullable<S> & Record<string, unknown>;
export type ExperimentConfig = Omit<Base, "model" | "discriminator" | "adaptation"> & {
  model: Section<Base["model"]>;
  discriminator?: Section<Base["discriminator"]>;
  adaptation: Section<Base["adaptation"]>;
};
export type DatasetConfig = Static<typeof DatasetConfigSchema>;

/** The JSON Schema (draft 2020-12 compatible) of an experiment config. */
export function configJsonSchema(): Record<string, unknown> {
  return { $schema: "https://json-schema.org/draft/2020-12/schema", $id: "https://adaptseg.dev/schema/experiment.json", ...JSON.parse(JSON.stringify(ExperimentConfigSchema)) };
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ""}invalid config:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** `/source/size/1` -> `source.size[1]`. */
export function fieldPath(pointer: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  return parts.reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : s ? `${s}.${p}` : p), "") || "(root)";
}

function describe(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return (schema.anyOf as TSchema[]).map(describe).join(" or ");
  const t = schema.type as string | undefined;
  return t === "integer" ? "an integer" : t === "array" ? "an array" : t === "object" ? "an object" : t ? `a ${t}` : "valid";
}

/** Every problem of `value` against `schema`, as "<prefix><field path> ..." sentences. */
export function schemaProblems(schema: TSchema, value: unknown, prefix = ""): string[] {
  const problems: string[] = [];
  for (const e of Value.Errors(schema, value)) {
    const rel = fieldPath(e.path);
    const path = prefix ? (rel === "(root)" ? prefix : rel.startsWith("[") ? prefix + rel : `${prefix}.${rel}`) : rel;
    let msg: string;
    if (e.value === undefined) msg = `${path} is required`;
    else if (e.message.startsWith("Unexpected property")) msg = `${path} is not a known field`;
    else if (e.schema.type && e.schema.type !== "object" && (e.schema.type === "array" ? !Array.isArray(e.value) : typeof e.value !== (e.schema.type === "integer" ? "number" : e.schema.type)))
      msg = `${path} must be ${describe(e.schema)}`;
    else if (e.schema.anyOf) msg = `${path} must be ${describe(e.schema)}`;
    else msg = `${path}: ${e.message.toLowerCase()}`;
    if (!problems.includes(msg)) problems.push(msg);
  }
  return problems;
}

/** A config whose generic defaults (seed, model.type, discriminator) are filled in. */
export type ResolvedConfig = ExperimentConfig & { seed: number; discriminator: NonNullable<ExperimentConfig["discriminator"]> };

/** Validates a parsed config's generic part and fills its defaults; throws ConfigError listing each bad field by path. Plugin options: `applyPluginOptions`. */
export function validateConfig(input: unknown, file?: string): ResolvedConfig {
  const problems = schemaProblems(ExperimentConfigSchema, input);
  if (problems.length) throw new ConfigError(problems, file);
  return Value.Default(ExperimentConfigSchema, Value.Clone(input)) as ResolvedConfig;
}
