#!/usr/bin/env bash
# Installs what Flotilla's demo and tests need, or stops naming what is missing.
# Usage: scripts/ensure-deps.sh [demo|demo-hosts|test]
#   demo-hosts: what `npm run demo -- --hosts` needs on top of the demo (the
#   real-host tier's systemd-nspawn, debootstrap, zstd; run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"

die() { echo "flotilla: $*" >&2; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
node_minor=$(node -p 'process.versions.node.split(".")[1]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || { [ "$node_major" -eq 20 ] && [ "$node_minor" -lt 19 ]; }; then
  die "Node.js >= 20.19 is required (found $(node --version 2>/dev/null || echo none))"
fi

# Debian packages: command -> package
declare -A pkgs=([nix]=nix-bin [age]=age [git]=git [ssh-keygen]=openssh-client)
case "$mode" in
  demo | demo-hosts | test) ;;
  *) die "unknown mode $mode (expected demo, demo-hosts or test)" ;;
esac
if [ "$mode" = test ]; then
  pkgs[chromium]=chromium
  pkgs[faketime]=faketime # the fault matrix moves an agent's clock (libfaketime)
fi
if [ "$mode" = test ] || [ "$mode" = demo-hosts ]; then
  # The real-host tier (test/hosts, docs/testing-hosts.md) and the demo's
  # --hosts: systemd-nspawn boots debootstrapped Debian hosts, cached as zstd
  # tarballs.
  pkgs[systemd-nspawn]=systemd-container
  pkgs[debootstrap]=debootstrap
  pkgs[zstd]=zstd
fi
missing=()
for cmd in "${!pkgs[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkgs[$cmd]}")
done
if [ "$mode" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "flotilla: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing packages: ${missing[*]} — install them (e.g. sudo apt-get install ${missing[*]}) and re-run"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "flotilla: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "flotilla: building (tsc)" >&2
npm run --silent build
