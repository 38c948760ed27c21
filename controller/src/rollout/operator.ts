/**
 * Operator actions as the rollout engine sees them: pure folds of the
 * recorded actions (pause, resume, abort, approve, hold, release, retry) into
 * what gating needs — is this rollout paused or aborted, since when, which
 * manual waves are approved, which hosts are held, which retry a host has not
 * been told of. Actions are facts with their own time, like agent events;
 * nothing here reads a clock.
 */
import type { OperatorActionKind } from "../../../schemas/src/api.js";

/** A recorded operator action (the store's ActionRecord is this type). */
export interface ActionFact {
  id: number;
  action: OperatorActionKind;
  rev: string | null;
  wave: string | null;
  host: string | null;
  reason: string;
  actor: string;
  timeMs: number;
}

/** Who, when, why: what status shows of an action. */
export interface ActionMark {
  id: number;
  actor: string;
  reason: string;
  timeMs: number;
}

export interface PauseInterval {
  fromMs: number;
  /** null: still paused. */
  toMs: number | null;
}

export interface RolloutActions {
  /** The first abort of the rollout (aborting is final). */
  aborted: ActionMark | null;
  /** The pause in force now (the newest pause/resume is a pause). */
  paused: ActionMark | null;
  /** Every pause, in time order, so an instant that falls inside one moves to its end. */
  pauses: PauseInterval[];
  /** Per wave name: the first approval. */
  approvals: Map<string, ActionMark>;
}

const mark = (a: ActionFact): ActionMark => ({ id: a.id, actor: a.actor, reason: a.reason, timeMs: a.timeMs });
const byOrder = (a: ActionFact, b: ActionFact) => a.timeMs - b.timeMs || a.id - b.id;

export function rolloutActions(actions: readonly ActionFact[], rev: string): RolloutActions {
  const mine = actions.filter((a) => a.rev === rev).sort(byOrder);
  let aborted: ActionMark | null = null;
  let paused: ActionMark | null = null;
  const pauses: PauseInterval[] = [];
  const approvals = new Map<string, ActionMark>();
  for (const a of mine) {
    if (a.action === "abort" && !aborted) aborted = mark(a);
    else if (a.action === "pause" && !paused) {
      paused = mark(a);
      pauses.push({ fromMs: a.timeMs, toMs: null });
    } else if (a.action === "resume" && paused) {
      paused = null;
      pauses[pauses.length - 1]!.toMs = a.timeMs;
    } else if (a.action === "approve" && a.wave && !approvals.has(a.wave)) approvals.set(a.wave, mark(a));
  }
  return { aborted, paused, pauses, approvals };
}

/**
 * The instant `t`, moved past any pause it falls in: nothing opens while a
 * rollout is paused; what would have opened during a pause opens when it is
 * resumed. null while the pause `t` falls in lasts.
 */
export function afterPauses(t: number, pauses: readonly PauseInterval[]): number | null {
  let at = t;
  for (const p of pauses) {
    if (at < p.fromMs) continue;
    if (p.toMs === null) return null;
    if (at < p.toMs) at = p.toMs;
  }
  return at;
}

/** Hosts held now: per host, its newest hold or release decides. */
export function heldHosts(actions: readonly ActionFact[]): Map<string, ActionMark> {
  const last = new Map<string, ActionFact>();
  for (const a of [...actions].sort(byOrder)) if (a.host && (a.action === "hold" || a.action === "release")) last.set(a.host, a);
  const out = new Map<string, ActionMark>();
  for (const [host, a] of last) if (a.action === "hold") out.set(host, mark(a));
  return out;
}

/** The newest retry directive for `host` (the agent applies each id once). */
export function latestRetry(actions: readonly ActionFact[], host: string): { id: number; rev: string } | null {
  let best: ActionFact | null = null;
  for (const a of actions) if (a.action === "retry" && a.host === host && a.rev && (!best || a.id > best.id)) best = a;
  return best ? { id: best.id, rev: best.rev! } : null;
}

export function describeMark(verb: string, m: ActionMark): string {
  return `${verb} by operator ${m.actor}: ${m.reason}`;
}
