// VS Code extension: manifest and bundle checks. (The real-VS-Code tests, code-server driven by
// Chromium, are the open work of the extension issue; scripts/vscode-test-setup.sh installs it.)
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./helpers.js";

const ext = join(repoRoot, "packages/vscode-ext");

describe("vscode-ext", function () {
  this.timeout(180_000);
  before(() => execFileSync(process.execPath, [join(ext, "build.mjs")], { stdio: "inherit" }));

  it("declares the AdaptSeg commands, the adaptseg task type and jsonValidation", () => {
    const pkg = JSON.parse(readFileSync(join(ext, "package.json"), "utf8"));
    const titles = pkg.contributes.commands.filter((c: any) => c.category === "AdaptSeg").map((c: any) => c.title);
    for (const t of ["Train Experiment", "Resume Run", "Stop Run", "Evaluate Checkpoint", "Show Training Dashboard", "Segment Image", "New Experiment Config", "Open Run"])
      assert.ok(titles.includes(t), `missing command ${t}`);
    assert.equal(pkg.contributes.taskDefinitions[0].type, "adaptseg");
    assert.deepEqual(pkg.contributes.jsonValidation.map((j: any) => j.fileMatch), ["adaptseg*.json", "experiments/*.json"]);
  });

  it("bundles without TF.js and generates the config schema", () => {
    const js = readFileSync(join(ext, "dist/extension.cjs"), "utf8");
    assert.ok(!/tfjs|@tensorflow/.test(js), "TF.js in the extension bundle");
    assert.ok(/require\("vscode"\)/.test(js), "vscode must stay external");
    const schema = JSON.parse(readFileSync(join(ext, "dist/config.schema.json"), "utf8"));
    assert.equal(schema.type, "object");
    assert.ok(Object.keys(schema.properties ?? {}).length > 0);
  });
});
