/** A StatusReport fixture for the renderers' unit tests (hand-built, schema-checked). */
import { StatusReport, type HostStatus, type RolloutStatus } from "../../../schemas/src/api.js";

export const NOW = Date.parse("2026-01-01T12:00:00.000Z");
export const REV_A = "a".repeat(40);
export const REV_B = "b".repeat(40);
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

export function host(name: string, over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: name, kind: "nixos", wave: "web", pinned: null, desiredRev: REV_A, currentRev: REV_A,
    generation: "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host-24.05", phase: "done", health: "Healthy",
    lastSeen: ago(12), stale: false, drift: false, since: ago(180), failedRevs: [], lastError: null, needsReboot: false, pendingReboot: false,
    ...over,
  };
}

export function rollout(over: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    rev: REV_A, time: ago(600), subject: "web: raise nginx workers", author: "Alice Example", pr: null, state: "progressing",
    waves: [
      { name: "canary", state: "promoted", members: ["canary-1"], healthy: 1, openedAt: ago(300), soakUntil: ago(240) },
      { name: "web", state: "soaking", members: ["web-1", "web-2"], healthy: 2, openedAt: ago(240), soakUntil: new Date(NOW + 20_000).toISOString() },
      { name: "db", state: "pending", members: ["db-1"], healthy: 0, openedAt: null, soakUntil: null, reason: "waits for web" },
    ],
    ...over,
  };
}

export function report(over: Partial<StatusReport> = {}): StatusReport {
  return StatusReport.parse({
    generatedAt: new Date(NOW).toISOString(), branch: "main", head: REV_A,
    hosts: [
      host("canary-1", { wave: "canary" }),
      host("web-1"),
      host("web-2", { phase: "failed", health: "Degraded", failedRevs: [REV_B], lastError: { reason: "HealthCheckFailed", message: "http://localhost/ answered 502\nsecond line" } }),
      host("db-1", { wave: "db", stale: true, health: "Unknown", lastSeen: ago(3 * 3600) }),
      host("db-2", { wave: "db", phase: "activating", health: "Progressing" }),
    ],
    rollouts: [rollout()],
    ...over,
  });
}
