/**
 * The fleet's summary counters, shared by the dashboard and `flotilla status
 * --watch`: healthy, failed (Degraded), stale (unreachable), deploying
 * (Progressing: fetched…verifying, rolling back, staged for boot). A stale host counts
 * only as stale. Also which rollout is "current": the head's, else the newest. Pure.
 */
import type { HostStatus, RolloutStatus, StatusReport } from "../../../schemas/src/api.js";

export interface FleetCounts {
  total: number;
  healthy: number;
  failed: number;
  stale: number;
  deploying: number;
}

/** The one state a host is counted in: stale first, then failed (Degraded, or failed `rev`), then by health. */
function countedState(h: HostStatus, rev?: string | null): "stale" | "failed" | "healthy" | "deploying" | "unknown" {
  if (h.stale) return "stale";
  if (h.health === "Degraded" || (rev && h.failedRevs.includes(rev))) return "failed";
  return h.health === "Healthy" ? "healthy" : h.health === "Progressing" ? "deploying" : "unknown";
}

export function countHosts(hosts: readonly HostStatus[], rev?: string | null): FleetCounts {
  const c: FleetCounts = { total: hosts.length, healthy: 0, failed: 0, stale: 0, deploying: 0 };
  for (const h of hosts) {
    const s = countedState(h, rev);
    if (s !== "unknown") c[s]++;
  }
  return c;
}

export function currentRollout(s: StatusReport): RolloutStatus | undefined {
  return s.rollouts.find((r) => r.rev === s.head) ?? s.rollouts[0];
}

/**
 * Why a host needs an operator's eye, most urgent first ("" when it does not):
 * failed (Degraded, or failed the current rollout's revision), unreachable
 * (stale), deploying (Progressing), unknown health, held, awaiting a reboot,
 * drifted. The dashboard lists these hosts in full, above the healthy ones.
 */
export const ATTENTION = ["failed", "stale", "deploying", "unknown", "held", "reboot", "drift"] as const;
export type Attention = (typeof ATTENTION)[number];

export function attention(h: HostStatus, rev?: string | null): Attention | "" {
  const s = countedState(h, rev);
  if (s !== "healthy") return s;
  if (h.held) return "held";
  if (h.needsReboot || h.pendingReboot) return "reboot";
  if (h.drift) return "drift";
  return "";
}
