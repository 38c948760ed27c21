/**
 * Builds the audit report: every transition event and every rollout decision,
 * merged, the newest `limit` of them kept, listed oldest first, each with its commit's PR number, title, author and merger
 * (from GitHub when configured, else from git). Pure.
 */
import type { AuditEntry, AuditReport, TransitionEvent } from "../../../schemas/src/api.js";
import type { ActionRecord, CommitRecord, DecisionRecord, StoredEvent } from "../store/types.js";
import { isoOf } from "./time.js";

function commitFields(c: CommitRecord | undefined) {
  return {
    pr: c?.pr?.number ?? null,
    title: c?.pr?.title ?? c?.subject ?? null,
    author: c?.pr?.author ?? c?.author ?? null,
    mergedBy: c?.pr?.mergedBy ?? null,
  };
}

const pascal = (s: string) => s.replace(/(^|[-_ ])(\w)/g, (_m, _p, ch: string) => ch.toUpperCase());

export function buildAudit(input: {
  now: number;
  events: readonly StoredEvent[];
  decisions: readonly DecisionRecord[];
  /** Operator actions (kind "action": who in `actor`, why in `message`). */
  actions?: readonly ActionRecord[];
  commits: ReadonlyMap<string, CommitRecord>;
  host?: string;
  limit?: number;
}): AuditReport {
  // order: the instant; tie: events (by host, seq), then decisions (by id), then actions (by id) at the same instant.
  const entries: (AuditEntry & { order: number; tie: [number, string, number] })[] = [];
  for (const e of input.events) {
    const m = JSON.parse(e.payload) as TransitionEvent;
    entries.push({
      order: e.timeMs,
      tie: [0, e.host, e.seq],
      time: isoOf(e.timeMs),
      host: m.host,
      kind: "event",
      phase: m.phase,
      outcome: m.outcome,
      reason: m.reason,
      rev: m.rev,
      ...commitFields(m.rev ? input.commits.get(m.rev) : undefined),
      durations: m.durations ?? null,
      message: m.error?.message ?? m.message ?? null,
      ...(m.skewedTime ? { skewedTime: m.skewedTime } : {}),
    });
  }
  if (!input.host) {
    for (const d of input.decisions) {
      entries.push({
        order: d.effectiveMs,
        tie: [1, "", d.id],
        time: isoOf(d.effectiveMs),
        host: null,
        kind: "decision",
        phase: d.wave ? `wave:${d.wave}` : "rollout",
        outcome: d.state,
        reason: `${d.wave ? "Wave" : "Rollout"}${pascal(d.state)}`,
        rev: d.rev,
        ...commitFields(input.commits.get(d.rev)),
        durations: null,
        message: d.reason,
      });
    }
  }
  for (const a of input.actions ?? []) {
    if (input.host && a.host !== input.host) continue;
    entries.push({
      order: a.timeMs,
      tie: [2, "", a.id],
      time: isoOf(a.timeMs),
      host: a.host,
      kind: "action",
      phase: a.action,
      outcome: "recorded",
      reason: `Operator${pascal(a.action)}`,
      rev: a.rev,
      ...commitFields(a.rev ? input.commits.get(a.rev) : undefined),
      durations: null,
      message: a.reason,
      actor: a.actor,
      ...(a.wave ? { wave: a.wave } : {}),
    });
  }
  entries.sort((a, b) => a.order - b.order || a.tie[0] - b.tie[0] || (a.tie[1] < b.tie[1] ? -1 : a.tie[1] > b.tie[1] ? 1 : 0) || a.tie[2] - b.tie[2]);
  const kept = input.limit !== undefined && entries.length > input.limit ? entries.slice(entries.length - input.limit) : entries;
  return { generatedAt: new Date(input.now).toISOString(), entries: kept.map(({ order: _o, tie: _t, ...e }) => e) };
}
