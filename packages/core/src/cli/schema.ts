import { configJsonSchema } from "../config.js";

export async function run(): Promise<number> {
  process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + "\n");
  return 0;
}
