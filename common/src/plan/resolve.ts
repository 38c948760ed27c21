/**
 * Target resolution: which revision should a host run, given the fleet file
 * *at the branch head*, the head itself and (for gated waves) the controller's
 * answer. Pure. Precedence: pin > wave gate > branch head.
 *
 * - A pinned host runs its pin, whatever the branch or the gates say.
 * - Hosts of the first wave (index 0; with no waves, every host is in the
 *   implicit wave "rest", which is then first) deploy the head at once.
 * - Hosts of later waves (and of a wave with `approval: manual`) deploy the
 *   head only when the controller answers "open"; otherwise they keep what
 *   they run ("wait"). With no controller reachable the answer is null and
 *   they wait: the safe default.
 * - Operator actions: an agent with a controller asks it even when it needs
 *   no gate, and obeys an answer about exactly the head that says `held`
 *   (every host, pinned ones too) or `paused`/`aborted` (unpinned hosts: a
 *   pinned host does not run the head). No answer still means "proceed" for
 *   a host that needs no gate. An answer can only stop a host, never give it
 *   another revision than pin or head.
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
  return !!h && !h.pin && (h.waveIndex > 0 || fleet.waves[h.waveIndex]?.approval === "manual");
}

/** Gate answers an agent obeys even when it needs no gate: operator actions. */
export const OPERATOR_STOPS: ReadonlySet<string> = new Set(["held", "paused", "aborted"]);

export function resolveTarget(fleet: Fleet, hostName: string, head: string, gate: GateAnswer | null): TargetResolution {
  const host = findHost(fleet, hostName);
  if (!host) return { kind: "not-in-fleet", rev: null, reason: `host "${hostName}" is not listed in fleet.yaml at ${head.slice(0, 12)}` };
  const about = gate !== null && gate.rev === head;
  if (about && gate.decision === "held") return { kind: "wait", rev: null, wave: host.wave, reason: `held: ${gate.reason}` };
  if (host.pin) return { kind: "pinned", rev: host.pin, wave: host.wave };
  if (about && OPERATOR_STOPS.has(gate.decision)) return { kind: "wait", rev: null, wave: host.wave, reason: `${gate.decision}: ${gate.reason}` };
  if (!needsGate(fleet, hostName)) return { kind: "head", rev: head, wave: host.wave };
  if (!gate) {
    return { kind: "wait", rev: null, wave: host.wave, reason: `wave "${host.wave}" is gated and the controller did not answer; waiting (safe default)` };
  }
  if (gate.rev !== head) {
    return { kind: "wait", rev: null, wave: host.wave, reason: `the controller answered for ${gate.rev.slice(0, 12)}, not the head ${head.slice(0, 12)}` };
  }
  if (gate.decision === "open") return { kind: "gate-open", rev: head, wave: host.wave };
  return { kind: "wait", rev: null, wave: host.wave, reason: `wave "${host.wave}" ${gate.decision}: ${gate.reason}` };
}
