// The notifier against real HTTP receivers on 127.0.0.1: signed webhook
// bodies, the Slack format, per-target filters, in-order delivery to a
// receiver that is down for a while, bounded retries and queues, shutdown.
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { freePort } from "../../../test/helpers/free-port.js";
import { WebhookReceiver } from "../../../test/helpers/webhook-receiver.js";
import { Notifier, type DropReason } from "./notifier.js";
import type { NotifyEvent, NotifyOptions, NotifyTargetOptions } from "./types.js";

const SECRET = "hmac-secret-do-not-log-0123456789";
const REV = "1a2b3c4d5e6f1a2b3c4d5e6f1a2b3c4d5e6f1a2b";

let n = 0;
function event(over: Partial<NotifyEvent> = {}): NotifyEvent {
  n++;
  return {
    id: `ev-${n}`, kind: "rollout-halted", rev: REV, subject: `commit ${n}`, hosts: ["canary-1"], reason: `reason ${n}`,
    time: new Date(Date.UTC(2026, 11, 2, 7, 0, n)).toISOString(), url: `https://flotilla.example.org/?rev=${REV}`, wave: "canary", ...over,
  };
}

function target(url: string, over: Partial<NotifyTargetOptions> = {}): NotifyTargetOptions {
  return { name: "hook", url, format: "webhook", secret: SECRET, events: null, timeoutMs: 2_000, ...over };
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function notifier(targets: NotifyTargetOptions[], over: Partial<NotifyOptions> = {}) {
  const log = memoryLogger("notify");
  const counts = { delivered: 0, failed: 0, dropped: [] as DropReason[] };
  const nf = new Notifier({ options: { targets, maxAttempts: 10, maxBackoffMs: 200, queueSize: 100, minBackoffMs: 20, ...over }, log });
  nf.hooks = { delivered: () => counts.delivered++, failedAttempt: () => counts.failed++, dropped: (_t, _k, r) => counts.dropped.push(r) };
  stops.push(() => nf.stop(0));
  return { nf, log, counts };
}

async function receiver(port?: number) {
  const r = await WebhookReceiver.start(port);
  stops.push(() => r.down());
  return r;
}

/** What a receiver does: HMAC-SHA256 of the raw body with the shared secret, compared in constant time. */
function verifies(secret: string, body: string, header: string | string[] | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const got = Buffer.from(String(header ?? ""));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe("Notifier", () => {
  it("posts the event as JSON with a valid HMAC-SHA256 signature over the body", async () => {
    const r = await receiver();
    const { nf } = notifier([target(r.url)]);
    const e = event();
    nf.emit(e);
    await nf.idle();
    expect(r.requests).toHaveLength(1);
    const req = r.requests[0]!;
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["x-flotilla-event"]).toBe("rollout-halted");
    expect(req.headers["x-flotilla-delivery"]).toBe(e.id);
    expect(verifies(SECRET, req.body, req.headers["x-flotilla-signature-256"])).toBe(true);
    expect(verifies("another secret", req.body, req.headers["x-flotilla-signature-256"])).toBe(false);
    expect(verifies(SECRET, req.body.replace("canary-1", "canary-2"), req.headers["x-flotilla-signature-256"])).toBe(false);
    expect(JSON.parse(req.body)).toEqual(e);
  });

  it("sends no signature header without a secret", async () => {
    const r = await receiver();
    const { nf } = notifier([target(r.url, { secret: null })]);
    nf.emit(event());
    await nf.idle();
    expect(r.requests[0]!.headers["x-flotilla-signature-256"]).toBeUndefined();
  });

  it("Slack format: {text} with a readable line, mrkdwn-escaped, with the dashboard link", async () => {
    const r = await receiver();
    const { nf } = notifier([target(r.url, { format: "slack", secret: null })]);
    nf.emit(event({ subject: "bump <nginx> & co", hosts: ["canary-1", "web-1"], reason: "1/1 failed (canary-1); maxUnavailable 0" }));
    await nf.idle();
    const body = JSON.parse(r.requests[0]!.body);
    expect(Object.keys(body)).toEqual(["text"]);
    expect(body.text).toBe(
      `*Rollout halted* \`1a2b3c4d5e6f\` "bump &lt;nginx&gt; &amp; co" wave canary on canary-1, web-1 — 1/1 failed (canary-1); maxUnavailable 0 <https://flotilla.example.org/?rev=${REV}|dashboard>`,
    );
  });

  it("sends each target only the kinds it asked for", async () => {
    const [all, halts] = [await receiver(), await receiver()];
    const { nf } = notifier([target(all.url, { name: "all" }), target(halts.url, { name: "halts", events: ["rollout-halted"] })]);
    expect(nf.wants("host-stale")).toBe(true);
    nf.emit(event({ kind: "host-stale" }));
    nf.emit(event({ kind: "rollout-halted" }));
    nf.emit(event({ kind: "rollout-complete" }));
    await nf.idle();
    expect(all.requests.map((q) => q.headers["x-flotilla-event"])).toEqual(["host-stale", "rollout-halted", "rollout-complete"]);
    expect(halts.requests.map((q) => q.headers["x-flotilla-event"])).toEqual(["rollout-halted"]);
    const { nf: only } = notifier([target(halts.url, { events: ["rollout-halted"] })]);
    expect(only.wants("host-stale")).toBe(false);
  });

  it("a receiver down for a while (refused, then 500s, then up) gets every notification once, in order", async () => {
    const port = await freePort(); // nothing listens: connection refused
    const { nf, counts, log } = notifier([target(`http://127.0.0.1:${port}/hook`)]);
    const events = Array.from({ length: 5 }, (_, i) => event({ kind: i % 2 ? "host-stalled" : "rollout-halted" }));
    for (const e of events) nf.emit(e);
    await waitUntil(() => counts.failed >= 2, "two refused attempts");
    const r = await receiver(port);
    r.status = 500;
    await waitUntil(() => r.requests.length >= 3, "three 500 answers");
    r.status = 200;
    await nf.idle();
    expect(r.accepted.map((q) => JSON.parse(q.body).id)).toEqual(events.map((e) => e.id));
    // Every request before the first success was for the first event: the others waited behind it.
    const first = r.requests.findIndex((q) => q.status === 200);
    expect(new Set(r.requests.slice(0, first + 1).map((q) => JSON.parse(q.body).id))).toEqual(new Set([events[0]!.id]));
    expect(counts.delivered).toBe(5);
    expect(counts.dropped).toEqual([]);
    expect(log.lines.some((l) => /notification delivery failed/.test(l) && /ECONNREFUSED/.test(l))).toBe(true);
    expect(log.lines.some((l) => /HTTP 500/.test(l))).toBe(true);
  });

  it("gives up after maxAttempts: dropped, counted and logged (never silently); the next one still goes", async () => {
    const r = await receiver();
    r.status = 503;
    const { nf, counts, log } = notifier([target(r.url)], { maxAttempts: 3 });
    const [a, b] = [event(), event()];
    nf.emit(a);
    await waitUntil(() => counts.dropped.length === 1, "first notification dropped");
    r.status = 200;
    nf.emit(b);
    await nf.idle();
    expect(r.requests.filter((q) => JSON.parse(q.body).id === a.id)).toHaveLength(3);
    expect(r.accepted.map((q) => JSON.parse(q.body).id)).toEqual([b.id]);
    expect(counts.dropped).toEqual(["attempts"]);
    expect(log.lines.find((l) => /notification dropped/.test(l))).toMatch(new RegExp(`id=${a.id}.*every attempt failed`));
  });

  it("a full queue drops its oldest waiting notification, counted and logged", async () => {
    const port = await freePort();
    const { nf, counts, log } = notifier([target(`http://127.0.0.1:${port}/hook`)], { queueSize: 2 });
    const evs = Array.from({ length: 5 }, () => event());
    for (const e of evs) nf.emit(e); // the first is in delivery, the rest wait in a queue of 2
    expect(counts.dropped).toEqual(["queue-full", "queue-full"]);
    expect(nf.pending()).toEqual({ hook: 3 });
    const r = await receiver(port);
    await nf.idle();
    expect(r.accepted.map((q) => JSON.parse(q.body).id)).toEqual([evs[0]!.id, evs[3]!.id, evs[4]!.id]);
    expect(log.lines.filter((l) => /notification dropped.*queue is full/.test(l))).toHaveLength(2);
  });

  it("emit() returns at once while a receiver hangs, and stop() drops (counts, logs) what is left", async () => {
    const port = await freePort();
    const { nf, counts, log } = notifier([target(`http://127.0.0.1:${port}/hook`)]);
    for (let i = 0; i < 3; i++) nf.emit(event());
    await waitUntil(() => counts.failed >= 1, "a failed attempt");
    await nf.stop(50);
    expect(counts.dropped).toEqual(["shutdown", "shutdown", "shutdown"]);
    nf.emit(event()); // after stop: still no throw, counted
    expect(counts.dropped).toHaveLength(4);
    expect(log.lines.filter((l) => /controller stopped before it was delivered/.test(l))).toHaveLength(4);
  });

  it("never logs the secret or a URL's token", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/services/T000/B000/slack-url-token-XYZ`;
    const { nf, counts, log } = notifier([target(url, { format: "slack" })], { maxAttempts: 2 });
    nf.emit(event());
    await waitUntil(() => counts.dropped.length === 1, "dropped");
    expect(log.lines.length).toBeGreaterThan(0);
    for (const l of log.lines) {
      expect(l).not.toContain(SECRET);
      expect(l).not.toContain("slack-url-token-XYZ");
    }
  });
});

async function waitUntil(fn: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
