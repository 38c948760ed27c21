#!/usr/bin/env bash
# The demo, for now: builds Flotilla, makes a throw-away fleet repo from the
# offline test fleet (test/fixtures/fleet/ + test/fixtures/fleet.yaml) with
# fresh ssh-ed25519 host keys, then shows `flotilla validate` and
# `flotilla plan` on it: first commit, then a commit that pins db-1 and
# slows the canary wave. Exits non-zero if any step fails.
# Keep the temp dir with FLOTILLA_DEMO_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/ensure-deps.sh demo

work=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-demo.XXXXXX")
if [ "${FLOTILLA_DEMO_KEEP:-0}" = 1 ]; then
  echo "demo: keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
repo="$work/fleet"
keys="$work/host-keys"
mkdir -p "$repo" "$keys"

flotilla() { node "$root/bin/flotilla.js" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Edits fleet.yaml with the yaml library, keeping comments: <mode> <file> [args].
edit_fleet() { (cd "$root" && node --input-type=module -e "$EDIT_FLEET" "$@"); }
EDIT_FLEET='
import { readFileSync, writeFileSync } from "node:fs";
import { parseDocument } from "yaml";
const [mode, file, arg] = process.argv.slice(1);
const doc = parseDocument(readFileSync(file, "utf8"));
const hosts = doc.get("hosts").items;
const names = hosts.map((h) => h.get("name"));
if (mode === "names") { console.log(names.join("\n")); process.exit(0); }
if (mode === "keys") for (const h of hosts) h.set("hostKey", readFileSync(`${arg}/${h.get("name")}.pub`, "utf8").trim());
if (mode === "pin") {
  hosts.find((h) => h.get("name") === "db-1").set("pin", arg);
  doc.getIn(["waves", 0]).set("soak", "5m");
}
writeFileSync(file, doc.toString());
'

step "fleet repo from the offline test fleet: $repo"
cp -R test/fixtures/fleet/. "$repo/"
rm -rf "$repo"/result "$repo"/result-*
cp test/fixtures/fleet.yaml "$repo/fleet.yaml"

step "host keys (ssh-keygen, private halves stay in $keys)"
for host in $(edit_fleet names "$repo/fleet.yaml"); do
  ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$keys/$host"
  echo "$host: $(cut -d' ' -f1-2 "$keys/$host.pub" | cut -c1-40)…"
done
edit_fleet keys "$repo/fleet.yaml" "$keys"

git_repo() { git -C "$repo" -c user.name="Flotilla demo" -c user.email=demo@flotilla.invalid -c commit.gpgsign=false "$@"; }
git_repo init -q -b main
git_repo add -A
git_repo commit -q -m "initial fleet"
first=$(git_repo rev-parse HEAD)

step "flotilla validate $repo"
flotilla validate "$repo"

step "flotilla plan $repo"
flotilla plan "$repo"

step "commit: pin db-1 to $(echo "$first" | cut -c1-12), canary soak 5m"
edit_fleet pin "$repo/fleet.yaml" "$first"
git_repo commit -q -am "pin db-1; soak the canary for 5m"
flotilla validate "$repo"

step "flotilla plan $repo"
flotilla plan "$repo"

step "an invalid edit is caught before it is committed"
sed -i 's/^    kind: legacy$/    kind: debian/' "$repo/fleet.yaml"
if flotilla validate "$repo"; then
  echo "demo: expected validate to reject kind: debian" >&2
  exit 1
fi
git_repo checkout -q -- fleet.yaml

step "demo finished: fleet.yaml validated and planned at two commits"
