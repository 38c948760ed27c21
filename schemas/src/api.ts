/**
 * The wire protocol between agents and the controller (JSON over HTTP).
 *
 * Agent → controller messages are signed envelopes: `payload` is the exact
 * JSON text that was signed, `sig` the base64 ed25519 signature by the host's
 * SSH host key over `SIGNATURE_DOMAIN + payload` (UTF-8). The controller
 * verifies against `hostKey` in the fleet file *before* parsing the payload,
 * then validates the payload against these schemas.
 *
 * Every transition is its own event with the agent's timestamp, and health
 * results name the generation and revision they were measured on (transitions
 * come from these events, never inferred from periodic check-ins; docs/controller.md).
 */
import { z } from "zod";
import { AGENT_PHASES, OUTCOMES, WAVE_STATES } from "./conditions.js";
import { CommitSha, HostName, Timestamp } from "./common.js";
import { LOG_TAIL_MAX_BYTES } from "./api-constants.js";
import { named } from "./custom-checks.js";

export { API_PREFIX, HOST_WIDE_REPORT_ERRORS, PERMANENT_REPORT_ERRORS, SIGNATURE_DOMAIN, WATCH_AUTH_SCHEME } from "./api-constants.js";

export const SignedEnvelope = z
  .strictObject({
    v: z.literal(1),
    host: HostName,
    alg: z.literal("ssh-ed25519"),
    payload: z.string().min(2).max(1_000_000).describe("The signed JSON text of a message."),
    sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, { message: "expected a base64 ed25519 signature (64 bytes)" }),
  })
  .describe("A message signed with the host's ssh-ed25519 key.");
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;

export const HealthResult = z.strictObject({
  check: z.string().describe("Check name."),
  ok: z.boolean(),
  detail: z.string().max(2000).optional().describe("Short, secret-free explanation (status code, exit code…)."),
  time: Timestamp.describe("When this result was measured."),
  rev: CommitSha.describe("Revision the measured generation was built from."),
  generation: z.string().describe("Out path (NixOS) or legacy deploy id the result was measured on."),
  attempts: z.number().int().min(1).optional(),
});
export type HealthResult = z.infer<typeof HealthResult>;

export const ErrorInfo = z.strictObject({
  reason: z.string().describe("PascalCase reason token (schemas/src/conditions.ts)."),
  message: z.string().max(8000),
});

const MessageBase = {
  host: HostName,
  seq: z.number().int().min(1).describe("Per-host sequence number, strictly increasing across all messages; (host, seq) is the idempotency key."),
  time: Timestamp.describe("When the agent observed it (see skewedTime)."),
  skewedTime: Timestamp.optional().describe(
    "Set when the controller refused `time` as ahead of its clock (ClockSkew): the time the agent's clock gave when it observed this. `time` is then when the agent re-signed the report, on the controller's clock (it happened no later than that).",
  ),
  agentVersion: z.string().max(100),
};

export { LOG_TAIL_MAX_BYTES } from "./api-constants.js";
export const LOG_STEPS = ["build", "preDeploy", "activate", "verify", "postDeploy", "rollback"] as const;

export const StepLog = z
  .strictObject({
    step: z.enum(LOG_STEPS).describe("The step whose commands printed it."),
    text: z
      .string()
      .max(LOG_TAIL_MAX_BYTES)
      .refine(named((t: string) => Buffer.byteLength(t, "utf8") <= LOG_TAIL_MAX_BYTES, { name: "maxUtf8Bytes", max: LOG_TAIL_MAX_BYTES }), { message: `expected at most ${LOG_TAIL_MAX_BYTES} UTF-8 bytes` })
      .describe("The last lines of stdout and stderr of each command, each command headed by `$ <command> (exit N)`; ANSI escapes and control characters removed, the values of the host's secrets replaced by ***."),
    truncated: z.boolean().describe("Earlier output was cut (the text then starts with a marker line)."),
  })
  .describe("The tail of one deploy step's output, as the agent sent it.");
export type StepLog = z.infer<typeof StepLog>;

