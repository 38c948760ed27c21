/**
 * Target resolution: which revision should a host run, given the fleet file
 * *at the branch head*, the head itself and (for gated waves) the controller's
 * answer. Pure. Precedence: pin > wave gate > branch head.
 *
 * - A pinned host runs its pin, whatever the branch or the gates say.
 * - Hosts of the first wave (index 0; with no waves, every host is in the
 *   implicit wave "rest", which is then first) deploy the head at once.
 * - Hosts of later waves deploy the head only when the controller answers
 *   "open"; otherwise they keep what they run ("wait"). With no controller
 *   reachable the answer is null and they wait: the safe default.
 */
import type { GateAnswer } from "../../../schemas/src/api.js";
import type { Fleet, HostSpec } from "../fleet/model.js";

export type TargetResolution =
  | { kind: "pinned"; rev: string; wave: string }
  | { kind: "head"; rev: string; wave: string }
  | { kind: "gate-open"; rev: string; wave: string }
  | { kind: "wait"; rev: null; wave: string; reason: string }
  | { kind: "not-in-fleet"; rev: null; reason: string };

export function findHost(fleet: Fleet, name: string): HostSpec | undefined {
  return fleet.hosts.find((h) => h.name === name);
}

/** Does this host need the controller's permission to take the head? */
export function needsGate(fleet: Fleet, host: string): boolean {
  const h = findHost(fleet, host);
  return !!h && !h.pin && h.waveIndex > 0;
}

export function resolveTarget(fleet: Fleet, hostName: string, head: string, gate: GateAnswer | null): TargetResolution {
  const host = findHost(fleet, hostName);
  if (!host) return { kind: "not-in-fleet", rev: null, reason: `host "${hostName}" is not listed in fleet.yaml at ${head.slice(0, 12)}` };
  if (host.pin) return { kind: "pinned", rev: host.pin, wave: host.wave };
  if (host.waveIndex === 0) return { kind: "head", rev: head, wave: host.wave };
  if (!gate) {
    return { kind: "wait", rev: null, wave: host.wave, reason: `wave "${host.wave}" is gated and the controller did not answer; waiting (safe default)` };
  }
  if (gate.rev !== head) {
    return { kind: "wait", rev: null, wave: host.wave, reason: `the controller answered for ${gate.rev.slice(0, 12)}, not the head ${head.slice(0, 12)}` };
  }
  if (gate.decision === "open") return { kind: "gate-open", rev: head, wave: host.wave };
  return { kind: "wait", rev: null, wave: host.wave, reason: `wave "${host.wave}" ${gate.decision}: ${gate.reason}` };
}
