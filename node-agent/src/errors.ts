/**
 * One error class per failure point of the agent, each naming the step that
 * failed and keeping the underlying error as `cause` (deploy-rs style). Every
 * class carries its `reason` (schemas/src/conditions.ts) and a `kind` that
 * tells the loop what to do, as Flux does:
 *
 * - stalled: a human is needed (invalid fleet file, unsigned commit, a broken
 *   revision). Do not retry the same input.
 * - waiting: retry later without treating it as a failure (the gate is shut).
 * - retry:   transient (remote or controller unreachable): retry with backoff.
 */
import { REASONS, type Reason } from "../../schemas/src/conditions.js";

export type ErrorKind = "stalled" | "waiting" | "retry";

export abstract class AgentError extends Error {
  abstract readonly reason: Reason;
  abstract readonly kind: ErrorKind;
  /**
   * The failing step changed nothing on the host (set by the adapter that
   * knows: a profile that could not be set, secrets that failed before their
   * generation was switched). An activation failing this way ends in
   * `failed`, never in a rollback.
   */
  readonly unchanged: boolean;
  constructor(message: string, options?: { cause?: unknown; unchanged?: boolean }) {
    super(message, options);
    this.name = new.target.name;
    this.unchanged = options?.unchanged ?? false;
  }
}

/** Did the failing step say that it changed nothing on the host? */
export function changedNothing(e: unknown): boolean {
  return e instanceof AgentError && e.unchanged;
}

const make = (reason: Reason, kind: ErrorKind) =>
  class extends AgentError {
    readonly reason = reason;
    readonly kind = kind;
  };

export class ConfigError extends make(REASONS.InvalidFleetFile, "stalled") {}
export class StateFileError extends make(REASONS.Interrupted, "stalled") {}
export class AgentLockedError extends make(REASONS.Interrupted, "stalled") {}

// Fetch / source.
export class FetchError extends make(REASONS.FetchFailed, "retry") {}
export class NonFastForwardError extends make(REASONS.NonFastForward, "stalled") {}
export class UnsignedCommitError extends make(REASONS.UnsignedCommit, "stalled") {}
export class InvalidFleetFileError extends make(REASONS.InvalidFleetFile, "stalled") {}
export class HostNotInFleetError extends make(REASONS.HostNotInFleet, "stalled") {}
export class ControllerUnreachableError extends make(REASONS.ControllerUnreachable, "retry") {}

// Deploy steps (before activation: nothing changed on the host).
export class BuildError extends make(REASONS.BuildFailed, "stalled") {}

// Substituting a builder's release instead of building (loop/substitute.ts). Before
// activation, so nothing changed; remembered as failed like a build failure (no retry loop).
export class ReleaseMissingError extends make(REASONS.ReleaseMissing, "stalled") {}
export class ReleaseUntrustedError extends make(REASONS.ReleaseUntrusted, "stalled") {}
export class ReleaseMismatchError extends make(REASONS.ReleaseMismatch, "stalled") {}
export class NarinfoUntrustedError extends make(REASONS.NarinfoUntrusted, "stalled") {}
export class CachePathMissingError extends make(REASONS.CachePathMissing, "stalled") {}
export class CacheUnreachableError extends make(REASONS.CacheUnreachable, "stalled") {}
export class SubstituteMismatchError extends make(REASONS.SubstituteMismatch, "stalled") {}
export class SecretsError extends make(REASONS.SecretsFailed, "stalled") {}
export class PreDeployHookError extends make(REASONS.PreDeployHookFailed, "stalled") {}

// Activation and verification (the host changed: these lead to a rollback).
export class SetProfileError extends make(REASONS.ActivationFailed, "stalled") {}
export class SwitchError extends make(REASONS.ActivationFailed, "stalled") {}
export class LegacyAppError extends make(REASONS.ActivationFailed, "stalled") {}
export class GenerationMismatchError extends make(REASONS.ActivationFailed, "stalled") {}
export class HealthCheckError extends make(REASONS.HealthCheckFailed, "stalled") {}
export class ConnectivityLostError extends make(REASONS.ConnectivityLost, "stalled") {}
export class InterruptedError extends make(REASONS.Interrupted, "retry") {}
export class PostDeployHookError extends make(REASONS.PostDeployHookFailed, "stalled") {}

// Rollback: its own path, its own errors.
export class NoPreviousGenerationError extends make(REASONS.RollbackFailed, "stalled") {}
export class RollbackSetProfileError extends make(REASONS.RollbackFailed, "stalled") {}
export class RollbackSwitchError extends make(REASONS.RollbackFailed, "stalled") {}
export class RollbackLegacyAppError extends make(REASONS.RollbackFailed, "stalled") {}
export class RollbackVerifyError extends make(REASONS.RollbackFailed, "stalled") {}

// Reporting (never fatal for a deploy).
export class ReportDeliveryError extends make(REASONS.ControllerUnreachable, "retry") {}

/** Reason and message of any thrown value, for events and the state file. */
export function errorInfo(e: unknown): { reason: Reason | string; message: string } {
  if (e instanceof AgentError) return { reason: e.reason, message: e.message.slice(0, 8000) };
  const message = e instanceof Error ? e.message : String(e);
  return { reason: "Unexpected", message: message.slice(0, 8000) };
}

export function errorKind(e: unknown): ErrorKind {
  return e instanceof AgentError ? e.kind : "retry";
}
