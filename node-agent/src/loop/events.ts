/**
 * Transition events as the loop drafts them; the reporter adds host, seq,
 * time and the signature. Health results travel with the event that
 * measured them, each naming its generation.
 */
import type { HealthResult, StepLog } from "../../../schemas/src/api.js";
import type { AgentPhase, Outcome } from "../../../schemas/src/conditions.js";
import type { Durations, ErrorRecord } from "./phases.js";

export interface EventDraft {
  phase: AgentPhase;
  outcome: Outcome;
  reason: string;
  rev: string | null;
  generation: string | null;
  previous?: { rev: string | null; generation: string | null };
  health?: HealthResult[];
  durations?: Durations;
  error?: ErrorRecord;
  message?: string;
  /**
   * On failure transitions: does the agent hold the revision responsible
   * (remember it in failedRevs)? The controller counts the event against the
   * revision exactly when this is true, so it never re-derives the agent's rule.
   */
  blamed?: boolean;
  /** NixOS: the generation needs a reboot to fully apply (kernel, initrd or modules differ from the booted system's). */
  needsReboot?: boolean;
  /** operation boot: staged for the next boot, health not verified yet. */
  pendingReboot?: boolean;
  /** The redacted, capped output tail of the step that made this transition (driver: first event of a step). */
  log?: StepLog;
}
