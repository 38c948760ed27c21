/** Row ↔ record mapping shared by the SQLite and PostgreSQL stores. */
import type { ObservedEvent } from "../rollout/decide.js";
import type { ActionQuery, ActionRecord, CommitRecord, DecisionRecord } from "./types.js";
import type { RebootLease } from "../reboot/semaphore.js";

export interface CommitRow {
  sha: string;
  position: number | string;
  observed_ms: number | string;
  info: string;
  pr: string | null;
}

export function commitInfoJson(c: Omit<CommitRecord, "position" | "pr" | "sha" | "observedMs">): string {
  return JSON.stringify({ author: c.author, authorEmail: c.authorEmail, committer: c.committer, timeMs: c.timeMs, subject: c.subject, parents: c.parents, fleetError: c.fleetError });
}

export function rowToCommit(r: CommitRow): CommitRecord {
  const info = JSON.parse(r.info) as Omit<CommitRecord, "sha" | "position" | "observedMs" | "pr">;
  return { sha: r.sha, position: Number(r.position), observedMs: Number(r.observed_ms), ...info, pr: r.pr ? JSON.parse(r.pr) : null };
}

export interface DecisionRow {
  id: number | string;
  rev: string;
  wave: string;
  state: string;
  effective_ms: number | string;
  recorded_ms: number | string;
  reason: string;
  controller: string;
}

export function rowToDecision(r: DecisionRow): DecisionRecord {
  return { id: Number(r.id), rev: r.rev, wave: r.wave, state: r.state, effectiveMs: Number(r.effective_ms), recordedMs: Number(r.recorded_ms), reason: r.reason, controller: r.controller };
}

/** One (host, verdict, first time) row → the engine's view of that first event. */
export function verdictToObserved(rev: string, r: { host: string; verdict: string; t: number | string }): ObservedEvent {
  if (r.verdict === "pendingReboot") {
    return { host: r.host, seq: 0, timeMs: Number(r.t), rev, phase: "done", outcome: "succeeded", reason: "PendingReboot", generation: "(staged at ingest)", pendingReboot: true };
  }
  const healthy = r.verdict === "healthy";
  return {
    host: r.host, seq: 0, timeMs: Number(r.t), rev, phase: healthy ? "done" : "failed", outcome: healthy ? "succeeded" : "failed",
    reason: healthy ? "Succeeded" : "Failed", generation: healthy ? "(verified at ingest)" : null,
  };
}

export interface ActionRow {
  id: number | string;
  action: string;
  rev: string | null;
  wave: string | null;
  host: string | null;
  reason: string;
  actor: string;
  time_ms: number | string;
}

export function rowToAction(r: ActionRow): ActionRecord {
  return { id: Number(r.id), action: r.action as ActionRecord["action"], rev: r.rev, wave: r.wave, host: r.host, reason: r.reason, actor: r.actor, timeMs: Number(r.time_ms) };
}

/** The WHERE clause and parameters of an action query (`?` placeholders; PostgreSQL renumbers them). */
export function actionFilter(q: ActionQuery): { where: string; params: unknown[] } {
  const parts: string[] = ["time_ms >= ?"];
  const params: unknown[] = [q.sinceMs ?? 0];
  if (q.host) (parts.push("host = ?"), params.push(q.host));
  if (q.rev) (parts.push("rev = ?"), params.push(q.rev));
  if (q.actions && q.actions.length > 0) {
    parts.push(`action IN (${q.actions.map(() => "?").join(", ")})`);
    params.push(...q.actions);
  }
  return { where: parts.join(" AND "), params };
}

export interface LeaseRow {
  host: string;
  generation: string;
  acquired_ms: number | string;
  expires_ms: number | string;
  booted: string | null;
}

export function leaseOf(r: LeaseRow): RebootLease {
  return { host: r.host, generation: r.generation, acquiredMs: Number(r.acquired_ms), expiresMs: Number(r.expires_ms), booted: r.booted };
}
