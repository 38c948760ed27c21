// The agent's fleet-file load (YAML → JSON Schema check → rules) of a
// 1,000-host fleet, per load, in this process's node flags. Used to price
// the agent package's `--no-opt` (bench/RESULTS.md, "Idle RSS"):
//   node --import tsx bench/fleet-load.ts [hosts]
//   node --no-opt --import tsx bench/fleet-load.ts [hosts]
import { randomBytes } from "node:crypto";
import { loadFleetText } from "../common/src/fleet/load.js";
import { sshEd25519PublicLine } from "../secrets/src/identities/openssh.js";

const N = Number(process.argv[2] ?? 1000);
let y = "version: 1\nhosts:\n";
for (let i = 0; i < N; i++) y += `  - name: web-${i}\n    kind: nixos\n    hostKey: ${sshEd25519PublicLine(randomBytes(32))}\n    tags: [${i === 0 ? "canary" : "web"}]\n`;
y += "waves:\n  - name: canary\n    members: ['tag:canary']\n  - name: web\n    members: ['tag:web']\n";
const first = await loadFleetText(y, "fleet.yaml");
if (!first.fleet) throw new Error(first.issues.slice(0, 3).map((i) => i.message).join("; "));
const times: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  await loadFleetText(y, "fleet.yaml");
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`${N} hosts, ${(y.length / 1024).toFixed(0)} KB: median ${times[5]!.toFixed(1)} ms per load (min ${times[0]!.toFixed(1)}, max ${times[9]!.toFixed(1)}); flags: ${process.execArgv.filter((a) => a !== "--import" && a !== "tsx").join(" ") || "(none)"}`);
