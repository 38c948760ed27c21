/**
 * Per-host state folded from the host's messages in seq order: what it runs,
 * since when, its phase, health, failed revisions and last error. Pure.
 */
import type { AgentMessage } from "../../../schemas/src/api.js";

export interface HostState {
  host: string;
  lastSeq: number;
  /** Controller receive time of the latest message. */
  lastSeenMs: number;
  /** Agent time of the latest message. */
  lastTimeMs: number;
  agentVersion: string | null;
  phase: string | null;
  currentRev: string | null;
  currentGeneration: string | null;
  sinceMs: number | null;
  healthy: boolean | null;
  targetRev: string | null;
  failedRevs: string[];
  lastError: { reason: string; message: string } | null;
  lastEvent: { phase: string; outcome: string; reason: string; rev: string | null; timeMs: number } | null;
  /** NixOS: what runs needs a reboot to fully apply (kernel, initrd or modules differ from the booted system's). Absent in states folded before this field. */
  needsReboot?: boolean;
  /** operation boot: a generation is staged for the next boot, unverified. */
  pendingReboot?: boolean;
}

const MAX_FAILED = 20;

export function emptyHostState(host: string): HostState {
  return {
    host, lastSeq: 0, lastSeenMs: 0, lastTimeMs: 0, agentVersion: null, phase: null, currentRev: null, currentGeneration: null,
    sinceMs: null, healthy: null, targetRev: null, failedRevs: [], lastError: null, lastEvent: null,
  };
}

function addFailed(list: string[], rev: string | null): string[] {
  if (!rev || list.includes(rev)) return list;
  return [...list, rev].slice(-MAX_FAILED);
}

/** Phases in which the agent's own failed list is settled: no deploy or rollback in flight. */
const SETTLED = new Set(["idle", "done", "failed", "rolledBack", "rollbackFailed", "firstDeployFailed"]);

/**
 * A heartbeat's failed revisions. At rest they are the agent's own list, and
 * replace what the events accumulated (the agent forgets a revision on an
 * operator's retry, or once it verifies). In flight they may lag the events
 * (a failed activation is reported at once, remembered when the rollback
 * ends), so they only add. An older agent sends none.
 */
function heartbeatFailedRevs(known: string[], phase: string, sent: readonly string[] | undefined): string[] {
  if (!sent) return known;
  return SETTLED.has(phase) ? sent.slice(-MAX_FAILED) : sent.reduce(addFailed, known);
}

export function foldHostState(prev: HostState, msgs: readonly AgentMessage[], receivedMs: number): HostState {
  let s: HostState = { ...prev, lastSeenMs: Math.max(prev.lastSeenMs, receivedMs) };
  for (const m of msgs) {
    const t = Date.parse(m.time);
    s = { ...s, lastSeq: Math.max(s.lastSeq, m.seq), lastTimeMs: Math.max(s.lastTimeMs, t), agentVersion: m.agentVersion, phase: m.phase };
    if (m.type === "heartbeat") {
      const moved = m.currentRev !== s.currentRev || m.currentGeneration !== s.currentGeneration;
      s = {
        ...s,
        currentRev: m.currentRev,
        currentGeneration: m.currentGeneration,
        sinceMs: moved ? t : s.sinceMs,
        healthy: m.healthy,
        targetRev: m.targetRev,
        failedRevs: heartbeatFailedRevs(s.failedRevs, m.phase, m.failedRevs),
      };
      continue;
    }
    s = { ...s, lastEvent: { phase: m.phase, outcome: m.outcome, reason: m.reason, rev: m.rev, timeMs: t }, targetRev: m.rev ?? s.targetRev };
    const error = m.error ?? { reason: m.reason, message: m.message ?? "" };
    if (m.phase === "done" && m.outcome === "succeeded" && m.pendingReboot) {
      // Staged for the next boot: the host still runs what it ran; nothing verified yet.
      s = { ...s, pendingReboot: true, needsReboot: true, lastError: null };
    } else if (m.phase === "done" && m.outcome === "succeeded") {
      const moved = m.rev !== s.currentRev || m.generation !== s.currentGeneration;
      // Verified: the agent no longer remembers this revision as failed (an operator's retry that worked).
      s = { ...s, currentRev: m.rev, currentGeneration: m.generation, sinceMs: moved ? t : s.sinceMs, healthy: true, lastError: null, pendingReboot: false, needsReboot: m.needsReboot ?? false, failedRevs: s.failedRevs.filter((r) => r !== m.rev) };
    } else if (m.phase === "rolledBack" && m.outcome === "succeeded") {
      s = {
        ...s,
        currentRev: m.previous?.rev ?? s.currentRev,
        currentGeneration: m.previous?.generation ?? s.currentGeneration,
        sinceMs: t,
        healthy: true,
        failedRevs: m.blamed === false ? s.failedRevs : addFailed(s.failedRevs, m.rev),
        lastError: error,
        pendingReboot: m.pendingReboot ?? false,
        needsReboot: m.pendingReboot ?? false,
      };
    } else if (m.outcome === "failed" || m.phase === "failed" || m.phase === "rollbackFailed" || m.phase === "firstDeployFailed") {
      // An interruption the agent forgives (blamed: false) is not a failed revision.
      s = { ...s, failedRevs: m.blamed === false ? s.failedRevs : addFailed(s.failedRevs, m.rev), lastError: error, healthy: m.phase === "rollbackFailed" || m.phase === "firstDeployFailed" || m.phase === "verifying" ? false : s.healthy };
    }
  }
  return s;
}
