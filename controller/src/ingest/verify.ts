/**
 * Verification of agent requests, in the order the protocol fixes: envelope
 * shape → known host → signature over the exact payload bytes (before the
 * payload is parsed) → payload schema → host match → time window → seq order.
 * Any failure rejects the whole request with a 4xx naming the place; nothing
 * is stored. Pure apart from the signature check.
 */
import { AgentMessage, GateQuery, RebootLeaseRequest, ReportBatch, SignedEnvelope, WatchQuery, type SignedEnvelope as Envelope } from "../../../schemas/src/api.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import { envelopeFromAuthorization, verifyEnvelope } from "../../../common/src/signing.js";
import { generateKeyPairSync } from "node:crypto";
import { HttpError, formatPath } from "../errors.js";
import { hostSpec } from "../rollout/host-index.js";
import type { z } from "zod";

export interface VerifyContext {
  fleet: Fleet | null;
  now: number;
  clockSkewMs: number;
  /** Reports older than this are refused as replays (seq is the main defence). */
  maxReportAgeMs: number;
}

export interface VerifiedMessage {
  message: AgentMessage;
  payload: string;
  sig: string;
  /** JSON.parse(payload), as parsed before the schema (kept so storing it without `log` need not parse it again). */
  raw: unknown;
}

function schemaError(error: z.ZodError, prefix: string, what: string): HttpError {
  const issue = error.issues[0]!;
  const path = formatPath(issue.path, prefix);
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : "";
  return new HttpError(400, "SchemaViolation", `${what}: ${path || "body"}: ${issue.message}${more}`, path || undefined);
}

function hostKeyOf(ctx: VerifyContext, host: string, path: string): string {
  if (!ctx.fleet) throw new HttpError(503, "FleetUnavailable", "the controller has no valid fleet file yet; retry later");
  const spec = hostSpec(ctx.fleet, host);
  if (!spec) throw new HttpError(403, "UnknownHost", `host "${host}" is not in the fleet file at the branch head`, path);
  return spec.hostKey;
}

function checkSignature(env: Envelope, key: string, path: string): void {
  if (!verifyEnvelope(env, key)) {
    throw new HttpError(401, "BadSignature", `signature of host "${env.host}" does not verify against its hostKey in the fleet file`, path);
  }
}

function parsePayload(env: Envelope, path: string): unknown {
  try {
    return JSON.parse(env.payload);
  } catch (cause) {
    throw new HttpError(400, "InvalidPayload", `payload is not JSON: ${(cause as Error).message}`, path, { cause });
  }
}

function checkTime(timeText: string, ctx: VerifyContext, maxAgeMs: number, path: string): number {
  const t = Date.parse(timeText);
  if (t > ctx.now + ctx.clockSkewMs) {
    throw new HttpError(400, "ClockSkew", `time ${timeText} is more than ${ctx.clockSkewMs / 1000}s ahead of the controller's clock (${new Date(ctx.now).toISOString()})`, path);
  }
  if (t < ctx.now - maxAgeMs) {
    throw new HttpError(400, "Replay", `time ${timeText} is older than the accepted window of ${Math.round(maxAgeMs / 1000)}s; refusing a possible replay`, path);
  }
  return t;
}

/** Checks the batch shape and the host; returns what the signature step needs. */
export function checkReportBatch(body: unknown, ctx: VerifyContext): { host: string; key: string; envelopes: Envelope[] } {
  const batch = ReportBatch.safeParse(body);
  if (!batch.success) throw schemaError(batch.error, "", "invalid report batch");
  const envs = batch.data.reports;
  const host = envs[0]!.host;
  envs.forEach((e, i) => {
    if (e.host !== host) throw new HttpError(400, "MixedHosts", `a batch carries one host's reports; reports[0] is from "${host}", this one from "${e.host}"`, `reports[${i}].host`);
  });
  return { host, key: hostKeyOf(ctx, host, "reports[0].host"), envelopes: envs };
}

/** After the signatures (one boolean per envelope): payload schema, host, time window, seq order. */
export function finishReportBatch(host: string, envs: Envelope[], sigOk: readonly boolean[], ctx: VerifyContext): { host: string; messages: VerifiedMessage[] } {
  const bad = sigOk.indexOf(false);
  if (bad >= 0) throw new HttpError(401, "BadSignature", `signature of host "${host}" does not verify against its hostKey in the fleet file`, `reports[${bad}].sig`);
  let prevSeq = 0;
  const messages = envs.map((env, i) => {
    const at = `reports[${i}]`;
    const raw = parsePayload(env, `${at}.payload`);
    const parsed = AgentMessage.safeParse(raw);
    if (!parsed.success) throw schemaError(parsed.error, `${at}.payload`, "invalid report");
    const m = parsed.data;
    if (m.host !== host) throw new HttpError(400, "HostMismatch", `payload names host "${m.host}" but the envelope is signed by "${host}"`, `${at}.payload.host`);
    checkTime(m.time, ctx, ctx.maxReportAgeMs, `${at}.payload.time`);
    if (m.seq <= prevSeq) throw new HttpError(400, "SeqOrder", `seq ${m.seq} does not follow ${prevSeq}: a batch must be in strictly increasing seq order`, `${at}.payload.seq`);
    prevSeq = m.seq;
    return { message: m, payload: env.payload, sig: env.sig, raw };
  });
  return { host, messages };
}

