/**
 * Status vocabulary, after Flux's conditions: the agent reports phases and
 * outcomes; the controller derives conditions (Fetched, Built, Activated,
 * Healthy, Ready) from them in one place. Reasons are PascalCase tokens.
 */
export const AGENT_PHASES = [
  "idle", // nothing to do; on the target or waiting
  "fetched", // new target resolved and fetched
  "built", // target built (out path known)
  "activating", // switching; previous generation recorded
  "verifying", // health checks + connectivity on the new generation
  "done", // verified healthy on the target
  "rollingBack", // restoring the recorded previous generation
  "rolledBack", // previous generation restored and re-verified
  "failed", // deploy failed before activation (nothing changed) or a human is needed
  "rollbackFailed", // the rollback itself failed: loud, needs a human
  "firstDeployFailed", // a first deploy failed after switching: no previous generation to return to; stalled until retry or a newer commit
  "selfUpdate", // agent self-update steps
] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

export const OUTCOMES = ["started", "succeeded", "failed", "refused", "skipped", "waiting"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const CONDITION_TYPES = ["Fetched", "Built", "Activated", "Healthy", "Ready"] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** Reasons carried in events and conditions. */
export const REASONS = {
  Succeeded: "Succeeded",
  Progressing: "Progressing",
  FetchFailed: "FetchFailed",
  NonFastForward: "NonFastForward",
  UnsignedCommit: "UnsignedCommit",
  InvalidFleetFile: "InvalidFleetFile",
  HostNotInFleet: "HostNotInFleet",
  GateWaiting: "GateWaiting",
  GateHalted: "GateHalted",
  ControllerUnreachable: "ControllerUnreachable",
  OperatorHold: "OperatorHold", // an operator holds this host (flotilla host hold); it keeps what it runs
  OperatorPaused: "OperatorPaused", // an operator paused the rollout of the head (flotilla rollout pause)
  OperatorAborted: "OperatorAborted", // an operator aborted the rollout of the head (flotilla rollout abort)
  OperatorRetry: "OperatorRetry", // an operator vouched for retrying a failed revision (flotilla host retry)
  BuildFailed: "BuildFailed",
  SecretsFailed: "SecretsFailed",
  PreDeployHookFailed: "PreDeployHookFailed",
  ActivationFailed: "ActivationFailed",
  HealthCheckFailed: "HealthCheckFailed",
  ConnectivityLost: "ConnectivityLost",
  PostDeployHookFailed: "PostDeployHookFailed",
  RolledBack: "RolledBack",
  RollbackFailed: "RollbackFailed",
  PreviouslyFailed: "PreviouslyFailed",
  Interrupted: "Interrupted",
  NoPreviousGeneration: "NoPreviousGeneration", // a host's first deploy failed after switching: nothing to roll back to
  PendingReboot: "PendingReboot", // operation boot: staged for the next boot; health unverified until the host has booted it
  // Self-update (phase "selfUpdate"; node-agent/src/self-update/).
  SelfUpdateFailed: "SelfUpdateFailed", // a step failed, or the new agent did not come up healthy
  SelfUpdateBuilt: "SelfUpdateBuilt", // the new agent is built (started: more steps follow)
  SelfTestPassed: "SelfTestPassed", // its `self-test` passed
  SelfTestFailed: "SelfTestFailed",
  AgentProfileSwitched: "AgentProfileSwitched", // the agent profile points at it; exiting 75 to restart into it
  ProfileSwitchFailed: "ProfileSwitchFailed",
  SelfUpdateConfirmed: "SelfUpdateConfirmed", // the new agent reported within the health deadline
  AgentUpToDate: "AgentUpToDate", // the built agent is the one running
  SelfUpdateUnsupported: "SelfUpdateUnsupported", // not started by flotilla-agent-start: a profile switch would not be picked up
  AgentCrashLoop: "AgentCrashLoop", // the new agent did not stay up; the start wrapper went back
  AgentHealthDeadline: "AgentHealthDeadline", // the new agent could not report within healthDeadline and restored the previous one
  // Build once, substitute everywhere (delivery: substitute; docs/delivery.md). All before activation: nothing changed.
  Substituted: "Substituted", // the target's out path was realised from a binary cache, as the signed release names it
  ReleaseMissing: "ReleaseMissing", // no release manifest for the target revision appeared within delivery.wait
  ReleaseUntrusted: "ReleaseUntrusted", // the manifest is unsigned, badly signed, malformed, or signed by a key not in delivery.builders
  ReleaseMismatch: "ReleaseMismatch", // the manifest is for another revision, or does not name this host (stale or misplaced)
  NarinfoUntrusted: "NarinfoUntrusted", // a cache offered the path with no valid signature by a key in delivery.caches
  CachePathMissing: "CachePathMissing", // no configured cache has the out path
  CacheUnreachable: "CacheUnreachable", // no configured cache answered
  SubstituteMismatch: "SubstituteMismatch", // the realised path is not the manifest's out path
  // Maintenance windows and reboot coordination (docs/operations.md).
  OutsideWindow: "OutsideWindow", // the host's maintenance window is closed: it starts no deploy or reboot until it opens
  RebootLeaseWaiting: "RebootLeaseWaiting", // reboot wanted, but the controller's lease is held by others (or blocked)
  Rebooting: "Rebooting", // lease taken; the reboot command runs
  RebootVerified: "RebootVerified", // back up on the expected generation; lease released
  RebootUnexpectedGeneration: "RebootUnexpectedGeneration", // back up, but not on the expected generation: the lease stays and blocks further reboots
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

export const HEALTH_STATES = ["Healthy", "Progressing", "Degraded", "Unknown"] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export const WAVE_STATES = ["pending", "progressing", "soaking", "promoted", "halted", "superseded"] as const;
export type WaveState = (typeof WAVE_STATES)[number];
