/**
 * The controller's HTTP API (Hono). Agent routes are authenticated by the
 * signed envelopes they carry (the watch's in its Authorization header); operator routes (status, audit, dashboard,
 * metrics) by bearer tokens; the GitHub webhook by its HMAC signature. One
 * onError renders every HttpError as {error, message, path}.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { API_PREFIX, type ApiError } from "../../../schemas/src/api.js";
import type { Logger } from "../../../common/src/log.js";
import type { Coordinator } from "../coordinator.js";
import { HttpError } from "../errors.js";
import type { FleetView } from "../follower/follower.js";
import { verifyWebhookSignature } from "../github/webhook.js";
import type { Metrics } from "../metrics.js";
import { renderAuditMarkdown, renderAuditText, renderStatusMarkdown, renderStatusText } from "../report/render-text.js";
import { registerActionRoutes } from "./actions.js";
import { bearer, OperatorAuth, roleAllows, TOKEN_COOKIE } from "./auth.js";
import { hostLogs } from "./host-logs.js";
import { mountDashboard } from "./dashboard.js";
import { enumParam, intParam, sinceParam } from "./query.js";

export interface AppOptions {
  coordinator: Coordinator;
  fleet: FleetView;
  auth: OperatorAuth;
  metrics: Metrics | null;
  log: Logger;
  maxBodyBytes: number;
  webhookSecret: string | null;
  branch: string;
  /** Longest long-poll a client may ask for. */
  maxWatchMs?: number;
  /** Whether the request's connection is beyond limits.maxConnections (given the node-server env); see connections.ts. */
  overCapacity?: (env: unknown) => boolean;
}

/** Most audit entries one answer carries (and the default). */
export const MAX_AUDIT_LIMIT = 10_000;
const FORMATS = ["json", "text", "markdown"] as const;

const SHA = /^[0-9a-f]{40}$/;

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") throw new HttpError(400, "EmptyBody", "expected a JSON body");
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HttpError(400, "InvalidJson", `body is not JSON: ${(cause as Error).message}`, undefined, { cause });
  }
}

