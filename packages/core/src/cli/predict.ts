import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { Predictor } from "../predict.js";
import { sizeOption } from "./common.js";

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { checkpoint: { type: "string" }, out: { type: "string" }, size: { type: "string" }, alpha: { type: "string" }, backend: { type: "string" } },
  });
  if (!v.checkpoint) throw new Error("--checkpoint <file> is required");
  if (!positionals.length) throw new Error("no images given: adaptseg predict --checkpoint <file> <image...> --out <dir>");
  const out = resolve(v.out ?? "predictions");
  mkdirSync(out, { recursive: true });
  const p = await Predictor.open(v.checkpoint, { backend: v.backend });
  try {
    for (const file of positionals) {
      const s = await p.segment(file, sizeOption(v.size) ?? p.inputSize);
      const png = p.render(s, v.alpha ? Number(v.alpha) : 0.5);
      const stem = basename(file, extname(file));
      writeFileSync(join(out, `${stem}_mask.png`), png.mask);
      writeFileSync(join(out, `${stem}_color.png`), png.color);
      writeFileSync(join(out, `${stem}_overlay.png`), png.overlay);
      const top = s.legend.slice(0, 5).map((e) => `${e.name} ${(e.share * 100).toFixed(1)}%`).join(", ");
      process.stdout.write(`${file} -> ${join(out, stem)}_{mask,color,overlay}.png  (${top})\n`);
    }
  } finally {
    p.dispose();
  }
  return 0;
}
