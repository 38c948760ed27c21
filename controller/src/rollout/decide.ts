/**
 * The rollout engine: a pure function from (fleet at C, observed events on C,
 * last-seen times, previously recorded decisions, now) to wave states, gate
 * answers and the decisions to record. No I/O, no clock; the algorithm is
 * described in prose in docs/controller.md §1.
 */
import type { AgentPhase, Outcome, WaveState } from "../../../schemas/src/conditions.js";
import type { HealthResult } from "../../../schemas/src/api.js";
import type { Fleet, WaveSpec } from "../../../common/src/fleet/model.js";
import { hostSpec } from "./host-index.js";
import { afterPauses, describeMark, heldHosts, rolloutActions, type ActionFact, type ActionMark } from "./operator.js";

/** A transition event as the engine sees it (agent timestamp in ms). */
export interface ObservedEvent {
  host: string;
  seq: number;
  timeMs: number;
  rev: string | null;
  phase: AgentPhase;
  outcome: Outcome;
  reason: string;
  generation: string | null;
  /** operation boot: staged for the next boot, health not verified (TransitionEvent.pendingReboot). */
  pendingReboot?: boolean;
  health?: HealthResult[];
  /** The agent's own verdict on failure transitions (TransitionEvent.blamed); absent from older agents. */
  blamed?: boolean;
}

/** A decision stored earlier: its state is latched. `wave` is "" for the rollout itself. */
export interface RecordedDecision {
  rev: string;
  wave: string;
  state: string;
  effectiveMs: number;
  /** Why it was decided (stored with the decision); shown for latched halts. */
  reason?: string;
}

export interface DecideInput {
  fleet: Fleet;
  rev: string;
  /** When the controller first saw C on the branch: wave 0 opens then. */
  observedAtMs: number;
  /** The newer branch head, when C is no longer the head. */
  supersededBy: string | null;
  events: readonly ObservedEvent[];
  /** Controller receive time of each host's latest message (reachability). */
  lastSeenMs: Readonly<Record<string, number | undefined>>;
  decisions: readonly RecordedDecision[];
  now: number;
  /**
   * The release of C (refs/flotilla/releases/C, verified). A wave with
   * `delivery: substitute` members opens only once it is `built` and covers
   * them; absent means missing.
   */
  release?: ReleaseInfo;
  /**
   * Operator actions: those about C (pause, resume, abort, approve) and every
   * hold/release (hosts held). Like recorded decisions, facts with their own time.
   */
  actions?: readonly ActionFact[];
}

export interface ReleaseInfo {
  state: "built" | "missing" | "untrusted" | "invalid" | "building" | "failed";
  reason?: string;
  hosts: readonly string[];
  /** When it was published; a held wave opens no earlier. */
  atMs?: number;
}

export type RolloutState = "progressing" | "complete" | "halted" | "superseded";

export interface WaveDecision {
  name: string;
  index: number;
  state: WaveState;
  members: string[];
  counted: string[];
  pinned: string[];
  healthy: string[];
  failed: string[];
  unreachable: string[];
  need: number;
  maxUnavailable: number;
  soakMs: number;
  openedAtMs: number | null;
  completeSinceMs: number | null;
  soakUntilMs: number | null;
  promotedAtMs: number | null;
  reason: string;
  /** Set while the wave is held for the release of C (substitute-only members). */
  releaseHold?: string;
  /** Waves with approval: manual: required until an operator approves the wave for C. */
  approval?: { state: "required" | "approved"; by?: ActionMark };
}

export interface NewDecision {
  rev: string;
  wave: string;
  state: string;
  effectiveMs: number;
  reason: string;
}

export interface RolloutDecision {
  rev: string;
  state: RolloutState;
  waves: WaveDecision[];
  /** Decisions reached now that were not recorded before (record them). */
  transitions: NewDecision[];
  /** Short text for commit statuses: "canary 1/1 healthy, web 3/4". */
  summary: string;
  warnings: string[];
  release?: ReleaseInfo;
  /** An operator aborted C (final). */
  aborted: ActionMark | null;
  /** An operator paused C and has not resumed it. */
  paused: ActionMark | null;
  /** Hosts an operator holds on what they run (any revision). */
  held: ReadonlyMap<string, ActionMark>;
}

export const ROLLOUT = "";

const BAD_PHASES: ReadonlySet<string> = new Set(["failed", "rollingBack", "rolledBack", "rollbackFailed", "firstDeployFailed"]);

