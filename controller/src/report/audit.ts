/**
 * Builds the audit report: every transition event and every rollout decision,
 * in time order, each with its commit's PR number, title, author and merger
 * (from GitHub when configured, else from git). Pure.
 */
import type { AuditEntry, AuditReport, TransitionEvent } from "../../../schemas/src/api.js";
import type { CommitRecord, DecisionRecord, StoredEvent } from "../store/types.js";
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

export function buildAudit(input: { now: number; events: readonly StoredEvent[]; decisions: readonly DecisionRecord[]; commits: ReadonlyMap<string, CommitRecord>; host?: string }): AuditReport {
  const entries: (AuditEntry & { order: number })[] = [];
  for (const e of input.events) {
    const m = JSON.parse(e.payload) as TransitionEvent;
    entries.push({
      order: e.timeMs,
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
  entries.sort((a, b) => a.order - b.order);
  return { generatedAt: new Date(input.now).toISOString(), entries: entries.map(({ order: _o, ...e }) => e) };
}
