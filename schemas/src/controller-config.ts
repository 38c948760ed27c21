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
    logLevel: z.enum(["debug", "info", "warn", "error"]).optional(),
    logFormat: z
      .enum(["text", "json"])
      .optional()
      .describe('Log line format: "text" (`level component: msg key=value`) or "json" (one object per line: time, level, component, msg, fields). Default: FLOTILLA_LOG_FORMAT, else "text". Under systemd (JOURNAL_STREAM set) lines carry a `<N>` syslog priority prefix either way.'),
  })
  .describe("flotilla controller configuration.");
export type ControllerConfig = z.infer<typeof ControllerConfig>;
