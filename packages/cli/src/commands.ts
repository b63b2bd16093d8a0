// Every command, in the order `adaptseg --help` and the README list them. A new command: a module
// under cli/ exporting `default defineCommand({...})` (see command.ts), and one line here.
import type { AnyCommand } from "./command.js";
import info from "./cli/info.js";
import schema from "./cli/schema.js";
import train from "./cli/train.js";
import evaluate from "./cli/eval.js";
import retrieve from "./cli/retrieve.js";
import predict from "./cli/predict.js";
import predictServer from "./cli/predict-server.js";
import exportOnnx from "./cli/export.js";
import demo from "./cli/demo.js";
import sweep from "./cli/sweep.js";
import worker from "./cli/worker.js";

export const commands: AnyCommand[] = [info, schema, train, evaluate, retrieve, predict, predictServer, exportOnnx, demo, sweep, worker];
