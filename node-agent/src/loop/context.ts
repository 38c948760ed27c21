/**
 * What every handler receives: the ports, plus a small memo of fleet files by
 * revision (a cycle reads the fleet at its head several times; after a
 * restart it is read again from the cache, never trusted from memory).
 */
import type { Fleet, HostSpec } from "../../../common/src/fleet/model.js";
import { findHost } from "../../../common/src/plan/resolve.js";
import { errorInfo, HostNotInFleetError, InvalidFleetFileError } from "../errors.js";
import type { AgentDeps, FleetLoad } from "../ports.js";
import type { EventDraft } from "./events.js";
import type { AgentState, Cycle, LastOutcome } from "./phases.js";

export interface LoopContext {
  deps: AgentDeps;
  fleetAt(rev: string): Promise<FleetLoad>;
}

export function loopContext(deps: AgentDeps): LoopContext {
  const memo = new Map<string, FleetLoad>();
  return {
    deps,
    async fleetAt(rev) {
      const hit = memo.get(rev);
      if (hit) return hit;
      const loaded = await deps.source.loadFleet(rev);
      if (memo.size >= 8) memo.delete(memo.keys().next().value!);
      memo.set(rev, loaded);
      return loaded;
    },
  };
}

/** The fleet and this host's spec at `rev`, or a stalled error. */
export async function hostAt(ctx: LoopContext, rev: string): Promise<{ fleet: Fleet; host: HostSpec }> {
  const loaded = await ctx.fleetAt(rev);
  if (!loaded.fleet) throw new InvalidFleetFileError(`fleet.yaml at ${rev.slice(0, 12)} is invalid: ${loaded.errors.join("; ")}`);
  const host = findHost(loaded.fleet, ctx.deps.settings.host);
  if (!host) throw new HostNotInFleetError(`host "${ctx.deps.settings.host}" is not listed in fleet.yaml at ${rev.slice(0, 12)}`);
  return { fleet: loaded.fleet, host };
}

/** A handler's answer: the next state and the events that describe the transition. */
export interface Step {
  state: AgentState;
  events: EventDraft[];
}

export function nowIso(ctx: LoopContext): string {
  return ctx.deps.clock.now().toISOString();
}

/** Moves `state` to `cycle` (plus `patch`), recording the last event as the last outcome. */
export function step(ctx: LoopContext, state: AgentState, cycle: Cycle, events: EventDraft[], patch: Partial<AgentState> = {}): Step {
  const time = nowIso(ctx);
  const last = events.at(-1);
  const lastOutcome: LastOutcome | null = last
    ? { time, phase: last.phase, outcome: last.outcome, reason: last.reason, rev: last.rev, ...(last.error ? { message: last.error.message } : last.message ? { message: last.message } : {}) }
    : state.lastOutcome;
  return { state: { ...state, ...patch, cycle, lastOutcome, updatedAt: time }, events };
}

export function record(e: unknown) {
  return errorInfo(e);
}

export function addFailed(state: AgentState, rev: string, reason: string, time: string): AgentState["failedRevs"] {
  return [...state.failedRevs.filter((f) => f.rev !== rev), { rev, reason, time }].slice(-50);
}

/**
 * The agent's rule for an activation that did not complete (a restart
 * mid-switch, a profile that does not point at the generation): not the
 * revision's fault, unless the same revision is interrupted
 * `maxInterruptions` times in a row (an activation that kills the agent
 * itself). Decided once, when the interruption is found, and reported as
 * `blamed` on its events, so the controller follows this rule instead of
 * re-deriving it.
 */
export function interruptionBlamed(ctx: LoopContext, state: AgentState, rev: string): boolean {
  const count = (state.interruptions?.rev === rev ? state.interruptions.count : 0) + 1;
  return count >= ctx.deps.settings.maxInterruptions;
}

export function elapsed(ctx: LoopContext, since: number): number {
  return Math.max(0, ctx.deps.clock.now().getTime() - since);
}
