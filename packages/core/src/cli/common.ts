// Helpers shared by the CLI commands.
import { readFileSync, existsSync } from "node:fs";
import { validateConfig, type ExperimentConfig } from "../config.js";
import { configDir } from "../train/trainer.js";

/** Reads and validates an experiment config; errors name the file and the field. */
export function loadConfig(file: string | undefined): { config: ExperimentConfig; baseDir: string; file: string } {
  if (!file) throw new Error("--config <file.json> is required");
  if (!existsSync(file)) throw new Error(`config file not found: ${file}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  return { config: validateConfig(raw, file), baseDir: configDir(file), file };
}

export function intOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${v}"`);
  return n;
}

/** "512x256" -> { width: 512, height: 256 }. */
export function sizeOption(v: string | undefined): { width: number; height: number } | undefined {
  if (!v) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m) throw new Error(`--size must be WIDTHxHEIGHT, got "${v}"`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

export const fmtSec = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(0)}s`);
