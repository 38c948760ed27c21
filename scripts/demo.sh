#!/usr/bin/env bash
# npm run demo [-- --keep]: installs what is missing and builds (ensure-deps),
# then runs the end-to-end demo (demo/main.ts): a controller on SQLite and
# five agents as local processes roll a local fleet repo through an initial
# rollout, a canary-first change, a bad commit that rolls back and halts, a
# fleet-wide fix and a pinned host. Exits 0 only if every expected outcome
# was observed. --keep leaves everything running (stop.sh in the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh demo

export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false'
exec node --import tsx demo/main.ts "$@"
