// Rollouts end to end over real HTTP, real git and a real database (the same
// suite against SQLite and PostgreSQL), with simulated agents signing with
// real ssh-keygen ed25519 keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiError, AuditReport, GateAnswer, StatusReport } from "../../schemas/src/api.js";
import { makeHostSigners, fleetYaml, newFleetRepo, SimAgent, startTestController, api, waitFor } from "./controller/harness.js";
import type { HostSigner } from "../../common/src/signing.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";

const HOSTS = ["canary-1", "web-1", "web-2", "db-1", "pinned-1"];
let signers: Record<string, HostSigner>;
let pg: TestPostgres;
beforeAll(async () => {
  [signers, pg] = await Promise.all([makeHostSigners(HOSTS), startPostgres()]);
});
afterAll(async () => pg?.stop());

const draft = (pins: Record<string, string> = {}) => ({
  waves: [
    { name: "canary", members: ["canary-1"], soak: "1s" },
    { name: "web", members: ["web-1", "web-2", "pinned-1"] },
    { name: "db", members: ["db-1"] },
  ],
  pins,
});

const BACKENDS: [string, () => Promise<string | undefined>][] = [
  ["sqlite", async () => undefined],
  ["postgres", async () => pg.createDatabase("rollout")],
];

describe.each(BACKENDS)("controller rollouts (%s)", (_backend, database) => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it("canary healthy → next wave opens after the soak; pinned host never gated; status and audit say so", async () => {
    const repo = await newFleetRepo(signers, draft());
    const c1 = await repo.head();
    // pin pinned-1 to the first commit; C2 is the rollout under test
    const C = await repo.commit({ "fleet.yaml": fleetYaml(signers, draft({ "pinned-1": c1 })) }, "pin pinned-1; roll out C");
    const ctl = await startTestController({ repo, database: await database() });
    stops.push(ctl.stop);
    expect(ctl.follower.head()).toBe(C);
    const agents = Object.fromEntries(HOSTS.map((h) => [h, new SimAgent(signers[h]!, ctl.url)]));
    for (const a of Object.values(agents)) expect((await a.send(a.heartbeat({ currentRev: c1, healthy: true }))).status).toBe(200);

    let g = await agents["web-1"]!.gate(C);
    expect(g.body).toMatchObject({ decision: "wait", wave: "web" });
    expect((await agents["pinned-1"]!.gate(C)).body).toMatchObject({ decision: "pinned" });

    // a long-poll from web-1 is woken when its wave opens
    const woken = agents["web-1"]!.watch(C, 10_000);
    await waitFor(async () => ctl.coordinator.hub.size === 1, "web-1's long-poll");
    const ack = await agents["canary-1"]!.send(...agents["canary-1"]!.deployed(C));
    expect(ack).toMatchObject({ status: 200, body: { accepted: 2, duplicates: 0, lastSeq: 3 } });
    g = await agents["web-1"]!.gate(C);
    expect(g.body.decision).toBe("wait"); // soaking
    expect(g.body.reason).toMatch(/soaking/);
    const t0 = Date.now();
    const nudge = await woken;
    expect(nudge.body).toMatchObject({ changed: true, gate: true, head: C });
    expect(Date.now() - t0).toBeLessThan(3_000);
    g = await agents["web-1"]!.gate(C);
    expect(g.body).toMatchObject({ decision: "open", wave: "web" });
    expect((await agents["db-1"]!.gate(C)).body.decision).toBe("wait");

    // web wave: pinned-1 does not count; both web hosts healthy → db opens (no soak)
    await agents["web-1"]!.send(...agents["web-1"]!.deployed(C));
    await agents["web-2"]!.send(...agents["web-2"]!.deployed(C));
    await waitFor(async () => (await agents["db-1"]!.gate(C)).body.decision === "open", "db wave to open");
    await agents["db-1"]!.send(...agents["db-1"]!.deployed(C));

    const status = await waitFor(async () => {
      const s = await api<StatusReport>(ctl.url, "/api/v1/status");
      return s.body.rollouts[0]?.state === "complete" ? s.body : null;
    }, "rollout complete");
    expect(status.rollouts[0]!.waves.map((w) => w.state)).toEqual(["promoted", "promoted", "promoted"]);
    const pinned = status.hosts.find((h) => h.host === "pinned-1")!;
    expect(pinned).toMatchObject({ pinned: c1, desiredRev: c1, drift: false, health: "Healthy" });
    expect(status.hosts.find((h) => h.host === "web-2")).toMatchObject({ desiredRev: C, currentRev: C, health: "Healthy", phase: "done", stale: false, drift: false });

    const audit = await api<AuditReport>(ctl.url, "/api/v1/audit");
    const decisions = audit.body.entries.filter((e) => e.kind === "decision").map((e) => `${e.phase}:${e.outcome}`);
    expect(decisions).toEqual(expect.arrayContaining(["wave:canary:promoted", "wave:web:progressing", "wave:db:promoted", "rollout:complete"]));
    expect(audit.body.entries.find((e) => e.kind === "event" && e.host === "web-1" && e.phase === "done")).toMatchObject({ rev: C, title: "pin pinned-1; roll out C", author: "Flotilla Test", durations: { build: 1200, activate: 300 } });
    // decisions are recorded once each
    const keys = audit.body.entries.filter((e) => e.kind === "decision").map((e) => `${e.rev}:${e.phase}:${e.outcome}`);
    expect(new Set(keys).size).toBe(keys.length);

    // text and markdown renderings
    const text = await api<string>(ctl.url, "/api/v1/status?format=text");
    expect(text.body).toMatch(/pinned-1\s+web\s+pin /);
    const md = await api<string>(ctl.url, "/api/v1/status?format=markdown&wave=web");
    expect(md.body).toContain("| web-1 | web |");
    expect(md.body).not.toContain("| db-1 |");
  });

  it("canary fails → halted; later waves never receive it; a newer commit starts over", async () => {
    const repo = await newFleetRepo(signers, draft());
    const C = await repo.head();
    const ctl = await startTestController({ repo, database: await database() });
    stops.push(ctl.stop);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    await web.send(web.heartbeat());
    await canary.send(...canary.failed(C));
    expect((await web.gate(C)).body).toMatchObject({ decision: "halted", wave: "web" });
    const s = await api<StatusReport>(ctl.url, "/api/v1/status");
    expect(s.body.rollouts[0]).toMatchObject({ rev: C, state: "halted" });
    expect(s.body.rollouts[0]!.waves.map((w) => w.state)).toEqual(["halted", "halted", "halted"]);
    expect(s.body.hosts.find((h) => h.host === "canary-1")).toMatchObject({ failedRevs: [C], lastError: { reason: "RolledBack" } });
    expect(s.body.hosts.find((h) => h.host === "web-1")!.desiredRev).toBeNull();

    // the fix: a new commit, a new rollout from wave 0
    const fix = await repo.commit({ "README.md": "fix\n" }, "fix the canary");
    const nudge = canary.watch(C, 10_000);
    await waitFor(async () => ctl.coordinator.hub.size === 1, "the canary's long-poll");
    await ctl.follower.poke("test");
    expect((await nudge).body).toMatchObject({ head: fix, changed: true });
    expect((await web.gate(C)).body.decision).toBe("superseded");
    expect((await web.gate(fix)).body.decision).toBe("wait");
    await canary.send(...canary.deployed(fix));
    await waitFor(async () => (await web.gate(fix)).body.decision === "open", "web to open for the fix", 10_000);
  });

  it("unknown revisions are answered 'ask again' and trigger a fetch", async () => {
    const repo = await newFleetRepo(signers, draft());
    const ctl = await startTestController({ repo, database: await database() });
    stops.push(ctl.stop);
    const next = await repo.commit({ "x.txt": "x" }, "unseen yet");
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    expect((await web.gate(next)).body).toMatchObject({ decision: "unknown-revision", retryAfterMs: 1000 });
    await waitFor(async () => ctl.follower.head() === next, "follower to fetch after the gate miss");
    expect((await web.gate(next)).body.decision).toBe("wait");
  });

  it("a captured gate question cannot be replayed after a controller restart", async () => {
    const repo = await newFleetRepo(signers, draft());
    const C = await repo.head();
    const db = await database();
    const first = await startTestController({ repo, database: db });
    const web = new SimAgent(signers["web-1"]!, first.url);
    const captured = web.sign({ type: "gate", host: "web-1", rev: C, time: new Date().toISOString(), nonce: "captured-0123456789" });
    expect((await api<GateAnswer>(first.url, "/api/v1/gate", { body: captured, token: null })).body).toMatchObject({ decision: "wait", wave: "web" });
    await first.stop();

    const second = await startTestController({ repo, dataDir: first.config.dataDir, database: db });
    stops.push(second.stop);
    const replay = await api<ApiError>(second.url, "/api/v1/gate", { body: captured, token: null });
    expect(replay).toMatchObject({ status: 409, body: { error: "Replay", path: "payload.nonce" } });
    expect(replay.body.message).toMatch(/nonce captured-0123456789 was already used by web-1/);
    // a fresh question still gets its answer
    web.base = second.url;
    expect((await web.gate(C)).body).toMatchObject({ decision: "wait", wave: "web" });
  });

  it("a gate question about a commit that is no longer the head answers superseded, even when its rollout completed; a pinned host asking about its pin gets pinned", async () => {
    const d = { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "pinned-1"] }] };
    const repo = await newFleetRepo(signers, d);
    const c1 = await repo.head();
    const ctl = await startTestController({ repo, database: await database() });
    stops.push(ctl.stop);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    const pinned = new SimAgent(signers["pinned-1"]!, ctl.url);
    await canary.send(...canary.deployed(c1));
    await waitFor(async () => (await web.gate(c1)).body.decision === "open", "web to open for c1");
    await web.send(...web.deployed(c1));
    await pinned.send(...pinned.deployed(c1));
    await waitFor(async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.rollouts[0]?.state === "complete", "c1 complete");

    const c2 = await repo.commit({ "fleet.yaml": fleetYaml(signers, { ...d, pins: { "pinned-1": c1 } }) }, "pin pinned-1 to c1");
    await ctl.follower.poke("test");
    expect(ctl.follower.head()).toBe(c2);
    expect((await web.gate(c1)).body).toMatchObject({ decision: "superseded", wave: "web" });
    expect((await canary.gate(c1)).body).toMatchObject({ decision: "superseded", wave: "canary" });
    // pinned at the head (not yet at c1): its pin wins over superseded
    expect((await pinned.gate(c1)).body).toMatchObject({ decision: "pinned", wave: "web" });
    expect((await pinned.gate(c2)).body).toMatchObject({ decision: "pinned", wave: "web" });
    expect((await web.gate(c2)).body.decision).toBe("wait");
  });

  it("a fresh controller records the branch history it needs: pinned revisions and recent commits", async () => {
    const repo = await newFleetRepo(signers, draft());
    const c1 = await repo.head();
    const c2 = await repo.commit({ "README.md": "two\n" }, "second commit");
    const C = await repo.commit({ "fleet.yaml": fleetYaml(signers, draft({ "pinned-1": c1 })) }, "pin pinned-1 to the first commit");
    const ctl = await startTestController({ repo, database: await database() });
    stops.push(ctl.stop);
    expect(ctl.follower.head()).toBe(C);
    const pinned = new SimAgent(signers["pinned-1"]!, ctl.url);
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    await pinned.send(...pinned.deployed(c1));
    const audit = await api<AuditReport>(ctl.url, "/api/v1/audit?host=pinned-1");
    expect(audit.body.entries.find((e) => e.kind === "event" && e.phase === "done")).toMatchObject({ rev: c1, title: "initial fleet", author: "Flotilla Test" });
    expect((await web.gate(c2)).body).toMatchObject({ decision: "superseded" });
    expect((await pinned.gate(c1)).body).toMatchObject({ decision: "pinned" });
    // history is ordered: the head is the newest recorded commit
    expect((await ctl.store.commits(10)).map((c) => c.sha)).toEqual([C, c2, c1]);
  });

  it("a controller restart loses nothing", async () => {
    const repo = await newFleetRepo(signers, draft());
    const C = await repo.head();
    const db = await database();
    const first = await startTestController({ repo, database: db });
    const canary = new SimAgent(signers["canary-1"]!, first.url);
    await canary.send(...canary.deployed(C));
    await waitFor(async () => (await api<StatusReport>(first.url, "/api/v1/status")).body.rollouts[0]?.waves[0]?.state === "promoted", "canary promoted");
    const before = (await api<StatusReport>(first.url, "/api/v1/status")).body;
    const auditBefore = (await api<AuditReport>(first.url, "/api/v1/audit")).body;
    await first.stop();

    const second = await startTestController({ repo, dataDir: first.config.dataDir, database: db });
    stops.push(second.stop);
    canary.base = second.url;
    const after = (await api<StatusReport>(second.url, "/api/v1/status")).body;
    expect(after.head).toBe(before.head);
    expect(after.rollouts).toEqual(before.rollouts);
    expect(after.hosts.map(({ lastSeen: _l, stale: _s, ...h }) => h)).toEqual(before.hosts.map(({ lastSeen: _l, stale: _s, ...h }) => h));
    expect((await api<AuditReport>(second.url, "/api/v1/audit")).body.entries).toEqual(auditBefore.entries);
    // seq continues: the old seq is a duplicate, the next one is accepted
    canary.seq -= 1;
    const again = await canary.send(canary.heartbeat({ currentRev: C, healthy: true }));
    expect(again.status).toBe(409);
    expect((await canary.send(canary.heartbeat({ currentRev: C, healthy: true }))).body).toMatchObject({ accepted: 1, lastSeq: 3 });
  });
});
