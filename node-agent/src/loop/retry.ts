/**
 * An operator retry, from `flotilla-agent retry [REV]` on the host or from
 * the controller (`flotilla host retry HOST [REV]`, delivered as a
 * RetryDirective in a gate or watch answer): forget the failed revision (all
 * of them for a local retry without REV) and, when stalled in
 * rollbackFailed, roll back again. The next poll evaluates the head afresh,
 * through the same fast-forward, signature, pin and gate rules as always: a
 * retry only lifts the agent's own "failed before" memory.
 *
 * A controller directive is applied once per id: the id is remembered in
 * the state (bounded), so a revision that fails again stays failed.
 */
import type { RetryDirective } from "../../../schemas/src/api.js";
import type { AgentState } from "./phases.js";

const KEEP_APPLIED = 50;

export function wasApplied(state: AgentState, id: number): boolean {
  return (state.appliedActions ?? []).includes(id);
}

/** The state after a retry of `rev` (null: every failed revision). Pure. */
export function applyRetry(state: AgentState, rev: string | null, now: string): AgentState {
  const failedRevs = rev ? state.failedRevs.filter((f) => f.rev !== rev) : [];
  let cycle = state.cycle;
  if (cycle.phase === "rollbackFailed") {
    cycle = { ...cycle, phase: "rollingBack", blameTarget: false, attempt: 1, health: [], reach: { remote: cycle.target.remote, controller: false } };
  }
  return { ...state, failedRevs, cycle, lastHead: null, noticedHead: null, interruptions: null, updatedAt: now };
}

/** applyRetry for a controller directive, recording its id. */
export function applyDirective(state: AgentState, d: RetryDirective, now: string): AgentState {
  const applied = [...(state.appliedActions ?? []).filter((id) => id !== d.id), d.id].slice(-KEEP_APPLIED);
  return { ...applyRetry(state, d.rev, now), appliedActions: applied };
}
