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
 * results name the generation and revision they were measured on (nixfleet
 * RFC-0005: never infer transitions from periodic check-ins).
 */
import { z } from "zod";
import { AGENT_PHASES, OUTCOMES, WAVE_STATES } from "./conditions.js";
import { CommitSha, HostName, Timestamp } from "./common.js";

export const SIGNATURE_DOMAIN = "flotilla-v1\n";
export const API_PREFIX = "/api/v1";

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
export const WATCH_AUTH_SCHEME = "Flotilla";

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

/** POST {API_PREFIX}/gate with a SignedEnvelope whose payload is a GateQuery. */
export const GateAnswer = z
  .strictObject({
    host: HostName,
    rev: CommitSha,
    decision: z.enum(["open", "wait", "halted", "superseded", "pinned", "unknown-revision"]),
    wave: z.string(),
    reason: z.string(),
    retryAfterMs: z.number().int().min(0).optional(),
  })
  .describe("Controller → agent: the wave gate for one host and revision.");
export type GateAnswer = z.infer<typeof GateAnswer>;

/** GET {API_PREFIX}/watch?host=H&since=<sha>&timeoutMs=N with a signed WatchQuery (Authorization: Flotilla …): long-poll nudge. */
export const Nudge = z
  .strictObject({
    head: CommitSha.nullable().describe("The branch head the controller knows."),
    changed: z.boolean().describe("True when head differs from `since` (or `gate` is set); false when the long-poll timed out."),
    gate: z.boolean().optional().describe("True when this host's wave gate opened for the head: ask the gate again now (head may equal `since`)."),
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

/**
 * Error codes for which the controller will never accept the report named by
 * `path` (reports[i]…), whatever the agent retries: the agent sets that report
 * aside (kept on disk, logged) so the rest of its queue is delivered.
 */
export const PERMANENT_REPORT_ERRORS: ReadonlySet<string> = new Set(["Replay", "SchemaViolation", "InvalidPayload", "HostMismatch"]);

/**
 * Error codes that refuse every message of the host, whatever it sends, until
 * an operator or the controller's next fetch of the fleet repo changes
 * something (the host or its key is not in the fleet file the controller
 * knows, the controller has no fleet yet, it is overloaded). The agent keeps
 * its queue and tries again later; splitting or setting aside would not help.
 */
export const HOST_WIDE_REPORT_ERRORS: ReadonlySet<string> = new Set(["UnknownHost", "BadSignature", "FleetUnavailable", "RateLimited"]);
export type ApiError = z.infer<typeof ApiError>;

// ---------------------------------------------------------------- status report

export const HostStatus = z.strictObject({
  host: HostName,
  kind: z.enum(["nixos", "legacy"]),
  wave: z.string(),
  pinned: CommitSha.nullable(),
  desiredRev: CommitSha.nullable(),
  currentRev: CommitSha.nullable(),
  generation: z.string().nullable(),
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
  release: z
    .strictObject({
      state: z.enum(["built", "missing", "untrusted", "invalid"]),
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
  kind: z.enum(["event", "decision"]),
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
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditReport = z.strictObject({ generatedAt: Timestamp, entries: z.array(AuditEntry) }).describe("`flotilla audit --json`.");
export type AuditReport = z.infer<typeof AuditReport>;