/**
 * Does this event say the host failed the revision it concerns? The agent
 * says so itself (`blamed`): it forgives an activation interrupted by a
 * restart (its recovery events: activating/failed/Interrupted, rollingBack,
 * rolledBack) unless the same revision keeps being interrupted, and the
 * controller follows that rule rather than re-deriving it. Events of agents
 * that predate `blamed` are judged by phase and outcome, except the
 * `Interrupted` recovery events themselves.
 */
export function isFailure(e: ObservedEvent): boolean {
  if (typeof e.blamed === "boolean") return e.blamed;
  if (e.reason === "Interrupted") return false;
  return e.outcome === "failed" || BAD_PHASES.has(e.phase);
}

/** Does this event say the host runs C healthy, with health measured on that very generation? */
export function isHealthyOn(e: ObservedEvent, rev: string): boolean {
  if (e.rev !== rev || e.phase !== "done" || e.outcome !== "succeeded" || !e.generation || e.pendingReboot) return false;
  return (e.health ?? []).every((h) => h.ok && h.rev === rev && h.generation === e.generation);
}

/** Does this event say the host staged C for its next boot, unverified (operation boot)? */
export function isPendingRebootOn(e: ObservedEvent, rev: string): boolean {
  return e.rev === rev && e.phase === "done" && e.outcome === "succeeded" && !!e.generation && e.pendingReboot === true;
}

interface HostView {
  failedAtMs: number | null;
  healthySinceMs: number | null;
  /** First time it staged C for the next boot (counts as healthy only in waves with acceptPendingReboot). */
  stagedSinceMs: number | null;
}

function hostViews(events: readonly ObservedEvent[], rev: string, now: number): Map<string, HostView> {
  const views = new Map<string, HostView>();
  const sorted = events.filter((e) => e.rev === rev).sort((a, b) => a.timeMs - b.timeMs || a.seq - b.seq || a.host.localeCompare(b.host));
  for (const e of sorted) {
    const t = Math.min(e.timeMs, now);
    const v = views.get(e.host) ?? { failedAtMs: null, healthySinceMs: null, stagedSinceMs: null };
    if (isFailure(e)) {
      if (v.failedAtMs === null) v.failedAtMs = t;
    } else if (isHealthyOn(e, rev) && v.healthySinceMs === null) {
      v.healthySinceMs = t;
    } else if (isPendingRebootOn(e, rev) && v.stagedSinceMs === null) {
      v.stagedSinceMs = t;
    }
    views.set(e.host, v);
  }
  return views;
}

/**
 * Since when a member counts as healthy on C: verified healthy, or, in a
 * wave with acceptPendingReboot, staged for its next boot (operation boot).
 * An unverified boot deploy never counts otherwise.
 */
function healthySince(v: HostView | undefined, w: WaveSpec): number | null {
  if (!v) return null;
  return v.healthySinceMs ?? (w.acceptPendingReboot ? v.stagedSinceMs : null);
}

export function needFor(counted: number, maxUnavailable: number): number {
  return Math.max(counted - maxUnavailable, Math.min(counted, 1));
}

