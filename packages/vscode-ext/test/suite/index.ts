// Entry of the extension's mocha suite inside the real extension host (code-server), loaded through
// the workbench's `extensionTestsPath`. test/vscode.test.ts bundles this folder with esbuild to CJS
// (vscode external) and defines where mocha lives and where the results go.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";

declare const ADAPTSEG_MOCHA_FROM: string;
declare const ADAPTSEG_RESULTS: string;

export function run(): Promise<void> {
  const Mocha = createRequire(ADAPTSEG_MOCHA_FROM)("mocha");
  const mocha = new Mocha({ ui: "bdd", color: false, timeout: 120_000, reporter: "spec" });
  for (const f of fs.readdirSync(__dirname).sort()) if (f.endsWith(".test.js")) mocha.addFile(path.join(__dirname, f));
  const results: { title: string; state: string; error?: string }[] = [];
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures: number) => {
      fs.writeFileSync(ADAPTSEG_RESULTS, JSON.stringify(results, null, 1));
      if (failures) reject(new Error(`${failures} extension-host test(s) failed`));
      else resolve();
    });
    runner.on("pass", (t: any) => results.push({ title: t.fullTitle(), state: "passed" }));
    runner.on("fail", (t: any, err: Error) => results.push({ title: t.fullTitle(), state: "failed", error: String(err?.stack ?? err) }));
  });
}
