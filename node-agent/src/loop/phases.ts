/**
 * The one persisted value that says where the agent is: a discriminated union
 * on `phase`, each variant carrying only the data valid in it. The driver
 * saves it atomically before every step that cannot be undone.
 *
 *   idle ─poll─▶ fetched ─build─▶ built ─hook, save─▶ activating ─switch─▶ verifying ─checks─▶ done
 *                   │                │                    │   │                │
 *                   ▼                ▼                    │   ▼                ▼
 *                failed           failed   failed ◀───────┘ rollingBack ◀──── rollingBack
 *                               (nothing switched yet)          │
 *                                          rolledBack ◀─────────┼──▶ rollbackFailed
 *                                                               ▼
 *                                       firstDeployFailed (no previous generation)
 *
 * Resting phases (idle, done, failed, rolledBack) start the next poll;
 * rollbackFailed is stalled until an operator runs `flotilla-agent retry`;
 * firstDeployFailed is stalled too but keeps polling: a newer commit that has
 * not failed deploys, and `flotilla-agent retry` deploys the same one again.
 */
import type { AgentPhase, Reason } from "../../../schemas/src/conditions.js";
import type { HealthResult } from "../../../schemas/src/api.js";

/**
 * 2: phase firstDeployFailed, FailedRev.generation. A version-1 file is a
 * valid version-2 state (migrateState); an older agent refuses a version-2
 * file with a clear error instead of misreading it.
 */
export const STATE_VERSION = 2;
export const READABLE_STATE_VERSIONS: readonly number[] = [1, 2];

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
      /** operation boot: staged for the next boot, not verified; verified once the host has booted it. */
      pendingReboot?: boolean;
      /** The generation needs a reboot to fully apply (kernel, initrd or modules differ from the booted system's). */
      needsReboot?: boolean;
      /** Reboot coordination (loop/reboot.ts): the lease is held and the reboot command ran; `failed` once it booted something else. */
      reboot?: { generation: string; bootedBefore: string | null; issued?: boolean; failed?: boolean };
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
  | ({ phase: "rollbackFailed"; generation: string; previous: Previous | null; error: ErrorRecord; rollbackError: ErrorRecord } & InCycle)
  | ({
      /** A first deploy failed after switching and nothing ran before: the host runs `generation`, unverified. */
      phase: "firstDeployFailed";
      generation: string;
      error: ErrorRecord;
      health: HealthResult[];
    } & InCycle);

export type Phase = Cycle["phase"];
export type CycleIn<P extends Phase> = Extract<Cycle, { phase: P }>;

export const RESTING: ReadonlySet<Phase> = new Set(["idle", "done", "failed", "rolledBack"]);
export const STALLED: ReadonlySet<Phase> = new Set(["rollbackFailed", "firstDeployFailed"]);

export interface FailedRev {
  rev: string;
  reason: string;
  time: string;
  /** The generation it left running when there was nothing to roll back to (firstDeployFailed). */
  generation?: string;
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
  /**
   * Ids of operator retry directives from the controller this agent applied
   * (newest last, bounded): each is applied once, so a revision that fails
   * again after a retry is not retried again by the same directive. Absent in
   * states written before operator actions.
   */
  appliedActions?: number[];
  updatedAt: string;
}

/** A state file of any readable version as the current version (null: not a state this agent can read). */
export function migrateState(parsed: { version?: unknown; cycle?: { phase?: unknown } }): AgentState | null {
  if (!READABLE_STATE_VERSIONS.includes(parsed.version as number) || typeof parsed.cycle?.phase !== "string") return null;
  // 1 → 2: nothing to convert (2 only added a phase and an optional field).
  return { ...(parsed as AgentState), version: STATE_VERSION };
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
