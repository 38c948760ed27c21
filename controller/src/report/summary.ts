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

export function countHosts(hosts: readonly HostStatus[], rev?: string | null): FleetCounts {
  const c: FleetCounts = { total: hosts.length, healthy: 0, failed: 0, stale: 0, deploying: 0 };
  for (const h of hosts) {
    if (h.stale) c.stale++;
    else if (h.health === "Degraded" || (rev && h.failedRevs.includes(rev))) c.failed++;
    else if (h.health === "Healthy") c.healthy++;
    else if (h.health === "Progressing") c.deploying++;
  }
  return c;
}

export function currentRollout(s: StatusReport): RolloutStatus | undefined {
  return s.rollouts.find((r) => r.rev === s.head) ?? s.rollouts[0];
}
