// Shared test helpers.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(fileURLToPath(import.meta.url), "../..");
/** The team's real data (never copied into the repo): ../shared/data, or ADAPTSEG_SHARED_DATA. */
export const sharedData = process.env.ADAPTSEG_SHARED_DATA ?? resolve(repoRoot, "../shared/data");
if (!existsSync(sharedData)) throw new Error(`shared data not found at ${sharedData} (set ADAPTSEG_SHARED_DATA)`);

export function tmp(prefix = "adaptseg-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
