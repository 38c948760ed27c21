// The store contract, run against real SQLite and a real PostgreSQL server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import type { AgentMessage, TransitionEvent } from "../../schemas/src/api.js";
import { toNewMessage } from "../../controller/src/ingest/message.js";
import { PostgresStore } from "../../controller/src/store/postgres.js";
import { SqliteStore } from "../../controller/src/store/sqlite.js";
import { SeqConflictError, type Store } from "../../controller/src/store/types.js";
import { MIGRATIONS } from "../../controller/src/store/migrations.js";
import { decide } from "../../controller/src/rollout/decide.js";
import { buildFleet } from "../../controller/src/testing/fleet-builder.js";
import { makeTempDir } from "../helpers/tmp.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";

const C = "c".repeat(40);
const T = "2026-01-01T00:00:00.000Z";
let pgServer: TestPostgres;
beforeAll(async () => {
  pgServer = await startPostgres();
});
afterAll(async () => pgServer?.stop());

const event = (host: string, seq: number, over: Partial<TransitionEvent> = {}): AgentMessage => ({
  type: "event", host, seq, time: T, agentVersion: "0.1.0", phase: "done", outcome: "succeeded", reason: "Succeeded", rev: C, generation: "/nix/store/x", ...over,
});
const msg = (m: AgentMessage, sig = `sig-${m.seq}`) => toNewMessage(m, JSON.stringify(m), sig, 1000);

const backends: [string, () => Promise<Store>][] = [
  ["sqlite", async () => new SqliteStore(join(await makeTempDir("flotilla-sqlite-"), "flotilla.db"))],
  ["postgres", async () => new PostgresStore(await pgServer.createDatabase("store"))],
];

