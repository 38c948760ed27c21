// Notifications from a real controller (real git fleet repo, real HTTP,
// SQLite and PostgreSQL, agents signing with ssh-keygen ed25519 keys) to
// local webhook receivers: a halted rollout notifies exactly once — also
// with two controllers on one PostgreSQL database —, a completed rollout
// once, a stalled host (rollbackFailed) once, a stale host once per
// staleness episode, across a restart too.
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSigner } from "../../common/src/signing.js";
import type { NotifyEvent } from "../../controller/src/notify/types.js";
import { resolveConfig } from "../../controller/src/config.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { makeTempDir } from "../helpers/tmp.js";
import { makeHostSigners, newFleetRepo, SimAgent, startTestController, waitFor } from "./controller/harness.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";

const HOSTS = ["canary-1", "web-1", "web-2"];
const SECRET = "notify-hmac-secret-0123456789";
const PUBLIC = "https://flotilla.example.org";
let signers: Record<string, HostSigner>;
let pg: TestPostgres;
const stops: (() => Promise<void>)[] = [];
beforeAll(async () => {
  [signers, pg] = await Promise.all([makeHostSigners(HOSTS), startPostgres()]);
});
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await pg?.stop();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  stops.push(() => r.down());
  return r;
}

const notifyTo = (r: WebhookReceiver, over: Record<string, unknown> = {}) => ({
  publicUrl: PUBLIC,
  notify: { targets: [{ name: "hook", url: r.url, secret: { value: SECRET }, ...over }] },
});

/** The verified events a receiver got (each signature checked), in arrival order. */
function events(r: WebhookReceiver, kind?: NotifyEvent["kind"]): NotifyEvent[] {
  return r.accepted
    .map((q) => {
      expect(q.headers["x-flotilla-signature-256"]).toBe(`sha256=${createHmac("sha256", SECRET).update(q.body).digest("hex")}`);
      return JSON.parse(q.body) as NotifyEvent;
    })
    .filter((e) => !kind || e.kind === kind);
}

async function ticksPass(ctl: { coordinator: { tick(): Promise<void> } }, n = 5): Promise<void> {
  // Let the periodic tick run a few more times (tickMs 100) and re-evaluate by hand too.
  for (let i = 0; i < n; i++) {
    await ctl.coordinator.tick();
    await new Promise((r) => setTimeout(r, 100));
  }
}

const BACKENDS: [string, () => Promise<string | undefined>][] = [
  ["sqlite", async () => undefined],
  ["postgres", async () => pg.createDatabase("notify")],
];

describe.each(BACKENDS)("notifications from a real controller (%s)", (_b, database) => {
  it("a failed canary halts the rollout: exactly one signed rollout-halted notification with rev, subject, hosts, reason, link", async () => {
    const r = await receiver();
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }] });
    const C = await repo.head();
    const ctl = await startTestController({ repo, database: await database(), extra: notifyTo(r) });
    stops.push(ctl.stop);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    expect((await canary.send(...canary.failed(C))).status).toBe(200);
    await waitFor(async () => events(r, "rollout-halted").length > 0, "the halt notification");
    await ticksPass(ctl);
    const halts = events(r, "rollout-halted");
    expect(halts).toHaveLength(1);
    expect(halts[0]).toMatchObject({ kind: "rollout-halted", rev: C, subject: "initial fleet", hosts: ["canary-1"], wave: "canary", url: `${PUBLIC}/?rev=${C}` });
    expect(halts[0]!.reason).toMatch(/canary-1/);
    expect(Date.parse(halts[0]!.time)).toBeGreaterThan(0);
    // The rollout-halted event only: the canary's rollback succeeded, so no host-stalled.
    expect(events(r).map((e) => e.kind)).toEqual(["rollout-halted"]);
  });

  it("a completed rollout notifies once", async () => {
    const r = await receiver();
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }] });
    const C = await repo.head();
    const ctl = await startTestController({ repo, database: await database(), extra: notifyTo(r) });
    stops.push(ctl.stop);
    const agents = HOSTS.map((h) => new SimAgent(signers[h]!, ctl.url));
    await agents[0]!.send(...agents[0]!.deployed(C));
    await waitFor(async () => (await agents[1]!.gate(C)).body.decision === "open", "web wave open");
    for (const a of agents.slice(1)) await a.send(...a.deployed(C));
    await waitFor(async () => events(r, "rollout-complete").length > 0, "the completion notification");
    await ticksPass(ctl);
    const done = events(r, "rollout-complete");
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ rev: C, subject: "initial fleet", hosts: [] });
    expect(done[0]!.reason).toMatch(/every wave promoted: canary 1\/1 healthy, web 2\/2 healthy/);
  });

  it("a host whose rollback failed (rollbackFailed) notifies host-stalled once, not again on a re-sent report", async () => {
    const r = await receiver();
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }] });
    const C = await repo.head();
    const ctl = await startTestController({ repo, database: await database(), extra: notifyTo(r, { events: ["host-stalled"] }) });
    stops.push(ctl.stop);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    const stalled = [
      canary.event({ phase: "verifying", outcome: "failed", rev: C, generation: "/nix/store/x-system", reason: "HealthCheckFailed" }),
      canary.event({ phase: "rollbackFailed", outcome: "failed", rev: C, generation: "/nix/store/x-system", reason: "RollbackFailed", error: { reason: "RollbackFailed", message: "switch-to-configuration exited 1" } }),
    ];
    expect((await canary.send(...stalled)).body).toMatchObject({ accepted: 2 });
    await waitFor(async () => events(r).length > 0, "the stalled notification");
    expect((await canary.send(...stalled)).body).toMatchObject({ accepted: 0, duplicates: 2 });
    await ticksPass(ctl);
    const got = events(r);
    expect(got).toHaveLength(1); // the halt went nowhere: this target takes host-stalled only
    expect(got[0]).toMatchObject({ kind: "host-stalled", rev: C, subject: "initial fleet", hosts: ["canary-1"], time: stalled[1]!.time });
    expect(got[0]!.reason).toBe("rollback failed (RollbackFailed: switch-to-configuration exited 1); the host needs an operator");
  });
});