export const TransitionEvent = z
  .strictObject({
    type: z.literal("event"),
    ...MessageBase,
    phase: z.enum(AGENT_PHASES),
    outcome: z.enum(OUTCOMES),
    reason: z.string().describe("PascalCase reason token."),
    rev: CommitSha.nullable().describe("The revision this transition concerns (the target)."),
    generation: z.string().nullable().describe("Out path / deploy id concerned, when known."),
    previous: z
      .strictObject({ rev: CommitSha.nullable(), generation: z.string().nullable() })
      .optional()
      .describe("What ran before (for activations and rollbacks)."),
    health: z.array(HealthResult).optional(),
    durations: z.record(z.string(), z.number().min(0)).optional().describe("Milliseconds per step (fetch, build, activate, verify…)."),
    error: ErrorInfo.optional(),
    message: z.string().max(8000).optional(),
    blamed: z
      .boolean()
      .optional()
      .describe(
        "On failure transitions: whether the agent holds this revision responsible (remembers it as failed). false for an interruption the agent forgives (a restart mid-switch, until the same revision is interrupted twice in a row); the controller counts the event as a failure only when this is true. Absent: the controller judges by phase and outcome (agents before this field).",
      ),
    needsReboot: z
      .boolean()
      .optional()
      .describe("NixOS: the generation concerned has another kernel, initrd or kernel modules than the booted system (/run/booted-system), so it only fully applies after a reboot. Absent: not known (legacy hosts, no booted system)."),
    pendingReboot: z
      .boolean()
      .optional()
      .describe("operation boot: the generation is staged for the next boot and not running yet, so its health is unverified (`done` with reason PendingReboot). The agent verifies it after the host has booted it."),
    log: StepLog.optional().describe("The redacted, capped tail of what the commands of the step that made this transition printed (build, activation, hooks, command checks, rollback). Absent when they printed nothing."),
  })
  .describe("One transition of the agent's deploy state machine.");
export type TransitionEvent = z.infer<typeof TransitionEvent>;

export const Heartbeat = z
  .strictObject({
    type: z.literal("heartbeat"),
    ...MessageBase,
    phase: z.enum(AGENT_PHASES),
    currentRev: CommitSha.nullable(),
    currentGeneration: z.string().nullable(),
    targetRev: CommitSha.nullable(),
    healthy: z.boolean().nullable(),
    queueLength: z.number().int().min(0),
    failedRevs: z.array(CommitSha).optional(),
  })
  .describe("Periodic liveness and current state.");
export type Heartbeat = z.infer<typeof Heartbeat>;

export const GateQuery = z
  .strictObject({
    type: z.literal("gate"),
    host: HostName,
    rev: CommitSha,
    time: Timestamp,
    nonce: z.string().min(8).max(64),
  })
  .describe("May this host deploy this revision now? Signed like reports; answered, never stored as a report.");
export type GateQuery = z.infer<typeof GateQuery>;

/**
 * GET {API_PREFIX}/watch is authenticated like the gate: the agent signs a
 * WatchQuery and sends the SignedEnvelope in the Authorization header as
 * `Flotilla <base64url(JSON of the envelope)>` (WATCH_AUTH_SCHEME). A host
 * watches only itself.
 */
export const WatchQuery = z
  .strictObject({
    type: z.literal("watch"),
    host: HostName,
    since: CommitSha.nullable().describe("The head the agent knows (the `since` query parameter, which must equal it)."),
    time: Timestamp.describe("When the agent signed it; accepted within ±clockSkew of the controller's clock."),
  })
  .describe("A long-poll for this host, signed like a gate question; sent in the Authorization header of GET /api/v1/watch.");
export type WatchQuery = z.infer<typeof WatchQuery>;

export const AgentMessage = z.discriminatedUnion("type", [TransitionEvent, Heartbeat]);
export type AgentMessage = z.infer<typeof AgentMessage>;

/** POST {API_PREFIX}/reports: a batch of envelopes, delivered in seq order. */
export const ReportBatch = z.strictObject({ reports: z.array(SignedEnvelope).min(1).max(500) });
export type ReportBatch = z.infer<typeof ReportBatch>;

export const ReportAck = z.strictObject({
  accepted: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  lastSeq: z.number().int().min(0).describe("Highest seq stored for this host; the agent drops its queue up to here."),
});
export type ReportAck = z.infer<typeof ReportAck>;

/**
 * An operator's `flotilla host retry HOST [REV]`, as the agent receives it
 * (in a GateAnswer or a Nudge): forget that failed revision, and leave
 * rollbackFailed by rolling back again. The agent applies each id once and
 * remembers it in its state, so a revision that fails again is not retried
 * again by the same directive.
 */
export const RetryDirective = z
  .strictObject({
    id: z.number().int().min(1).describe("The operator action's id (idempotency key)."),
    rev: CommitSha.describe("The failed revision to forget."),
  })
  .describe("Controller → agent: an operator vouched for retrying a failed revision on this host.");
export type RetryDirective = z.infer<typeof RetryDirective>;

