#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, last on Node 20), playwright-core and @vscode/vsce
# into .cache/code-server (git-ignored). Needs, as root, once:
#   apt-get install -y libkrb5-dev ripgrep build-essential pkg-config python3 chromium
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/code-server"
[ -x "$dest/node_modules/.bin/code-server" ] && [ -d "$dest/node_modules/playwright-core" ] && exit 0
mkdir -p "$dest/tmp" "$dest/xdg/config" "$dest/xdg/data" "$dest/xdg/cache"
export TMPDIR="$dest/tmp" XDG_CONFIG_HOME="$dest/xdg/config" XDG_DATA_HOME="$dest/xdg/data" XDG_CACHE_HOME="$dest/xdg/cache"
export npm_config_unsafe_perm=true npm_config_yes=true
# @vscode/ripgrep downloads rg at postinstall: pre-seed its cache with Debian's binary.
rgc="$TMPDIR/vscode-ripgrep-cache-1.15.11"; mkdir -p "$rgc"
tar -czf "$rgc/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C /usr/bin rg
cd "$dest"
[ -f package.json ] || echo '{"private":true}' > package.json
npm install --no-audit --no-fund code-server@4.100.3 playwright-core@1.52.0 @vscode/vsce@3.6.0
