/**
 * The controller's config file (`flotilla serve --config controller.yaml`).
 */
import { z } from "zod";
import { durationAtMost } from "./common.js";

export const SecretRef = z
  .union([
    z.strictObject({ value: z.string().min(1) }),
    z.strictObject({ file: z.string().min(1) }),
    z.strictObject({ env: z.string().min(1) }),
  ])
  .describe("A secret given inline, read from a file, or read from an environment variable.");

export const NOTIFY_EVENT_KINDS = ["rollout-halted", "rollout-complete", "host-stalled", "host-stale", "operator-action"] as const;

export const NotifyTarget = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: "expected a short name (letters, digits, . _ -)" }).describe("Names the target in logs and metrics (the URL never appears there: a Slack webhook URL is itself a secret)."),
    url: z
      .union([z.url({ protocol: /^https?$/ }), SecretRef])
      .describe('Where to POST: an http(s) URL, or a secret reference to one ({ file: … } / { env: … }) for URLs that carry a token, as Slack incoming webhooks do.'),
    format: z
      .enum(["webhook", "slack"])
      .optional()
      .describe('"webhook": the event as JSON, signed when `secret` is set. "slack": a Slack-compatible incoming-webhook body `{"text": …}` with a readable line. Default "webhook".'),
    secret: SecretRef.optional().describe("HMAC-SHA256 key: each request carries `X-Flotilla-Signature-256: sha256=<hex of HMAC(secret, body)>`."),
    events: z.array(z.enum(NOTIFY_EVENT_KINDS)).min(1).optional().describe("Only these event kinds go to this target. Default: all."),
    timeout: durationAtMost("5m").optional().describe('Per request. Default "10s".'),
  })
  .describe("One notification target.");

export const NotifyConfig = z
  .strictObject({
    targets: z.array(NotifyTarget).min(1),
    maxAttempts: z.number().int().min(1).max(100).optional().describe("Delivery attempts per notification (backoff 1s, 2s, 4s … capped at maxBackoff) before it is dropped, counted and logged. Default 10."),
    maxBackoff: durationAtMost("1h").optional().describe('Longest wait between two attempts. Default "5m".'),
    queueSize: z.number().int().min(1).max(1_000_000).optional().describe("Notifications waiting per target; when full, the oldest is dropped (counted and logged). Default 1000."),
  })
  .describe("Notifications of rollout and host events to webhooks (docs/controller.md §7).");

export const ControllerConfig = z
  .strictObject({
    listen: z.string().regex(/^[^\s]+:\d+$/, { message: 'expected "host:port"' }).optional().describe('Default "127.0.0.1:8480".'),
    publicUrl: z.url().optional().describe("URL shown in GitHub statuses and the dashboard."),
    dataDir: z.string().min(1).optional().describe('Default "/var/lib/flotilla-controller".'),
    database: z
      .string()
      .regex(/^(sqlite:.*|postgres(ql)?:\/\/.+)$/, { message: 'expected "sqlite:<path>" or "postgres://…"' })
      .optional()
      .describe('Default "sqlite:<dataDir>/flotilla.db".'),
    fleet: z.strictObject({
      remotes: z.array(z.string().min(1)).min(1),
      branch: z.string().min(1).optional(),
      pollInterval: durationAtMost("1d").optional().describe('Default "30s" (ETag-friendly; a webhook makes it instant), at most "1d".'),
    }),
    github: z
      .strictObject({
        repo: z.string().regex(/^[^/\s]+\/[^/\s]+$/, { message: 'expected "owner/name"' }),
        token: SecretRef.optional().describe("Default: env GITHUB_TOKEN."),
        apiUrl: z.url().optional().describe('Default "https://api.github.com".'),
        webhookSecret: SecretRef.optional(),
        statusContext: z.string().optional().describe('Default "flotilla/rollout".'),
      })
      .optional(),
    auth: z
      .strictObject({
        operatorTokens: z
          .array(
            z.strictObject({
              name: z.string().min(1),
              token: SecretRef,
              role: z
                .enum(["read", "operate"])
                .optional()
                .describe('"read": GET status, audit, dashboard and /metrics, never anything that changes state (for a Prometheus scraper). "operate": everything an operator token opens. Default "operate".'),
            }),
          )
          .optional(),
        allowAnonymousRead: z.boolean().optional().describe("Serve status and dashboard without a token. Default false."),
      })
      .optional(),
    limits: z
      .strictObject({
        maxBodyBytes: z.number().int().min(1024).optional().describe("Default 1 MiB."),
        clockSkew: durationAtMost("1d").optional().describe('Reports dated further in the future are rejected. Default "5m", at most "1d".'),
        requestTimeout: durationAtMost("1h").optional().describe(
          'Deadline for receiving a whole request (headers and body); slower clients get 408 and are disconnected. Long-poll watches are not affected: their request is complete once the headers arrive. Default "30s".',
        ),
        logTailsPerHost: z
          .number()
          .int()
          .min(0)
          .max(10_000)
          .optional()
          .describe("Output tails (the agent's step logs, at most 8 KiB each) kept per host: the newest transitions' tails; older ones are deleted as new ones arrive. 0 keeps none. Default 50."),
        maxConnections: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe(
            "Open connections served normally. Beyond it, a connection gets 503 TooManyConnections (and is closed) for everything except /healthz, for 32 more connections; beyond those, new connections are closed at once. Size: 3 per agent + operators (docs/controller.md). Default 4096.",
          ),
      })
      .optional(),
    notify: NotifyConfig.optional(),
    builder: z
      .strictObject({
        caches: z
          .array(z.string().min(1))
          .min(1)
          .describe("Nix store URLs the closures are copied to (`nix copy --to`): file:///srv/cache, http(s)://host (PUT), s3://bucket?region=…, ssh://host. Hosts substitute from fleet.yaml delivery.caches, which may be another URL of the same cache."),
        signingKey: z.string().min(1).describe("File with the Nix secret key (`nix key generate-secret`) that signs every store path; its public half goes in delivery.caches[].publicKey. Relative to the config file."),
        builderKey: z.string().min(1).describe("File with the OpenSSH ed25519 private key that signs release manifests; its public key must be in delivery.builders of the trusted fleet file. Relative to the config file."),
        name: z.string().min(1).max(200).optional().describe('Builder name recorded in manifests. Default "controller@<hostname>".'),
        remote: z.string().min(1).optional().describe("Where release refs are pushed (where the agents look). Default: the first of fleet.remotes."),
        timeout: durationAtMost("1d").optional().describe('A build running longer is cancelled and reported failed. Default "2h".'),
      })
      .optional()
      .describe("Controller as builder, for teams without CI: on each new head the controller runs `flotilla build` itself (every host, sign, copy to the caches, publish the release ref), one build at a time; a newer head cancels an older build. docs/delivery.md."),
    logLevel: z.enum(["debug", "info", "warn", "error"]).optional(),
    logFormat: z
      .enum(["text", "json"])
      .optional()
      .describe('Log line format: "text" (`level component: msg key=value`) or "json" (one object per line: time, level, component, msg, fields). Default: FLOTILLA_LOG_FORMAT, else "text". Under systemd (JOURNAL_STREAM set) lines carry a `<N>` syslog priority prefix either way.'),
  })
  .describe("flotilla controller configuration.");
export type ControllerConfig = z.infer<typeof ControllerConfig>;