/** POST {API_PREFIX}/gate with a SignedEnvelope whose payload is a GateQuery. */
export const GateAnswer = z
  .strictObject({
    host: HostName,
    rev: CommitSha,
    decision: z
      .enum(["open", "wait", "halted", "superseded", "pinned", "unknown-revision", "held", "paused", "aborted"])
      .describe(
        "held (an operator holds this host), paused and aborted (an operator paused or aborted this revision's rollout) are operator actions: every agent obeys them, also a host of the first wave or a pinned one (held only) that does not need the gate to proceed.",
      ),
    wave: z.string(),
    reason: z.string(),
    retryAfterMs: z.number().int().min(0).optional(),
    retry: RetryDirective.optional(),
  })
  .describe("Controller → agent: the wave gate for one host and revision.");
export type GateAnswer = z.infer<typeof GateAnswer>;

/** POST {API_PREFIX}/reboot-lease with a SignedEnvelope whose payload is a RebootLeaseRequest (FleetLock-style semaphore). */
export const RebootLeaseRequest = z
  .strictObject({
    type: z.literal("reboot-lease"),
    host: HostName,
    action: z.enum(["take", "release"]).describe("take: before rebooting; release: after booting, with what was booted."),
    generation: z.string().min(1).max(1000).describe("The generation the host must boot (take), or was expected to boot (release)."),
    booted: z.string().min(1).max(1000).optional().describe("release: the generation the host booted. A release whose `booted` is not `generation` keeps the lease (blocked)."),
    time: Timestamp,
    nonce: z.string().min(8).max(64),
  })
  .describe("Agent → controller: take or release this host's reboot lease. Signed like a gate question; answered, never stored as a report.");
export type RebootLeaseRequest = z.infer<typeof RebootLeaseRequest>;

export const RebootLeaseAnswer = z
  .strictObject({
    host: HostName,
    granted: z.boolean().describe("take: the host holds the lease and may reboot now. release: the lease is gone."),
    reason: z.string(),
    expiresAt: Timestamp.nullable().describe("take, granted: the lease's expiry."),
    retryAfterMs: z.number().int().min(0).optional(),
  })
  .describe("Controller → agent: the reboot lease answer.");
export type RebootLeaseAnswer = z.infer<typeof RebootLeaseAnswer>;

/** GET {API_PREFIX}/watch?host=H&since=<sha>&timeoutMs=N with a signed WatchQuery (Authorization: Flotilla …): long-poll nudge. */
export const Nudge = z
  .strictObject({
    head: CommitSha.nullable().describe("The branch head the controller knows."),
    changed: z.boolean().describe("True when head differs from `since` (or `gate` is set); false when the long-poll timed out."),
    gate: z.boolean().optional().describe("True when this host's wave gate opened for the head, or an operator acted on this host or its rollout: ask the gate again now (head may equal `since`)."),
    retry: RetryDirective.optional().describe("The newest operator retry for this host (the agent applies each id once)."),
  })
  .describe("Controller → agent: fetch now.");
export type Nudge = z.infer<typeof Nudge>;

export const ApiError = z.strictObject({
  error: z.string().describe("PascalCase error code."),
  message: z.string(),
  path: z.string().optional().describe("Where in the body the problem is."),
  lastSeq: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("With error SeqBehind: the highest seq stored for this host. An agent whose counter fell behind (state dir wiped or restored) renumbers its queue above it."),
});


export type ApiError = z.infer<typeof ApiError>;

// ---------------------------------------------------------------- status report

/** Who did an operator action, when and why (status marks). */
export const ActionMark = z.strictObject({ id: z.number().int().min(1), actor: z.string(), reason: z.string(), time: Timestamp });
export type ActionMark = z.infer<typeof ActionMark>;
export const WindowStatus = z.strictObject({
  open: z.boolean().describe("Open at report time: the host may start a deploy or a reboot."),
  nextOpen: Timestamp.nullable().describe("When closed: the next opening (null when open, or when it does not open within 9 days)."),
  source: z.string().describe('Where the window is declared: `wave "web"` or `windows[0]`.'),
});
export type WindowStatus = z.infer<typeof WindowStatus>;

export const HostRebootStatus = z.strictObject({
  policy: z.enum(["never", "auto"]),
  state: z
    .enum(["none", "holding", "blocked"])
    .describe("none: holds no lease; holding: holds the reboot lease (rebooting, until it is back on the expected generation); blocked: its lease expired before it came back on the expected generation, which blocks further reboots fleet-wide until it recovers or an operator releases the lease."),
  expectedGeneration: z.string().nullable().describe("The generation the host must boot (while holding or blocked)."),
  leaseExpires: Timestamp.nullable(),
});
export type HostRebootStatus = z.infer<typeof HostRebootStatus>;