describe.each(BACKENDS)("undelivered notifications survive a restart (%s)", (_b, database) => {
  it("the halt queued for a receiver that is down is delivered by the next start, once", { timeout: 180_000 }, async () => {
    const r = await receiver();
    await r.down(); // the port refuses connections
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }] });
    const C = await repo.head();
    const dataDir = await makeTempDir("flotilla-notify-outbox-");
    const db = await database();
    const first = await startTestController({ repo, dataDir, database: db, extra: notifyTo(r) });
    const canary = new SimAgent(signers["canary-1"]!, first.url);
    await canary.send(...canary.failed(C));
    await waitFor(async () => first.log.lines.some((l) => /notification delivery failed.*ECONNREFUSED/.test(l)), "a refused delivery attempt");
    await first.stop();
    expect(first.log.lines.some((l) => /undelivered notifications left in the outbox for the next start count=1/.test(l))).toBe(true);
    expect(first.log.lines.some((l) => /notification dropped/.test(l))).toBe(false);
    await r.up();
    const second = await startTestController({ repo, dataDir, database: db, extra: notifyTo(r) });
    stops.push(second.stop);
    await waitFor(async () => events(r, "rollout-halted").length > 0, "the halt, delivered after the restart");
    expect(second.log.lines.some((l) => /resuming notifications from the outbox count=1/.test(l))).toBe(true);
    await ticksPass(second);
    const halts = events(r, "rollout-halted");
    expect(halts).toHaveLength(1);
    expect(halts[0]).toMatchObject({ rev: C, hosts: ["canary-1"] });
    // Delivered: gone from the outbox (a third start sends nothing).
    await waitFor(async () => (await second.store.outboxClaim("probe", Date.now() + 3_600_000, 0, 10)).length === 0, "the outbox to be empty");
  });
});

describe("host-stale notifications", () => {
  it("once per staleness episode: not on every tick, not again after a restart, again after the host came back and went silent", { timeout: 180_000 }, async () => {
    const r = await receiver();
    const repo = await newFleetRepo(signers, { waves: [{ name: "all", members: HOSTS }], unreachableAfter: "1s" });
    const dataDir = await makeTempDir("flotilla-notify-stale-");
    const extra = notifyTo(r, { events: ["host-stale"], format: "webhook" });
    let ctl = await startTestController({ repo, dataDir, extra });
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    await web.send(web.heartbeat());
    await waitFor(async () => events(r).length > 0, "the stale notification", 30_000);
    await ticksPass(ctl);
    expect(events(r)).toHaveLength(1);
    expect(events(r)[0]).toMatchObject({ kind: "host-stale", hosts: ["web-1"], rev: null, url: `${PUBLIC}/` });
    expect(events(r)[0]!.reason).toMatch(/^no report or heartbeat for \d+s \(policy\.unreachableAfter 1s\)$/);
    // canary-1 and web-2 never reported: never heard of is not a staleness episode.
    // A restart on the same database: the episode was claimed there.
    await ctl.stop();
    ctl = await startTestController({ repo, dataDir, extra });
    stops.push(() => ctl.stop());
    await ticksPass(ctl);
    expect(events(r)).toHaveLength(1);
    // Back, then silent again: a new episode (keyed by the new last-seen time).
    web.base = ctl.url;
    expect((await web.send(web.heartbeat())).status).toBe(200);
    await waitFor(async () => events(r).length === 2, "the second episode's notification", 30_000);
    await ticksPass(ctl);
    expect(events(r).map((e) => e.hosts[0])).toEqual(["web-1", "web-1"]);
  });
});