export function decide(input: DecideInput): RolloutDecision {
  const { fleet, rev, now } = input;
  const views = hostViews(input.events, rev, now);
  const recorded = new Map<string, RecordedDecision>();
  for (const d of input.decisions) if (d.rev === rev) recorded.set(`${d.wave}\u0000${d.state}`, d);
  const latched = (wave: string, state: string) => recorded.get(`${wave}\u0000${state}`);
  const pinnedHosts = new Set(fleet.hosts.filter((h) => h.pin).map((h) => h.name));
  const unreachableAfter = fleet.policy.unreachableAfterMs;
  const warnings: string[] = [];
  const ops = rolloutActions(input.actions ?? [], rev);
  const held = heldHosts(input.actions ?? []);

  const waves: WaveDecision[] = [];
  let haltedAtMs: number | null = latched(ROLLOUT, "halted")?.effectiveMs ?? null;
  let haltReason = haltedAtMs !== null ? (latched(ROLLOUT, "halted")?.reason ?? "halted earlier (recorded decision)") : "";
  // First pass: per-wave facts that do not depend on order.
  const facts = fleet.waves.map((w: WaveSpec) => {
    const counted = w.members.filter((m) => !pinnedHosts.has(m));
    const pinned = w.members.filter((m) => pinnedHosts.has(m));
    const failed = counted.filter((m) => views.get(m)?.failedAtMs != null);
    const unreachable = counted.filter((m) => {
      const seen = input.lastSeenMs[m];
      return seen === undefined || now - seen > unreachableAfter;
    });
    const gone = new Set(unreachable);
    const healthy = counted.filter((m) => healthySince(views.get(m), w) != null && views.get(m)?.failedAtMs == null && !gone.has(m));
    const need = needFor(counted.length, w.maxUnavailable);
    if (counted.length > 0 && w.maxUnavailable >= counted.length) {
      warnings.push(`wave "${w.name}": maxUnavailable ${w.maxUnavailable} ≥ its ${counted.length} members; it still needs 1 healthy host`);
    }
    let failAtMs: number | null = null;
    if (failed.length > w.maxUnavailable) {
      const times = failed.map((m) => views.get(m)!.failedAtMs!).sort((a, b) => a - b);
      failAtMs = times[w.maxUnavailable]!;
    }
    return { w, counted, pinned, failed, unreachable, healthy, need, failAtMs };
  });
  // The rollout halts at the earliest wave failure beyond its budget.
  for (const f of facts) {
    if (f.failAtMs !== null && (haltedAtMs === null || f.failAtMs < haltedAtMs)) {
      haltedAtMs = f.failAtMs;
      haltReason = `wave ${f.w.name}: ${f.failed.length} of ${f.counted.length} failed (${f.failed.join(", ")}), more than maxUnavailable ${f.w.maxUnavailable}`;
    }
  }
  // An operator's abort halts C at its instant, unless a failure halted it before.
  if (ops.aborted && (haltedAtMs === null || ops.aborted.timeMs < haltedAtMs)) {
    haltedAtMs = ops.aborted.timeMs;
    haltReason = describeMark("halted", ops.aborted);
  }

  let prevPromotedAt: number | null = input.observedAtMs;
  let prevName = "";
  for (const f of facts) {
    const { w } = f;
    let openedAtMs = prevPromotedAt;
    // approval: manual — the wave opens no earlier than an operator approved it for C.
    let approval: WaveDecision["approval"];
    let approvalHold: string | undefined;
    if (w.approval === "manual") {
      const by = ops.approvals.get(w.name);
      approval = by ? { state: "approved", by } : { state: "required" };
      if (!latched(w.name, "progressing") && openedAtMs !== null) {
        if (!by) {
          approvalHold = `waits for approval: flotilla rollout approve ${rev.slice(0, 12)} ${w.name} --reason …`;
          openedAtMs = null;
        } else {
          openedAtMs = afterPauses(Math.max(openedAtMs, by.timeMs), ops.pauses);
        }
      }
    }
    // Substitute-only members cannot build: hold the wave until the release covers them.
    let releaseHold: string | undefined;
    const subs = f.counted.filter((m) => fleet.delivery?.modes[m] === "substitute");
    if (openedAtMs !== null && subs.length > 0 && !latched(w.name, "progressing")) {
      const rel = input.release;
      const uncovered = rel?.state === "built" ? subs.filter((m) => !rel.hosts.includes(m)) : subs;
      if (uncovered.length > 0) {
        const what =
          !rel || rel.state === "missing"
            ? ""
            : rel.state === "built"
              ? `; it does not list ${uncovered.join(", ")}`
              : rel.state === "building"
                ? `; the controller is building it (${rel.reason ?? ""})`
                : rel.state === "failed"
                  ? `; the controller's build failed: ${(rel.reason ?? "").split("\n")[0]}`
                  : `; the published one is ${rel.state}: ${rel.reason ?? ""}`;
        releaseHold = `waiting for the release of ${rev.slice(0, 12)} (flotilla build --publish)${what}`;
        openedAtMs = null;
      } else if (rel?.atMs !== undefined) {
        openedAtMs = Math.max(openedAtMs, rel.atMs);
      }
    }
    let completeSinceMs: number | null = null;
    let soakUntilMs: number | null = null;
    let promotedAtMs: number | null = latched(w.name, "promoted")?.effectiveMs ?? null;
    let state: WaveState;
    let reason: string;
    const tally = `${f.healthy.length}/${f.counted.length} healthy`;

    const opensBeforeHalt = openedAtMs !== null && (haltedAtMs === null || openedAtMs <= haltedAtMs);
    if (promotedAtMs === null && opensBeforeHalt && f.healthy.length >= f.need) {
      const since = f.healthy.map((m) => healthySince(views.get(m), w)!).sort((a, b) => a - b);
      completeSinceMs = Math.max(openedAtMs!, f.need === 0 ? openedAtMs! : since[f.need - 1]!);
      soakUntilMs = completeSinceMs + w.soakMs;
      const blockedByHalt = haltedAtMs !== null && soakUntilMs > haltedAtMs;
      // Nothing is promoted while C is paused: a soak that ended during a pause promotes at the resume.
      const promoteAt = afterPauses(soakUntilMs, ops.pauses);
      if (promoteAt !== null && now >= promoteAt && !blockedByHalt && !input.supersededBy) promotedAtMs = promoteAt;
    }

    if (promotedAtMs !== null && completeSinceMs === null) {
      // Latched: report the recorded instants, not today's view of the hosts.
      completeSinceMs = latched(w.name, "soaking")?.effectiveMs ?? promotedAtMs - w.soakMs;
      soakUntilMs = promotedAtMs;
    }
    if (promotedAtMs !== null) {
      state = "promoted";
      reason = `${tally}; promoted`;
    } else if (f.failAtMs !== null && opensBeforeHalt) {
      state = "halted";
      reason = `${f.failed.length}/${f.counted.length} failed (${f.failed.join(", ")}); maxUnavailable ${w.maxUnavailable}`;
    } else if (haltedAtMs !== null) {
      state = "halted";
      reason = `rollout halted: ${haltReason}`;
    } else if (input.supersededBy) {
      state = "superseded";
      reason = `superseded by ${input.supersededBy.slice(0, 12)}`;
    } else if (releaseHold) {
      state = "pending";
      reason = releaseHold;
    } else if (approvalHold && prevPromotedAt !== null) {
      state = "pending";
      reason = approvalHold;
    } else if (openedAtMs === null) {
      state = "pending";
      reason = ops.paused ? `${describeMark("paused", ops.paused)}; waits for ${prevName}` : `waits for ${prevName}`;
    } else if (completeSinceMs !== null) {
      state = "soaking";
      reason = `${tally}; soaking until ${new Date(soakUntilMs!).toISOString()}`;
    } else {
      state = "progressing";
      const extra = f.unreachable.length ? `, unreachable: ${f.unreachable.join(", ")}` : "";
      const heldHere = f.counted.filter((m) => held.has(m));
      const holdText = heldHere.length ? `, held: ${heldHere.join(", ")}` : "";
      const pauseText = ops.paused ? `; ${describeMark("paused", ops.paused)}` : "";
      reason = `${tally}, need ${f.need}${extra}${holdText}${pauseText}`;
    }
    waves.push({
      name: w.name,
      index: w.index,
      state,
      members: [...w.members],
      counted: f.counted,
      pinned: f.pinned,
      healthy: f.healthy,
      failed: f.failed,
      unreachable: f.unreachable,
      need: f.need,
      maxUnavailable: w.maxUnavailable,
      soakMs: w.soakMs,
      openedAtMs: state === "pending" || (state === "halted" && !opensBeforeHalt) ? null : openedAtMs,
      completeSinceMs,
      soakUntilMs,
      promotedAtMs,
      reason,
      ...(releaseHold ? { releaseHold } : {}),
      ...(approval ? { approval } : {}),
    });
    prevPromotedAt = promotedAtMs;
    prevName = w.name;
  }

  let state: RolloutState;
  if (haltedAtMs !== null) state = "halted";
  else if (waves.every((w) => w.state === "promoted")) state = "complete";
  else if (input.supersededBy) state = "superseded";
  else state = "progressing";

  // Decisions reached now that are not yet recorded.
  const transitions: NewDecision[] = [];
  const add = (wave: string, st: string, effectiveMs: number | null, reason: string) => {
    if (effectiveMs === null || latched(wave, st)) return;
    transitions.push({ rev, wave, state: st, effectiveMs, reason });
  };
  for (const w of waves) {
    if (w.openedAtMs !== null) add(w.name, "progressing", w.openedAtMs, `wave ${w.name} opened`);
    if (w.completeSinceMs !== null) add(w.name, "soaking", w.completeSinceMs, `wave ${w.name}: ${w.healthy.length}/${w.counted.length} healthy, soaking ${w.soakMs}ms`);
    if (w.state === "promoted" && w.promotedAtMs !== null) add(w.name, "promoted", w.promotedAtMs, `wave ${w.name} promoted: ${w.reason}`);
    if (w.state === "halted" && w.failed.length > w.maxUnavailable) add(w.name, "halted", haltedAtMs, w.reason);
  }
  if (state === "halted") add(ROLLOUT, "halted", haltedAtMs, haltReason);
  if (state === "complete") add(ROLLOUT, "complete", Math.max(...waves.map((w) => w.promotedAtMs ?? 0), input.observedAtMs), "every wave promoted");
  if (state === "superseded") add(ROLLOUT, "superseded", now, `superseded by ${input.supersededBy}`);

  const summary = waves
    .map((w) => `${w.name} ${w.healthy.length}/${w.counted.length} healthy${w.state === "halted" && w.failed.length ? ` (${w.failed.length} failed)` : ""}`)
    .join(", ");
  return {
    rev, state, waves, transitions, summary: state === "halted" ? `halted: ${summary}` : summary, warnings,
    ...(input.release ? { release: input.release } : {}),
    aborted: ops.aborted, paused: state === "progressing" ? ops.paused : null, held,
  };
}