/** The whole check, verifying signatures inline. */
export function verifyReportBatch(body: unknown, ctx: VerifyContext): { host: string; messages: VerifiedMessage[] } {
  const { host, key, envelopes } = checkReportBatch(body, ctx);
  return finishReportBatch(host, envelopes, envelopes.map((e) => verifyEnvelope(e, key)), ctx);
}

export function verifyGateQuery(body: unknown, ctx: VerifyContext): GateQuery {
  const env = SignedEnvelope.safeParse(body);
  if (!env.success) throw schemaError(env.error, "", "invalid gate request");
  const key = hostKeyOf(ctx, env.data.host, "host");
  checkSignature(env.data, key, "sig");
  const q = GateQuery.safeParse(parsePayload(env.data, "payload"));
  if (!q.success) throw schemaError(q.error, "payload", "invalid gate query");
  if (q.data.host !== env.data.host) throw new HttpError(403, "HostMismatch", `a host may only ask for its own gate: payload names "${q.data.host}", signed by "${env.data.host}"`, "payload.host");
  // Gate questions are fresh: the window is the clock skew both ways.
  checkTime(q.data.time, ctx, ctx.clockSkewMs, "payload.time");
  return q.data;
}

/**
 * Stands in for the key of a host the fleet does not list, so an unknown
 * host's watch costs the same signature check as a known host's forged one
 * and gets the same answer: the 401 does not say whether the host exists.
 */
const NOBODY_KEY = (() => {
  const raw = (generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")}`;
})();

const WATCH_UNAUTHORIZED =
  "GET /api/v1/watch needs \"Authorization: Flotilla <base64url of a SignedEnvelope>\" whose payload is a WatchQuery signed by a host key of the fleet file";

/**
 * GET /api/v1/watch: the Authorization header carries a signed WatchQuery.
 * Missing, malformed, unknown host or bad signature: one and the same 401.
 * After a valid signature (the host itself asks): the host watches only
 * itself (403), `since` must be the signed one, the time within ±clockSkew.
 */
export function verifyWatchQuery(authorization: string | undefined, query: { host: string; since: string | null }, ctx: VerifyContext): WatchQuery {
  if (!ctx.fleet) throw new HttpError(503, "FleetUnavailable", "the controller has no valid fleet file yet; retry later");
  const env = SignedEnvelope.safeParse(envelopeFromAuthorization(authorization));
  if (!env.success) throw new HttpError(401, "Unauthorized", WATCH_UNAUTHORIZED, "Authorization");
  const key = hostSpec(ctx.fleet, env.data.host)?.hostKey;
  const ok = verifyEnvelope(env.data, key ?? NOBODY_KEY);
  if (!key || !ok) throw new HttpError(401, "Unauthorized", WATCH_UNAUTHORIZED, "Authorization");
  const q = WatchQuery.safeParse(parsePayload(env.data, "Authorization.payload"));
  if (!q.success) throw schemaError(q.error, "Authorization.payload", "invalid watch query");
  if (q.data.host !== env.data.host || query.host !== env.data.host) {
    throw new HttpError(403, "HostMismatch", `a host watches only itself: signed by "${env.data.host}", asking for "${query.host}"`, "host");
  }
  if (q.data.since !== query.since) throw new HttpError(400, "InvalidQuery", `since: ${query.since ?? "(empty)"} is not the signed since ${q.data.since ?? "(null)"}`, "since");
  checkTime(q.data.time, ctx, ctx.clockSkewMs, "Authorization.payload.time");
  return q.data;
}

/** POST /api/v1/reboot-lease: verified like a gate question (signature, own host only, fresh time). */
export function verifyRebootLeaseRequest(body: unknown, ctx: VerifyContext): RebootLeaseRequest {
  const env = SignedEnvelope.safeParse(body);
  if (!env.success) throw schemaError(env.error, "", "invalid reboot-lease request");
  const key = hostKeyOf(ctx, env.data.host, "host");
  checkSignature(env.data, key, "sig");
  const q = RebootLeaseRequest.safeParse(parsePayload(env.data, "payload"));
  if (!q.success) throw schemaError(q.error, "payload", "invalid reboot-lease request");
  if (q.data.host !== env.data.host) throw new HttpError(403, "HostMismatch", `a host may only take or release its own reboot lease: payload names "${q.data.host}", signed by "${env.data.host}"`, "payload.host");
  checkTime(q.data.time, ctx, ctx.clockSkewMs, "payload.time");
  return q.data;
}
