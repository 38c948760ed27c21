// Target resolution with operator answers: they can stop a host, never give it another revision.
import { describe, expect, it } from "vitest";
import type { GateAnswer } from "../../../schemas/src/api.js";
import { loadFleetText } from "../fleet/load.js";
import type { Fleet } from "../fleet/model.js";
import { needsGate, resolveTarget } from "./resolve.js";

const HEAD = "b".repeat(40);
const PIN = "a".repeat(40);
const KEYS = [
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdpWU2phnYb6Q9MqTH31upT86g0EnS0EEjm0c5PwUvs",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB2fDEwaT2U8AditqpcM/q5Sk+H/Qmnqp9cO4K+YCEp",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKG+9/Nnz8pGhzKwd2ss+Bw2a+qha7ukjeERppQvoQgy",
];
async function load(hosts: string[], waves: string): Promise<Fleet> {
  const r = await loadFleetText(`version: 1\nhosts:\n${hosts.map((h, i) => `  - { name: ${h}, kind: nixos, hostKey: "${KEYS[i]}"${h === "web-2" ? `, pin: "${PIN}"` : ""} }`).join("\n")}\nwaves:\n${waves}\n`, "fleet.yaml");
  if (!r.fleet) throw new Error(r.issues.map((i) => i.message).join("; "));
  return r.fleet;
}
const fleet = await load(["canary-1", "web-1", "web-2"], "  - { name: canary, members: [canary-1] }\n  - { name: web, members: [web-1, web-2], approval: manual }");
const manualFirst = await load(["canary-1"], "  - { name: canary, members: [canary-1], approval: manual }");
const gate = (decision: GateAnswer["decision"], rev = HEAD): GateAnswer => ({ host: "x", rev, decision, wave: "w", reason: `${decision} by operator ops: why` });

describe("resolveTarget with operator answers", () => {
  it("a first-wave host obeys held, paused and aborted about the head; no answer or another answer still means proceed", () => {
    for (const d of ["held", "paused", "aborted"] as const) expect(resolveTarget(fleet, "canary-1", HEAD, gate(d))).toMatchObject({ kind: "wait", reason: expect.stringContaining(d) });
    expect(resolveTarget(fleet, "canary-1", HEAD, null)).toMatchObject({ kind: "head", rev: HEAD });
    expect(resolveTarget(fleet, "canary-1", HEAD, gate("halted"))).toMatchObject({ kind: "head", rev: HEAD });
    expect(resolveTarget(fleet, "canary-1", HEAD, gate("held", PIN))).toMatchObject({ kind: "head", rev: HEAD }); // about another revision
  });

  it("a pinned host obeys only held, and otherwise runs its pin whatever the answer (an answer never picks a revision)", () => {
    expect(resolveTarget(fleet, "web-2", HEAD, gate("held"))).toMatchObject({ kind: "wait" });
    for (const d of ["paused", "aborted", "open"] as const) expect(resolveTarget(fleet, "web-2", HEAD, gate(d))).toMatchObject({ kind: "pinned", rev: PIN });
  });

  it("a manual-approval wave is gated even when it would not be; a later-wave host waits on anything but open", () => {
    expect(needsGate(fleet, "web-1")).toBe(true);
    expect(needsGate(manualFirst, "canary-1")).toBe(true);
    expect(needsGate(fleet, "canary-1")).toBe(false);
    expect(resolveTarget(fleet, "web-1", HEAD, gate("open"))).toMatchObject({ kind: "gate-open", rev: HEAD });
    expect(resolveTarget(fleet, "web-1", HEAD, gate("paused"))).toMatchObject({ kind: "wait" });
    expect(resolveTarget(manualFirst, "canary-1", HEAD, null)).toMatchObject({ kind: "wait" });
  });
});