export type GateDecision = "open" | "wait" | "halted" | "superseded" | "pinned" | "unknown-revision" | "held" | "paused" | "aborted";

export interface Gate {
  decision: GateDecision;
  wave: string;
  reason: string;
  retryAfterMs?: number;
}

/** The gate answer for one host, from a rollout decision on the fleet at C. */
export function gateFor(fleet: Fleet, decision: RolloutDecision, host: string, now: number): Gate {
  const spec = hostSpec(fleet, host);
  if (!spec) return { decision: "unknown-revision", wave: "", reason: `host "${host}" is not in the fleet at ${decision.rev.slice(0, 12)}`, retryAfterMs: 30_000 };
  // Operator actions come first: every agent obeys them, also one that needs no gate (first wave, pinned).
  const hold = decision.held.get(host);
  if (hold) return { decision: "held", wave: spec.wave, reason: `${describeMark("held", hold)} (flotilla host release ${host})`, retryAfterMs: 60_000 };
  if (spec.pin) return { decision: "pinned", wave: spec.wave, reason: `pinned to ${spec.pin.slice(0, 12)}` };
  const wave = decision.waves.find((w) => w.name === spec.wave);
  if (!wave) return { decision: "unknown-revision", wave: spec.wave, reason: `wave "${spec.wave}" not found`, retryAfterMs: 30_000 };
  if (decision.aborted) return { decision: "aborted", wave: wave.name, reason: `rollout of ${decision.rev.slice(0, 12)} ${describeMark("aborted", decision.aborted)}` };
  if (decision.state === "halted") return { decision: "halted", wave: wave.name, reason: wave.reason.startsWith("rollout halted") ? wave.reason : `rollout halted: ${wave.reason}` };
  if (decision.state === "superseded") return { decision: "superseded", wave: wave.name, reason: "a newer commit is the branch head; fetch it" };
  if (decision.paused) return { decision: "paused", wave: wave.name, reason: `rollout of ${decision.rev.slice(0, 12)} ${describeMark("paused", decision.paused)}`, retryAfterMs: 60_000 };
  if (wave.openedAtMs !== null) return { decision: "open", wave: wave.name, reason: `wave ${wave.name} is open (${wave.state})` };
  if (wave.releaseHold) return { decision: "wait", wave: wave.name, reason: wave.releaseHold, retryAfterMs: 10_000 };
  if (wave.approval?.state === "required" && wave.state === "pending" && wave.reason.startsWith("waits for approval")) return { decision: "wait", wave: wave.name, reason: `wave ${wave.name} ${wave.reason}`, retryAfterMs: 30_000 };
  const prev = decision.waves[wave.index - 1];
  let retryAfterMs = 5_000;
  if (prev?.state === "soaking" && prev.soakUntilMs !== null) retryAfterMs = Math.max(1_000, Math.min(prev.soakUntilMs - now, 300_000));
  const prevText = prev ? `${prev.name} ${prev.state}: ${prev.reason}` : "";
  return { decision: "wait", wave: wave.name, reason: `wave ${wave.name} waits for ${prevText}`, retryAfterMs };
}
