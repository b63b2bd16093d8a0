// The package layers (README, Architecture): @adaptseg/core is plugin contracts, config, container
// and events with no TF.js at run time; @adaptseg/compute holds everything TF.js. Each import is
// probed in a fresh node process, both through require (the CJS build) and import (the ESM build).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "./helpers.js";

/** ESM resolve hook (runs in the loader thread): any import that resolves under @tensorflow fails, naming who imported it. */
const HOOK = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes("@tensorflow")) throw new Error("TF.js loaded: " + r.url + " imported by " + context.parentURL);
  return r;
}`;
const REGISTER = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

interface Probe {
  /** Module paths under @tensorflow in require.cache (CJS loads, also those made by ESM imports of CJS). */
  loaded: string[];
  /** The load error, if any (the hook's "TF.js loaded: ..." for an ESM import of TF.js). */
  error?: string;
}

/** Loads `pkg` in a child node process run from test/ (where the workspace packages resolve). */
function probe(pkg: string, how: "require" | "import"): Probe {
  const tail = `const loaded = Object.keys(cache).filter((p) => p.includes("@tensorflow")); console.log(JSON.stringify({ loaded }));`;
  const code =
    how === "require"
      ? `const cache = require.cache; require(${JSON.stringify(pkg)}); ${tail}`
      : `import { createRequire } from "node:module";
         const cache = createRequire(process.cwd() + "/").cache;
         try { await import(${JSON.stringify(pkg)}); } catch (e) { console.log(JSON.stringify({ loaded: [], error: e.message })); process.exit(0); }
         ${tail}`;
  const args = how === "require" ? ["-e", code] : ["--import", `data:text/javascript,${encodeURIComponent(REGISTER)}`, "--input-type=module", "-e", code];
  const out = execFileSync(process.execPath, args, { cwd: join(repoRoot, "test"), encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return JSON.parse(out.trim().split("\n").at(-1)!) as Probe;
}

const NO_TFJS = ["@adaptseg/core", "@adaptseg/core/contracts", "@adaptseg/core/events", "@adaptseg/datasets", "@adaptseg/metrics"];

describe("package layers", function () {
  this.timeout(60_000);

  for (const pkg of NO_TFJS)
    for (const how of ["require", "import"] as const)
      it(`${how}("${pkg}") loads no @tensorflow module`, () => {
        const p = probe(pkg, how);
        assert.equal(p.error, undefined, `${pkg} failed to load: ${p.error}`);
        assert.deepEqual(p.loaded, [], `${pkg} loaded TF.js`);
      });

  it("the probe does see TF.js: @adaptseg/compute loads it both ways", () => {
    assert.ok(probe("@adaptseg/compute", "require").loaded.length > 0, "require.cache shows no @tensorflow module");
    const esm = probe("@adaptseg/compute", "import");
    assert.match(esm.error ?? "", /TF\.js loaded: .*@tensorflow/, JSON.stringify(esm));
  });

  it("@adaptseg/core and @adaptseg/datasets declare no @tensorflow run-time dependency", () => {
    for (const name of ["core", "datasets"]) {
      const pkg = JSON.parse(readFileSync(join(repoRoot, "packages", name, "package.json"), "utf8"));
      const runtime = { ...pkg.dependencies, ...pkg.optionalDependencies };
      const tf = Object.keys(runtime).filter((d) => d.startsWith("@tensorflow/"));
      assert.deepEqual(tf, [], `packages/${name}/package.json depends on ${tf.join(", ")}`);
      for (const [dep, meta] of Object.entries((pkg.peerDependenciesMeta ?? {}) as Record<string, { optional?: boolean }>))
        if (dep.startsWith("@tensorflow/")) assert.equal(meta.optional, true, `${dep} is a required peer of ${name}`);
    }
  });

  // Plugin options live with their plugins (each exports its own schema); core composes them.
  it("no file under packages/core/src names a backbone, discriminator, dataset or strategy option", () => {
    const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
    const src = join(repoRoot, "packages/core/src");
    const hits = files(src).flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .flatMap((line, i) => (/widthMultiplier|lambdaAdv|lambdaSeg|lambdaEnt|aspp|\bgan\b|fc7Padding|auxHead|excludeSequences/.test(line) ? [`${relative(src, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
    assert.deepEqual(hits, []);
  });
});
