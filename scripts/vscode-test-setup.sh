#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, last on Node 20), playwright-core and @vscode/vsce
# into .cache/code-server (git-ignored), when missing. Works with npm 10 and 11. Needs, as root, once
# (scripts/setup.mjs --test does it):
#   apt-get install -y libkrb5-dev ripgrep build-essential pkg-config python3 chromium
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${ADAPTSEG_CODE_SERVER_DIR:-$root/.cache/code-server}"
cs="$dest/node_modules/code-server"
# Complete = the packages are there and code-server's postinstall (which installs VS Code's own
# dependencies and native modules, then links node_modules.asar) has finished.
complete() {
  [ -x "$dest/node_modules/.bin/code-server" ] && [ -x "$dest/node_modules/.bin/vsce" ] &&
    [ -d "$dest/node_modules/playwright-core" ] && [ -e "$cs/lib/vscode/node_modules.asar" ] &&
    [ -d "$cs/lib/vscode/extensions/node_modules" ] && [ -f "$cs/lib/vscode/node_modules/kerberos/build/Release/kerberos.node" ]
}
complete && exit 0
for t in rg cc make pkg-config python3 krb5-config; do
  command -v "$t" >/dev/null || { echo "vscode-test-setup: '$t' is missing; install: apt-get install -y libkrb5-dev ripgrep build-essential pkg-config python3 chromium" >&2; exit 1; }
done
mkdir -p "$dest/tmp" "$dest/xdg/config" "$dest/xdg/data" "$dest/xdg/cache"
export TMPDIR="$dest/tmp" XDG_CONFIG_HOME="$dest/xdg/config" XDG_DATA_HOME="$dest/xdg/data" XDG_CACHE_HOME="$dest/xdg/cache"
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false npm_config_fund=false
# npm >= 11.16 reviews dependency install scripts (allowScripts). The packages are allowed below;
# code-server's postinstall runs a nested `npm install` in lib/vscode, a project we do not control.
npm_major="$(npm --version | cut -d. -f1)"
[ "$npm_major" -ge 11 ] && export npm_config_dangerously_allow_all_scripts=true
# node-gyp downloads Node's headers unless told where they are: use the running Node's own.
prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$prefix/include/node/node_api.h" ] && ! npm config get nodedir 2>/dev/null | grep -q /; then
  export npm_config_nodedir="$prefix"
fi
# @vscode/ripgrep downloads rg at postinstall: pre-seed its cache with Debian's binary.
rgc="$TMPDIR/vscode-ripgrep-cache-1.15.11"; mkdir -p "$rgc"
tar -czf "$rgc/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
cd "$dest"
cat > package.json <<'JSON'
{
  "private": true,
  "dependencies": { "code-server": "4.100.3", "playwright-core": "1.52.0", "@vscode/vsce": "3.6.0" },
  "allowScripts": { "code-server": true, "argon2": true, "@vscode/vsce-sign": true }
}
JSON
npm install --no-audit --no-fund
# An npm that skipped code-server's postinstall: run it ourselves, as npm would.
if ! complete; then
  echo "vscode-test-setup: running code-server's postinstall"
  (cd "$cs" && npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64" sh ./postinstall.sh)
fi
complete || { echo "vscode-test-setup: code-server's install is incomplete in $dest (see the output above)" >&2; exit 1; }
echo "vscode-test-setup: code-server, playwright-core and vsce installed in $dest"
