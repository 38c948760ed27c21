/**
 * The one persisted value that says where the agent is: a discriminated union
 * on `phase`, each variant carrying only the data valid in it. The driver
 * saves it atomically before every step that cannot be undone.
 *
 *   idle ─poll─▶ fetched ─build─▶ built ─hook, save─▶ activating ─switch─▶ verifying ─checks─▶ done
 *                   │                │                    │                    │
 *                   ▼                ▼                    ▼                    ▼
 *                failed           failed             rollingBack ◀──────── rollingBack
 *                                                        │
 *                                          rolledBack ◀──┴──▶ rollbackFailed
 *
 * Resting phases (idle, done, failed, rolledBack) start the next poll;
 * rollbackFailed is stalled until an operator runs `flotilla-agent retry`.
 */
import type { AgentPhase, Reason } from "../../../schemas/src/conditions.js";
import type { HealthResult } from "../../../schemas/src/api.js";

export const STATE_VERSION = 1;

/** Something that ran on the host: a revision and its generation (out path or legacy app path). */
export interface Deployed {
  rev: string;
  generation: string;
}

/** What ran before an activation: the exact generation path (rev unknown when the agent did not deploy it). */
export interface Previous {
  rev: string | null;
  generation: string;
}

export interface Target {
  rev: string;
  /** The branch head whose fleet.yaml chose this target. */
  head: string;
  kind: "nixos" | "legacy";
  resolution: "pinned" | "head" | "gate-open";
  /** The remote that answered; the connectivity check asks it again after activation. */
  remote: string;
  /** The last trusted head whose fleet judged this head; its delivery.builders and caches are trusted for substitution. */
  policyHead?: string;
}

export interface ErrorRecord {
  reason: Reason | string;
  message: string;
}

export type Durations = Record<string, number>;

interface InCycle {
  target: Target;
  startedAt: string;
  durations: Durations;
}

/** What the agent could reach before activation; only these must still answer afterwards. */
export interface Reach {
  remote: string;
  controller: boolean;
}

export type Cycle =
  | { phase: "idle" }
  | ({ phase: "fetched" } & InCycle)
  | ({ phase: "built"; generation: string } & InCycle)
  | ({ phase: "activating"; generation: string; previous: Previous | null; reach: Reach; attempt: number } & InCycle)
  | ({ phase: "verifying"; generation: string; previous: Previous | null; reach: Reach; attempt: number } & InCycle)
  | ({
      phase: "done";
      generation: string;
      previous: Previous | null;
      /** "pending": the finishing step (post-deploy hook, pruning) has not run yet. */
      postDeploy: "pending" | "ok" | "failed" | "none";
      health: HealthResult[];
    } & InCycle)
  | ({
      phase: "rollingBack";
      generation: string;
      previous: Previous | null;
      reach: Reach;
      error: ErrorRecord;
      /** Remember the target as failed (false when the cause was an interruption, not the revision). */
      blameTarget: boolean;
      attempt: number;
      health: HealthResult[];
    } & InCycle)
  | ({ phase: "rolledBack"; generation: string; previous: Previous; error: ErrorRecord; health: HealthResult[] } & InCycle)
  | { phase: "failed"; target: Target | null; head: string | null; error: ErrorRecord; startedAt: string; durations: Durations }
  | ({ phase: "rollbackFailed"; generation: string; previous: Previous | null; error: ErrorRecord; rollbackError: ErrorRecord } & InCycle);

export type Phase = Cycle["phase"];
export type CycleIn<P extends Phase> = Extract<Cycle, { phase: P }>;

export const RESTING: ReadonlySet<Phase> = new Set(["idle", "done", "failed", "rolledBack"]);
export const STALLED: ReadonlySet<Phase> = new Set(["rollbackFailed"]);

export interface FailedRev {
  rev: string;
  reason: string;
  time: string;
}

export interface LastOutcome {
  time: string;
  phase: AgentPhase;
  outcome: string;
  reason: string;
  rev: string | null;
  message?: string;
}

export interface AgentState {
  version: typeof STATE_VERSION;
  host: string;
  cycle: Cycle;
  /** The last generation verified healthy on this host (what a rollback returns to). */
  current: Deployed | null;
  /** Last head whose fleet file was accepted; its policy judges the next head (fast-forward, signers). */
  trustedHead: string | null;
  /** Last head fully evaluated; the no-change poll compares against it. */
  lastHead: string | null;
  /** Head we already reported a wait/refusal for (so a poll does not repeat the event). */
  noticedHead: string | null;
  failedRevs: FailedRev[];
  lastOutcome: LastOutcome | null;
  /** How many times an activation of `cycle.target` was interrupted (crash mid-switch). */
  interruptions: { rev: string; count: number } | null;
  updatedAt: string;
}

export function initialState(host: string, now: string): AgentState {
  return {
    version: STATE_VERSION,
    host,
    cycle: { phase: "idle" },
    current: null,
    trustedHead: null,
    lastHead: null,
    noticedHead: null,
    failedRevs: [],
    lastOutcome: null,
    interruptions: null,
    updatedAt: now,
  };
}

export function isResting(c: Cycle): boolean {
  return RESTING.has(c.phase);
}

/** The revision a cycle concerns (its target), if any. */
export function cycleRev(c: Cycle): string | null {
  return "target" in c && c.target ? c.target.rev : null;
}
