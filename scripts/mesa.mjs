// Mesa's software Vulkan driver (lavapipe) for the webgpu tests, from the backports suite of this
// machine's own Debian source, into .cache/mesa (git-ignored): nothing is installed system-wide.
// Debian 12's own lavapipe (Mesa 22.3) is rejected by Dawn; backports' Mesa 25 works. A private apt
// configuration (its own sources.list, lists and cache) resolves what mesa-vulkan-drivers needs
// beyond what is installed, `apt-get download` fetches it and `dpkg -x` unpacks it. Needs the system
// Vulkan loader (libvulkan1). Writes .cache/mesa/env.json: VK_ICD_FILENAMES (an ICD json pointing at
// the unpacked driver) and LD_LIBRARY_PATH (its libraries), which a process needs from its start.
//   node scripts/mesa.mjs          fetch when missing; print the environment as JSON
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
export const mesaDir = process.env.ADAPTSEG_MESA_DIR ?? join(root, ".cache/mesa");
const envFile = join(mesaDir, "env.json");

/** The environment that selects the cached lavapipe, or undefined when it was not fetched. */
export function mesaEnv() {
  if (!existsSync(envFile)) return undefined;
  const env = JSON.parse(readFileSync(envFile, "utf8"));
  return existsSync(env.VK_ICD_FILENAMES) ? env : undefined;
}

/** The first plain Debian entry of this machine's apt sources for its own release: { uri, suite, signedBy }. */
function debianSource() {
  const release = readFileSync("/etc/os-release", "utf8");
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(release)?.[1]?.replace(/"/g, "");
  if (!/^ID=debian$/m.test(release) || !codename) throw new Error("not a Debian release with a codename (/etc/os-release)");
  const entries = [];
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d")) for (const f of readdirSync("/etc/apt/sources.list.d").sort()) files.push(join("/etc/apt/sources.list.d", f));
  for (const file of files.filter((f) => existsSync(f))) {
    const text = readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k) => new RegExp(`^${k}:\\s*(.*)$`, "mi").exec(stanza)?.[1]?.trim();
        if (!field("Types")?.split(/\s+/).includes("deb")) continue;
        for (const uri of field("URIs")?.split(/\s+/) ?? []) for (const suite of field("Suites")?.split(/\s+/) ?? []) entries.push({ uri, suite, signedBy: field("Signed-By") });
      }
    } else if (file.endsWith(".list")) {
      for (const line of text.split("\n")) {
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m) entries.push({ uri: m[2], suite: m[3], signedBy: /signed-by=(\S+)/.exec(m[1] ?? "")?.[1] });
      }
    }
  }
  const found = entries.find((e) => e.suite === codename && !e.uri.includes("security"));
  if (!found) throw new Error(`no apt source for Debian "${codename}" in ${files.join(", ")}`);
  return found;
}

/** Fetches and unpacks backports' mesa-vulkan-drivers (and what it needs) into mesaDir; returns the environment. */
export function fetchMesa(log = (m) => console.error(`mesa: ${m}`)) {
  const have = mesaEnv();
  if (have) return have;
  const src = debianSource();
  const backports = `${src.suite}-backports`;
  const apt = join(mesaDir, "apt");
  rmSync(mesaDir, { recursive: true, force: true });
  for (const d of ["lists/partial", "cache/archives/partial", "debs"]) mkdirSync(join(apt, d), { recursive: true });
  const opt = src.signedBy ? `[signed-by=${src.signedBy}] ` : "";
  writeFileSync(join(apt, "sources.list"), `deb ${opt}${src.uri} ${src.suite} main\ndeb ${opt}${src.uri} ${backports} main\n`);
  const o = [
    ["Dir::Etc::sourcelist", join(apt, "sources.list")],
    ["Dir::Etc::sourceparts", "-"],
    ["Dir::State::Lists", join(apt, "lists")],
    ["Dir::Cache", join(apt, "cache")],
    ["Debug::NoLocking", "1"],
    ["APT::Sandbox::User", "root"],
  ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  log(`apt sources: ${src.uri} ${src.suite} + ${backports}`);
  execFileSync("apt-get", [...o, "-q", "update"], { stdio: ["ignore", "ignore", "inherit"] });
  // What installing backports' driver would add or upgrade, against the packages installed here.
  const sim = execFileSync("apt-get", [...o, "-s", "install", "--no-install-recommends", "-t", backports, "mesa-vulkan-drivers"], { encoding: "utf8" });
  const pkgs = [...sim.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)/gm)].map((m) => `${m[1]}=${m[2]}`);
  if (!pkgs.some((p) => p.startsWith("mesa-vulkan-drivers="))) throw new Error(`apt would not install mesa-vulkan-drivers from ${backports}:\n${sim}`);
  log(`downloading ${pkgs.join(" ")}`);
  const debs = join(apt, "debs");
  execFileSync("apt-get", [...o, "-q", "download", ...pkgs], { cwd: debs, stdio: ["ignore", "ignore", "inherit"] });
  const tree = join(mesaDir, "root");
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) execFileSync("dpkg", ["-x", join(debs, deb), tree]);
  const libdir = join(tree, "usr/lib/x86_64-linux-gnu");
  const icdDir = join(tree, "usr/share/vulkan/icd.d");
  const icdName = existsSync(icdDir) && readdirSync(icdDir).find((f) => f.startsWith("lvp_icd"));
  if (!icdName) throw new Error(`no lavapipe ICD json in ${icdDir}`);
  const icd = JSON.parse(readFileSync(join(icdDir, icdName), "utf8"));
  icd.ICD.library_path = join(libdir, "libvulkan_lvp.so");
  const icdFile = join(mesaDir, "lvp_icd.json");
  writeFileSync(icdFile, `${JSON.stringify(icd, null, 2)}\n`);
  const env = { VK_ICD_FILENAMES: icdFile, LD_LIBRARY_PATH: libdir, version: /mesa-vulkan-drivers=(\S+)/.exec(pkgs.join(" "))?.[1] };
  writeFileSync(envFile, `${JSON.stringify(env, null, 2)}\n`);
  rmSync(apt, { recursive: true, force: true });
  log(`lavapipe ${env.version} in ${mesaDir}`);
  return env;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(fetchMesa(), null, 2));
