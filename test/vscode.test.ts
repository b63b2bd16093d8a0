// VS Code extension: bundle/manifest checks, and (when code-server is installed by
// scripts/vscode-test-setup.sh into .cache/code-server) vsix packaging + install into code-server.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, tmp } from "./helpers.js";

const ext = join(repoRoot, "packages/vscode-ext");
const cache = join(repoRoot, ".cache/code-server");
const bin = (n: string) => join(cache, "node_modules/.bin", n);

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

  it("packages a .vsix that installs into code-server", function () {
    if (!existsSync(bin("code-server"))) this.skip();
    const vsix = join(tmp("adaptseg-vsix-"), "adaptseg.vsix");
    execFileSync(bin("vsce"), ["package", "--no-dependencies", "--allow-missing-repository", "--skip-license", "-o", vsix], { cwd: ext, stdio: "pipe" });
    const dir = tmp("adaptseg-cs-"); const exts = join(dir, "ext"); mkdirSync(exts);
    const env = { ...process.env, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, XDG_CACHE_HOME: dir, EXTENSIONS_GALLERY: '{"serviceUrl":""}' };
    const args = ["--user-data-dir", join(dir, "user"), "--extensions-dir", exts];
    execFileSync(bin("code-server"), [...args, "--install-extension", vsix], { env, stdio: "pipe" });
    const list = execFileSync(bin("code-server"), [...args, "--list-extensions"], { env, encoding: "utf8" });
    assert.match(list, /adaptseg\.adaptseg-vscode/);
  });
});