export const HostStatus = z.strictObject({
  host: HostName,
  kind: z.enum(["nixos", "legacy"]),
  wave: z.string(),
  pinned: CommitSha.nullable(),
  desiredRev: CommitSha.nullable(),
  currentRev: CommitSha.nullable(),
  generation: z
    .string()
    .nullable()
    .describe(
      "What currentRev runs as on the host, from its agent's last report: on NixOS the system's store path (the toplevel the system profile points at, /nix/store/…-nixos-system-…); on a legacy host the program of the fleet app that deployed it (apps.<system>.<app>.program, a store path). Two hosts on the same revision can have different generations; a rollback returns to the previous one. null before the host's first report.",
    ),
  phase: z.enum(AGENT_PHASES).nullable(),
  health: z.enum(["Healthy", "Progressing", "Degraded", "Unknown"]),
  lastSeen: Timestamp.nullable(),
  stale: z.boolean(),
  drift: z.boolean().describe("currentRev differs from desiredRev outside an active rollout."),
  since: Timestamp.nullable().describe("When the current revision became active."),
  failedRevs: z.array(CommitSha),
  lastError: ErrorInfo.nullable(),
  needsReboot: z.boolean().describe("NixOS: what the host runs (or has staged) needs a reboot to fully apply: its kernel, initrd or kernel modules differ from the booted system's."),
  pendingReboot: z.boolean().describe("operation boot: a generation is staged for the next boot and not verified yet (health Progressing until the host has booted it)."),
  held: ActionMark.nullable().optional().describe("Set while an operator holds this host on what it runs (`flotilla host hold`)."),
  window: WindowStatus.optional().describe("The host's maintenance window at report time; absent when it has none (always open)."),
  reboot: HostRebootStatus.optional().describe("Reboot coordination (fleet `reboot:`); absent when the host's policy is never and it holds no lease."),
});
export type HostStatus = z.infer<typeof HostStatus>;

export const WaveStatus = z.strictObject({
  name: z.string(),
  state: z.enum(WAVE_STATES),
  members: z.array(HostName).describe("Members that gate the wave (pinned members excluded)."),
  pinned: z.array(HostName).optional().describe("Members pinned at this commit: never gated, never counted."),
  healthy: z.number().int().min(0).describe("Members healthy on this commit, out of `members`."),
  openedAt: Timestamp.nullable(),
  soakUntil: Timestamp.nullable(),
  reason: z.string().optional(),
  approval: z
    .strictObject({ state: z.enum(["required", "approved"]), by: ActionMark.optional() })
    .optional()
    .describe("Waves declared `approval: manual`: required until `flotilla rollout approve REV WAVE`, then approved (by whom, why)."),
  window: WindowStatus.extend({
    waiting: z.array(HostName).describe("Counted members whose own window is closed now: the wave waits for them (not halted)."),
  })
    .optional()
    .describe("The wave's `window`, or, when members have their own, which of them are outside theirs; absent when no member has a window."),
});

export const RolloutStatus = z.strictObject({
  rev: CommitSha,
  time: Timestamp.nullable().describe("Commit time."),
  subject: z.string().nullable().describe("The commit's subject line (git), shown with the PR title on the dashboard."),
  author: z.string().nullable().describe("The commit's git author."),
  pr: z
    .strictObject({ number: z.number().int(), title: z.string(), author: z.string().nullable(), mergedBy: z.string().nullable(), url: z.string().nullable() })
    .nullable(),
  state: z.enum(["progressing", "complete", "halted", "superseded"]),
  reason: z.string().optional().describe("Why the rollout is halted when no wave says it (e.g. an unusable fleet file)."),
  waves: z.array(WaveStatus),
  paused: ActionMark.nullable().optional().describe("Set while an operator has paused this rollout: no wave opens and no host starts it (hosts mid-deploy finish)."),
  aborted: ActionMark.nullable().optional().describe("Set when an operator aborted this rollout (final: it is halted, no further host takes it)."),
  release: z
    .strictObject({
      state: z
        .enum(["built", "missing", "untrusted", "invalid", "building", "failed"])
        .describe("built: a verified release covers this commit; missing: none yet; untrusted / invalid: the published one is refused; building: the controller's builder is building it; failed: the controller's build failed (reason: the builder's error, redacted and capped)."),
      reason: z.string().optional(),
      hosts: z.array(z.string()).describe("Hosts the verified manifest covers."),
    })
    .optional()
    .describe("The release of this commit (refs/flotilla/releases/<rev>) as the controller verified it; waves with `delivery: substitute` members open only once it is `built` and covers them."),
});
export type RolloutStatus = z.infer<typeof RolloutStatus>;