export function createApp(o: AppOptions): Hono {
  const app = new Hono();
  const maxWatch = o.maxWatchMs ?? 60_000;

  // Every refusal is counted here, once (the coordinator's own hook is not wired).
  const refused = (code: string) => o.metrics?.rejected.inc({ code });
  app.onError((err, c) => {
    if (err instanceof HttpError) {
      refused(err.code);
      if (err.code === "TooManyConnections") c.header("connection", "close");
      const body: ApiError = { error: err.code, message: err.message, ...(err.path ? { path: err.path } : {}), ...(err.lastSeq !== undefined ? { lastSeq: err.lastSeq } : {}) };
      return c.json(body, err.status as ContentfulStatusCode);
    }
    o.log.error("request failed", { method: c.req.method, path: c.req.path, error: err.message });
    return c.json({ error: "InternalError", message: err.message } satisfies ApiError, 500);
  });
  app.notFound((c) => (refused("NotFound"), c.json({ error: "NotFound", message: `no route for ${c.req.method} ${c.req.path}` } satisfies ApiError, 404)));

  // Beyond limits.maxConnections only /healthz is served; the 503 closes the connection.
  app.use("*", async (c, next) => {
    if (o.overCapacity?.(c.env) && c.req.path !== "/healthz") {
      throw new HttpError(503, "TooManyConnections", "the controller is at limits.maxConnections open connections; retry later");
    }
    await next();
  });

  const limit = bodyLimit({
    maxSize: o.maxBodyBytes,
    onError: () => {
      throw new HttpError(413, "PayloadTooLarge", `request body exceeds ${o.maxBodyBytes} bytes`);
    },
  });

  const operator = async (c: Context, next: () => Promise<void>) => {
    const presented = bearer(c.req.header("authorization")) ?? getCookie(c, TOKEN_COOKIE);
    const who = o.auth.identify(presented);
    if (!who && !o.auth.allowAnonymous) {
      // Missing and wrong tokens are both 401; the message says which, so an operator with a stale token knows.
      throw new HttpError(401, "Unauthorized", presented ? "the operator token was rejected: it matches no operator token of this controller" : "an operator bearer token is required (Authorization: Bearer <token>)");
    }
    if (who && !roleAllows(who.role, c.req.method)) throw new HttpError(403, "Forbidden", `operator token "${who.name}" has role read: it may only read`);
    await next();
  };

  app.get("/healthz", (c) => c.json({ ok: true, head: o.fleet.head() }));

  // ---- agent API (signed)
  app.post(`${API_PREFIX}/reports`, limit, async (c) => c.json(await o.coordinator.ingest(await jsonBody(c))));
  app.post(`${API_PREFIX}/gate`, limit, async (c) => c.json(await o.coordinator.gate(await jsonBody(c))));
  app.post(`${API_PREFIX}/reboot-lease`, limit, async (c) => c.json(await o.coordinator.rebootLease(await jsonBody(c))));
  app.get(`${API_PREFIX}/watch`, async (c) => {
    const host = c.req.query("host");
    const since = c.req.query("since") ?? null;
    if (!host) throw new HttpError(400, "InvalidQuery", "host: expected a host name, got none", "host");
    if (since !== null && since !== "" && !SHA.test(since)) throw new HttpError(400, "InvalidQuery", `since: expected a 40-hex commit id, got ${JSON.stringify(since.slice(0, 40))}`, "since");
    const t = intParam(c.req.query("timeoutMs"), "timeoutMs", 0, 86_400_000) ?? 30_000;
    return c.json(await o.coordinator.watch(c.req.header("authorization"), { host, since: since || null }, Math.min(t, maxWatch), c.req.raw.signal));
  });

  // ---- GitHub webhook (HMAC)
  app.post(`${API_PREFIX}/github/webhook`, limit, async (c) => {
    if (!o.webhookSecret) throw new HttpError(404, "WebhookDisabled", "github.webhookSecret is not configured");
    const raw = await c.req.text();
    if (!verifyWebhookSignature(o.webhookSecret, raw, c.req.header("x-hub-signature-256"))) {
      throw new HttpError(401, "BadSignature", "X-Hub-Signature-256 does not match the body and the configured webhook secret", "X-Hub-Signature-256");
    }
    const event = c.req.header("x-github-event") ?? "";
    if (event === "ping") return c.json({ ok: true, event });
    if (event !== "push") return c.json({ ok: true, event, ignored: true }, 202);
    let ref = "";
    try {
      ref = (JSON.parse(raw) as { ref?: string }).ref ?? "";
    } catch (cause) {
      throw new HttpError(400, "InvalidJson", "webhook body is not JSON", undefined, { cause });
    }
    if (ref !== `refs/heads/${o.branch}`) return c.json({ ok: true, event, ignored: true, ref }, 202);
    await o.fleet.poke("webhook");
    return c.json({ ok: true, event, head: o.fleet.head() });
  });

  // ---- operator API
  // An operator ends a host's reboot lease (docs/operations.md, "Reboots"): needs the operate role and a reason.
  app.post(`${API_PREFIX}/hosts/:host/reboot-lease/release`, operator, async (c) => {
    const body = (await jsonBody(c)) as { reason?: unknown } | null;
    const reason = typeof body?.reason === "string" ? body.reason.trim() : "";
    if (!reason) throw new HttpError(400, "InvalidBody", 'reason: expected a non-empty string saying why the lease is released, e.g. {"reason": "web-1 repaired by hand"}', "reason");
    return c.json(await o.coordinator.reboots.operatorRelease(c.req.param("host") ?? "", reason));
  });
  app.get(`${API_PREFIX}/status`, operator, async (c) => {
    const format = enumParam(c.req.query("format"), "format", FORMATS);
    const report = await o.coordinator.status({ host: c.req.query("host"), wave: c.req.query("wave") });
    if (format === "text") return c.text(renderStatusText(report));
    if (format === "markdown") return c.text(renderStatusMarkdown(report));
    return c.json(report);
  });
  app.get(`${API_PREFIX}/audit`, operator, async (c) => {
    const format = enumParam(c.req.query("format"), "format", FORMATS);
    const limit = intParam(c.req.query("limit"), "limit", 1, MAX_AUDIT_LIMIT) ?? MAX_AUDIT_LIMIT;
    const report = await o.coordinator.audit({ sinceMs: sinceParam(c.req.query("since"), Date.now()), host: c.req.query("host"), limit });
    if (format === "text") return c.text(renderAuditText(report));
    if (format === "markdown") return c.text(renderAuditMarkdown(report));
    return c.json(report);
  });
  registerActionRoutes(app, { coordinator: o.coordinator, auth: o.auth, limit, read: operator });
  app.get(`${API_PREFIX}/hosts/:host/logs`, operator, async (c) => {
    const known = async (h: string) => (o.fleet.currentFleet()?.hosts.some((x) => x.name === h) ?? false) || (await o.coordinator.store.hostState(h)) !== null;
    return c.json(await hostLogs(o.coordinator.store, known, c.req.param("host") ?? "", { rev: c.req.query("rev"), limit: c.req.query("limit") }));
  });
  app.get("/metrics", operator, async (c) => {
    if (!o.metrics) throw new HttpError(404, "MetricsDisabled", "metrics are disabled");
    return c.text(await o.metrics.registry.metrics(), 200, { "content-type": o.metrics.registry.contentType });
  });
  mountDashboard(app, { coordinator: o.coordinator, auth: o.auth });
  return app;
}
