#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs vitest.
# Extra arguments go to vitest (e.g. `npm test -- test/integration/agent.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh test
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false'
# ensure-deps.sh just built dist/; test/global-setup.ts need not build again.
export FLOTILLA_TEST_PREBUILT=1
exec npx vitest run "$@"