describe.each(backends)("store contract (%s)", (_name, make) => {
  it("migrates once, idempotently", async () => {
    const s = await make();
    expect(await s.migrate()).toBe(MIGRATIONS.length);
    expect(await s.migrate()).toBe(0);
    await s.close();
  });

  it("appends messages idempotently by (host, seq) and rejects replays", async () => {
    const s = await make();
    await s.migrate();
    expect(await s.appendMessages("web-1", [msg(event("web-1", 1)), msg(event("web-1", 2))], 1000)).toEqual({ accepted: 2, duplicates: 0, lastSeq: 2 });
    expect(await s.appendMessages("web-1", [msg(event("web-1", 2)), msg(event("web-1", 3))], 2000)).toEqual({ accepted: 1, duplicates: 1, lastSeq: 3 });
    await expect(s.appendMessages("web-1", [msg(event("web-1", 4)), msg(event("web-1", 3), "other")], 3000)).rejects.toBeInstanceOf(SeqConflictError);
    // nothing of the rejected batch was stored
    expect((await s.hostState("web-1"))!.lastSeq).toBe(3);
    expect(await s.eventsForRev(C)).toHaveLength(1); // first healthy event of web-1
    const st = (await s.hostState("web-1"))!;
    expect(st).toMatchObject({ currentRev: C, healthy: true, lastSeenMs: 2000 });
    await s.appendMessages("db-1", [msg(event("db-1", 1))], 4000);
    expect([...(await s.hostVersions())]).toEqual([["db-1", { lastSeq: 1, lastSeenMs: 4000 }], ["web-1", { lastSeq: 3, lastSeenMs: 2000 }]]);
    expect((await s.hostStatesOf(["web-1", "nope"])).map((h) => h.host)).toEqual(["web-1"]);
    await s.close();
  });

  it("condenses events per host to what gating needs, with the same decision", async () => {
    const s = await make();
    await s.migrate();
    const fleet = buildFleet([{ name: "canary", members: ["a", "b"], soakMs: 1000 }, { name: "web", members: ["c"] }]);
    const all: AgentMessage[] = [];
    const t = (ms: number) => new Date(Date.parse(T) + ms).toISOString();
    const add = (m: AgentMessage) => (all.push(m), m);
    await s.appendMessages("a", [
      add(event("a", 1, { phase: "activating", outcome: "started", time: t(0) })),
      add(event("a", 2, { time: t(10), health: [{ check: "h", ok: true, time: t(10), rev: C, generation: "/nix/store/x" }] })),
      add(event("a", 3, { time: t(50) })),
    ].map((m) => msg(m)), 1000);
    await s.appendMessages("b", [
      add(event("b", 1, { time: t(5), health: [{ check: "h", ok: true, time: t(5), rev: "a".repeat(40), generation: "/nix/store/old" }] })), // stale health: not healthy
      add(event("b", 2, { time: t(20) })),
      add(event("b", 3, { phase: "verifying", outcome: "failed", time: t(30) })),
    ].map((m) => msg(m)), 1000);
    const full = all.filter((m): m is TransitionEvent => m.type === "event").map((e) => ({ ...e, timeMs: Date.parse(e.time) }));
    const condensed = await s.eventsForRev(C);
    expect(condensed.map((e) => `${e.host}:${e.phase}@${e.timeMs - Date.parse(T)}`)).toEqual(["a:done@10", "b:failed@30", "b:done@20"]);
    for (const now of [0, 15, 25, 1015, 5000]) {
      const input = { fleet, rev: C, observedAtMs: Date.parse(T), supersededBy: null, lastSeenMs: { a: Date.parse(T), b: Date.parse(T), c: Date.parse(T) }, decisions: [], now: Date.parse(T) + now };
      expect(decide({ ...input, events: condensed })).toEqual(decide({ ...input, events: full }));
    }
    await s.close();
  });

  it("records commits in order and decisions exactly once", async () => {
    const s = await make();
    await s.migrate();
    const base = { observedMs: 1, author: "a", authorEmail: "a@x", committer: "c", timeMs: 2, subject: "s", parents: [], fleetError: null, pr: null };
    const a = await s.recordCommit({ ...base, sha: "a".repeat(40) });
    const b = await s.recordCommit({ ...base, sha: "b".repeat(40) });
    expect(b.position).toBeGreaterThan(a.position);
    expect((await s.recordCommit({ ...base, sha: "a".repeat(40) })).position).toBe(a.position);
    await s.setCommitPr(b.sha, { number: 7, title: "t", author: "x", mergedBy: "y", url: null });
    expect((await s.commits(10)).map((c) => c.sha)).toEqual([b.sha, a.sha]);
    expect((await s.commit(b.sha))!.pr!.number).toBe(7);
    const d = { rev: C, wave: "canary", state: "promoted", effectiveMs: 5, recordedMs: 6, reason: "r", controller: "x" };
    const results = await Promise.all([s.recordDecisions([d]), s.recordDecisions([d]), s.recordDecisions([{ ...d, state: "soaking" }])]);
    expect(results.map((r) => r.length).sort()).toEqual([0, 1, 1]);
    expect(await s.decisions(C)).toHaveLength(2);
    await s.setMeta("k", "v1");
    await s.setMeta("k", "v2");
    expect(await s.getMeta("k")).toBe("v2");
    await s.close();
  });

  it("claims a gate nonce once per host until it expires", async () => {
    const s = await make();
    await s.migrate();
    expect(await s.claimNonce("web-1", "nonce-a", 5000)).toBe(true);
    expect(await s.claimNonce("web-1", "nonce-a", 9000)).toBe(false);
    expect(await s.claimNonce("web-2", "nonce-a", 5000)).toBe(true);
    expect(await s.claimNonce("web-1", "nonce-b", 8000)).toBe(true);
    expect(await s.pruneNonces(6000)).toBe(2);
    expect(await s.claimNonce("web-1", "nonce-b", 9000)).toBe(false);
    expect(await s.claimNonce("web-1", "nonce-a", 9000)).toBe(true);
    await s.close();
  });

  it("keeps reboot leases (migration 5): one per host, replaced in place", async () => {
    const s = await make();
    await s.migrate();
    expect(await s.rebootLeases()).toEqual([]);
    await s.putRebootLease({ host: "web-2", generation: "/nix/store/b", acquiredMs: 1000, expiresMs: 901_000, booted: null });
    await s.putRebootLease({ host: "web-1", generation: "/nix/store/a", acquiredMs: 2000, expiresMs: 902_000, booted: null });
    await s.putRebootLease({ host: "web-1", generation: "/nix/store/a", acquiredMs: 2000, expiresMs: 902_000, booted: "/nix/store/old" });
    expect(await s.rebootLeases()).toEqual([
      { host: "web-1", generation: "/nix/store/a", acquiredMs: 2000, expiresMs: 902_000, booted: "/nix/store/old" },
      { host: "web-2", generation: "/nix/store/b", acquiredMs: 1000, expiresMs: 901_000, booted: null },
    ]);
    expect(await s.deleteRebootLease("web-2")).toBe(true);
    expect(await s.deleteRebootLease("web-2")).toBe(false);
    expect((await s.rebootLeases()).map((l) => l.host)).toEqual(["web-1"]);
    await s.close();
  });

  it("serialises withLock sections", async () => {
    const s = await make();
    await s.migrate();
    const order: string[] = [];
    const section = (id: string) => s.withLock("x", async () => {
      order.push(`${id}+`);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`${id}-`);
    });
    await Promise.all([section("a"), section("b"), section("c")]);
    for (let i = 0; i < order.length; i += 2) expect(order[i]!.slice(0, 1)).toBe(order[i + 1]!.slice(0, 1));
    await s.close();
  });
});
