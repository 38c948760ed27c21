/**
 * The rollout plan of one revision: for every host its wave, whether it is
 * pinned, and what it should run once the fleet repo's branch is at `rev`.
 * Pure; uses resolveTarget so `flotilla plan` and the agent agree.
 *
 * - first-wave hosts run `rev` as soon as they fetch it;
 * - later waves run `rev` once the previous wave is healthy, which the
 *   controller decides (the gate);
 * - pinned hosts run their pin whatever the branch says.
 */
import type { Fleet, HostSpec } from "../fleet/model.js";
import { resolveTarget } from "./resolve.js";

export type HostTarget =
  | { kind: "now"; rev: string }
  | { kind: "gated"; rev: string; afterWave: string }
  | { kind: "pinned"; rev: string };

export interface HostPlan {
  host: string;
  kind: HostSpec["kind"];
  wave: string;
  waveIndex: number;
  pinned: boolean;
  target: HostTarget;
  /** One line for people, commit ids cut to 12: "<rev> now (first wave)", "<rev> once wave "canary" is healthy (gated by the controller)", "pinned to <pin>". */
  summary: string;
}

export interface WavePlan {
  name: string;
  index: number;
  implicit: boolean;
  members: string[];
  soakMs: number;
  maxUnavailable: number;
}

export interface RolloutPlan {
  rev: string;
  waves: WavePlan[];
  hosts: HostPlan[];
}

const short = (rev: string): string => (/^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 12) : rev);

function hostPlan(fleet: Fleet, host: HostSpec, rev: string): HostPlan {
  const base = { host: host.name, kind: host.kind, wave: host.wave, waveIndex: host.waveIndex, pinned: !!host.pin };
  const resolved = resolveTarget(fleet, host.name, rev, null);
  if (resolved.kind === "pinned") {
    const inert = resolved.rev === rev ? " (the same as this revision)" : "";
    return { ...base, target: { kind: "pinned", rev: resolved.rev }, summary: `pinned to ${short(resolved.rev)}${inert}` };
  }
  if (resolved.kind === "head") return { ...base, target: { kind: "now", rev }, summary: `${short(rev)} now (first wave)` };
  // Later waves wait for the gate; with no controller answer resolveTarget says "wait".
  const previous = fleet.waves[host.waveIndex - 1]?.name ?? "?";
  return { ...base, target: { kind: "gated", rev, afterWave: previous }, summary: `${short(rev)} once wave "${previous}" is healthy (gated by the controller)` };
}

export function planRollout(fleet: Fleet, rev: string): RolloutPlan {
  return {
    rev,
    waves: fleet.waves.map((w) => ({ name: w.name, index: w.index, implicit: w.implicit, members: w.members, soakMs: w.soakMs, maxUnavailable: w.maxUnavailable })),
    hosts: [...fleet.hosts].sort((a, b) => a.waveIndex - b.waveIndex).map((h) => hostPlan(fleet, h, rev)),
  };
}