describe("two controllers on one PostgreSQL database", () => {
  it("notify a halt once between them", { timeout: 300_000 }, async () => {
    const r = await receiver();
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }] });
    const C = await repo.head();
    const database = await pg.createDatabase("notify_two");
    const a = await startTestController({ repo, database, controllerId: "ctl-a", extra: notifyTo(r) });
    stops.push(a.stop);
    const b = await startTestController({ repo, database, controllerId: "ctl-b", extra: notifyTo(r) });
    stops.push(b.stop);
    const canary = new SimAgent(signers["canary-1"]!, a.url);
    await canary.send(...canary.failed(C));
    // Both evaluate the rollout (gate questions, ticks); both see it halted.
    const web = new SimAgent(signers["web-1"]!, b.url);
    await waitFor(async () => (await web.gate(C)).body.decision === "halted", "controller b sees the halt");
    web.base = a.url;
    await waitFor(async () => (await web.gate(C)).body.decision === "halted", "controller a sees the halt");
    await waitFor(async () => events(r, "rollout-halted").length > 0, "the halt notification");
    await Promise.all([ticksPass(a), ticksPass(b)]);
    expect(events(r, "rollout-halted")).toHaveLength(1);
  });
});

describe("notify configuration", () => {
  it("resolves URL and secret references; a URL from a secret is checked without quoting it", async () => {
    const c = await resolveConfig(
      { fleet: { remotes: ["file:///x"] }, notify: { targets: [{ name: "slack", url: { env: "SLACK_URL" }, format: "slack" }, { name: "hook", url: "http://127.0.0.1:9/h", secret: { env: "HOOK_SECRET" }, events: ["rollout-halted"] }] } },
      { baseDir: "/", env: { SLACK_URL: "https://hooks.slack.com/services/T/B/token", HOOK_SECRET: "s3cret" } },
    );
    expect(c.notify).toMatchObject({ maxAttempts: 10, queueSize: 1000, maxBackoffMs: 300_000 });
    expect(c.notify!.targets).toEqual([
      { name: "slack", url: "https://hooks.slack.com/services/T/B/token", format: "slack", secret: null, events: null, timeoutMs: 10_000 },
      { name: "hook", url: "http://127.0.0.1:9/h", format: "webhook", secret: "s3cret", events: ["rollout-halted"], timeoutMs: 10_000 },
    ]);
    const bad = resolveConfig({ fleet: { remotes: ["file:///x"] }, notify: { targets: [{ name: "x", url: { env: "U" } }] } }, { baseDir: "/", env: { U: "not a url token-123" } });
    await expect(bad).rejects.toThrow("notify.targets[0].url: the secret does not hold an http(s) URL");
    await expect(bad).rejects.not.toThrow(/token-123/);
    await expect(resolveConfig({ fleet: { remotes: ["file:///x"] }, notify: { targets: [{ name: "x", url: "ftp://h/x" }] } }, { baseDir: "/" })).rejects.toThrow(/notify\.targets\[0\]\.url/);
    await expect(resolveConfig({ fleet: { remotes: ["file:///x"] }, notify: { targets: [{ name: "x", url: "http://h/1" }, { name: "x", url: "http://h/2" }] } }, { baseDir: "/" })).rejects.toThrow('notify.targets[1].name: "x" is used by another target');
    await expect(resolveConfig({ fleet: { remotes: ["file:///x"] }, notify: { targets: [{ name: "x", url: "http://h/1", events: ["rollout-exploded"] }] } }, { baseDir: "/" })).rejects.toThrow(/notify\.targets\[0\]\.events\[0\]/);
  });
});
