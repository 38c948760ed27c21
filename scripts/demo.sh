#!/usr/bin/env bash
# npm run demo [-- --keep]: installs what is missing and builds (ensure-deps),
# then runs the end-to-end demo (demo/main.ts): a controller on SQLite and
# five agents as local processes roll a local fleet repo through an initial
# rollout, a canary-first change, a bad commit that rolls back and halts, a
# fleet-wide fix and a pinned host. Exits 0 only if every expected outcome
# was observed. --keep leaves everything running (stop.sh in the temp dir).
# --hosts runs the same acts with the agents on five Debian hosts booted with
# systemd as PID 1 under systemd-nspawn (root only; docs/testing-hosts.md).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=demo
for a in "$@"; do
  if [ "$a" = --hosts ]; then mode=demo-hosts; fi
done
if [ "$mode" = demo-hosts ] && [ "$(id -u)" != 0 ]; then
  missing=()
  for c in systemd-nspawn:systemd-container debootstrap:debootstrap zstd:zstd; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}")
  done
  echo "flotilla: npm run demo -- --hosts boots Debian hosts under systemd-nspawn and needs root (overlayfs mounts, cgroups, nsenter); you are $(id -un)." >&2
  if [ "${#missing[@]}" -gt 0 ]; then echo "flotilla: it also needs the Debian packages ${missing[*]} (run as root, it installs them)." >&2; fi
  echo "flotilla: re-run as root (sudo npm run demo -- --hosts), or run the process demo: npm run demo" >&2
  exit 1
fi

bash scripts/ensure-deps.sh "$mode"

export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false'
exec node --import tsx demo/main.ts "$@"