export const StatusReport = z
  .strictObject({
    generatedAt: Timestamp,
    branch: z.string(),
    head: CommitSha.nullable(),
    hosts: z.array(HostStatus),
    rollouts: z.array(RolloutStatus),
  })
  .describe("The fleet status report (`flotilla status --json`).");
export type StatusReport = z.infer<typeof StatusReport>;

export const AuditEntry = z.strictObject({
  time: Timestamp,
  host: HostName.nullable(),
  kind: z.enum(["event", "decision", "action"]).describe("event: an agent transition; decision: a rollout decision; action: an operator action (phase = the action, message = the operator's reason, actor = who)."),
  phase: z.string(),
  outcome: z.string(),
  reason: z.string(),
  rev: CommitSha.nullable(),
  pr: z.number().int().nullable(),
  title: z.string().nullable(),
  author: z.string().nullable(),
  mergedBy: z.string().nullable(),
  durations: z.record(z.string(), z.number()).nullable(),
  message: z.string().nullable(),
  skewedTime: Timestamp.optional().describe("The agent's own, refused timestamp when its clock ran ahead (`time` is then when it re-sent the event)."),
  actor: z.string().optional().describe("kind action: the operator token's name."),
  wave: z.string().optional().describe("kind action: the wave approved."),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditReport = z.strictObject({ generatedAt: Timestamp, entries: z.array(AuditEntry) }).describe("`flotilla audit --json`.");
export type AuditReport = z.infer<typeof AuditReport>;

// ---------------------------------------------------------------- operator actions

export const OPERATOR_ACTIONS = ["pause", "resume", "abort", "approve", "retry", "hold", "release"] as const;
export type OperatorActionKind = (typeof OPERATOR_ACTIONS)[number];

/** Body of POST /api/v1/rollouts/{rev}/{pause,resume,abort,approve} and /api/v1/hosts/{host}/{retry,hold,release}. */
export const ActionRequest = z
  .strictObject({
    reason: z.string().trim().min(1, { message: "a reason is required: say why (it is recorded in the audit)" }).max(2000),
    wave: z.string().min(1).max(200).optional().describe("approve: the wave to open (declared approval: manual)."),
    rev: z.string().regex(/^[0-9a-f]{4,40}$/, { message: "expected a commit id or an unambiguous prefix of it (hex)" }).optional().describe("retry: the failed revision (default: the host's latest failed revision)."),
  })
  .describe("An operator action's arguments.");
export type ActionRequest = z.infer<typeof ActionRequest>;

export const OperatorAction = z
  .strictObject({
    id: z.number().int().min(1),
    action: z.enum(OPERATOR_ACTIONS),
    rev: CommitSha.nullable().describe("The rollout acted on (pause, resume, abort, approve) or the revision to retry."),
    wave: z.string().nullable().describe("approve: the wave approved."),
    host: HostName.nullable().describe("retry, hold, release: the host."),
    reason: z.string(),
    actor: z.string().describe("The operator token's name."),
    time: Timestamp,
  })
  .describe("One recorded operator action (the answer of every action endpoint).");
export type OperatorAction = z.infer<typeof OperatorAction>;

export const ActionList = z.strictObject({ actions: z.array(OperatorAction).describe("Newest first.") }).describe("GET /api/v1/actions.");
export type ActionList = z.infer<typeof ActionList>;
export const HostLogEntry = z.strictObject({
  time: Timestamp.describe("The agent's timestamp of the transition."),
  seq: z.number().int().min(1).describe("The event's seq (per host)."),
  rev: CommitSha.nullable(),
  phase: z.enum(AGENT_PHASES),
  outcome: z.enum(OUTCOMES),
  step: z.enum(LOG_STEPS),
  text: z.string(),
  truncated: z.boolean(),
});
export type HostLogEntry = z.infer<typeof HostLogEntry>;

export const HostLogs = z
  .strictObject({ host: HostName, entries: z.array(HostLogEntry).describe("Newest first.") })
  .describe("GET /api/v1/hosts/{host}/logs and `flotilla logs HOST --json`: the output tails the controller keeps for a host.");
export type HostLogs = z.infer<typeof HostLogs>;
