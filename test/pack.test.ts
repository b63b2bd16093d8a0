// Every library package is usable alone: `pnpm pack` each one, install the tarballs into a
// temporary project outside the workspace (npm, as a user would), and load each package through
// both `import` and `require`; the CLI package's `adaptseg` bin runs.
import { strict as assert } from "node:assert";
import { execFileSync, execSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, tmp } from "./helpers.js";

const LIBS = ["metrics", "core", "compute", "strategies", "datasets", "models-vgg", "models-resnet", "discriminators", "engine", "sweep"];
const PACKED = [...LIBS, "cli"];

describe("packages pack and install alone (slow)", function () {
  this.timeout(600_000);
  let project: string;

  before(() => {
    const tarballs = tmp("adaptseg-pack-");
    for (const p of PACKED) execSync(`npx -y pnpm@12.4.2 pack --pack-destination ${tarballs}`, { cwd: join(repoRoot, "packages", p), stdio: "pipe" });
    project = tmp("adaptseg-consumer-");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
    const files = readdirSync(tarballs).map((f) => join(tarballs, f));
    assert.equal(files.length, PACKED.length);
    execFileSync("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", ...files], { cwd: project, stdio: "pipe" });
  });

  const load = (how: "import" | "require", pkg: string) => {
    const code =
      how === "import"
        ? `import(${JSON.stringify(pkg)}).then((m) => console.log(JSON.stringify(Object.keys(m).sort())))`
        : `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(pkg)})).sort()))`;
    return JSON.parse(execFileSync(process.execPath, ["-e", code], { cwd: project, encoding: "utf8" })) as string[];
  };

  for (const p of LIBS)
    for (const how of ["import", "require"] as const)
      it(`@adaptseg/${p} loads via ${how} and exports its ContainerModule or API`, () => {
        const keys = load(how, `@adaptseg/${p}`);
        if (p === "core") assert.ok(keys.includes("createContainer") && keys.includes("Backbone"), keys.join());
        else if (p === "engine") assert.ok(keys.includes("builtinModules") && keys.includes("train"), keys.join());
        else if (p === "sweep")
          assert.ok(keys.includes("expandSweep") && keys.includes("runSweep"), keys.join()); // a library and two commands: no plugin point
        else if (p === "metrics")
          assert.ok(keys.includes("ConfusionMatrix") && keys.includes("formatTable"), keys.join()); // a plain library: no plugin point
        else assert.ok(keys.includes("containerModule"), `${p}: ${keys.join()}`);
      });

  it("the adaptseg bin of @adaptseg/cli runs (usage, config schema)", () => {
    const bin = join(project, "node_modules/.bin/adaptseg");
    assert.match(execFileSync(bin, ["help"], { cwd: project, encoding: "utf8" }), /usage: adaptseg <command>/);
    assert.equal(typeof JSON.parse(execFileSync(bin, ["schema"], { cwd: project, encoding: "utf8" })).properties, "object");
  });

  it("@adaptseg/metrics installs without TF.js", () => {
    const tree = execFileSync("npm", ["ls", "--all", "--parseable"], { cwd: project, encoding: "utf8" });
    const metricsDeps = execFileSync(process.execPath, ["-p", "JSON.stringify(require('@adaptseg/metrics/package.json').dependencies)"], { cwd: project, encoding: "utf8" });
    assert.ok(!/tensorflow/.test(metricsDeps), metricsDeps);
    assert.ok(tree.includes("@tensorflow/tfjs-core"));
  });
});
