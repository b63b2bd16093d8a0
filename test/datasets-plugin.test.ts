// The loading part of docs/adding-a-dataset.md: a dataset plugin that lives only in a temp folder.
import assert from "node:assert/strict";
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createContainer, DatasetAdapter, resolvePlugin } from "@adaptseg/core";
import { repoRoot, sharedData, tmp } from "./helpers.js";

const PLUGIN = `
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { ContainerModule, injectable } from "inversify";
import { bindPlugin, DatasetAdapter } from "@adaptseg/core";
import { CamVidAdapter } from "@adaptseg/datasets";

// A folder of CamVid frames (<root>/<SEQ>_<frame>.png, labels in <root>annot/), CamVid's 11 classes.
class MyFrames {
  name = "my-frames";
  camvid = new CamVidAdapter();
  meta(o) { return this.camvid.meta(o); }
  async list({ root }) {
    const files = (await readdir(root)).filter((f) => f.endsWith(".png")).sort();
    return files.map((f) => ({ id: f.slice(0, -4), image: join(root, f), label: join(root + "annot", f) }));
  }
  readLabel(file, o) { return this.camvid.readLabel(file, o); }
}
injectable()(MyFrames);
export const containerModule = new ContainerModule(({ bind }) => bindPlugin(bind, DatasetAdapter, MyFrames, "my-frames"));
`;

describe("datasets: an external dataset plugin (docs/adding-a-dataset.md)", () => {
  it("loads ./my-dataset.mjs from the config folder and lists real CamVid frames", async () => {
    const dir = tmp();
    // Stands in for the user's `npm install @adaptseg/core @adaptseg/datasets inversify`.
    mkdirSync(join(dir, "node_modules/@adaptseg"), { recursive: true });
    const dn = join(repoRoot, "packages/datasets/node_modules");
    for (const [to, from] of [["@adaptseg/core", join(dn, "@adaptseg/core")], ["inversify", join(dn, "inversify")], ["@adaptseg/datasets", join(repoRoot, "packages/datasets")]]) {
      symlinkSync(realpathSync(from), join(dir, "node_modules", to), "dir");
    }
    writeFileSync(join(dir, "my-dataset.mjs"), PLUGIN);
    const c = await createContainer({ plugins: ["./my-dataset.mjs"] }, { baseDir: dir });
    const ds = resolvePlugin<DatasetAdapter>(c, DatasetAdapter, "my-frames");
    const samples = await ds.list({ root: join(sharedData, "camvid/CamVid/val") });
    assert.equal(samples.length, 10);
    const l = await ds.readLabel(samples[0].label!, {});
    assert.equal(l.width * l.height, 480 * 360);
    assert.equal(ds.meta({}).classSpace, "camvid11");
    // The built-in adapters are bound by name too.
    for (const n of ["cityscapes", "camvid", "gta5", "synthia"]) assert.equal(resolvePlugin<DatasetAdapter>(c, DatasetAdapter, n).name, n);
  });
});
