// Per-host output tails on the controller: the store (real SQLite and a real
// PostgreSQL server) keeps the newest N per host apart from messages.payload;
// GET /api/v1/hosts/{host}/logs and `flotilla logs` against a real controller
// fed by simulated agents speaking the signed protocol.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentMessage, HostLogs, StepLog, TransitionEvent } from "../../schemas/src/api.js";
import { toNewMessage } from "../../controller/src/ingest/message.js";
import { PostgresStore } from "../../controller/src/store/postgres.js";
import { SqliteStore } from "../../controller/src/store/sqlite.js";
import { SeqConflictError, type Store, type StoreOptions } from "../../controller/src/store/types.js";
import { makeTempDir } from "../helpers/tmp.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";
import { api, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, READ_TOKEN, SimAgent, startTestController } from "./controller/harness.js";
import { cli } from "./controller/cli.js";

const C = "c".repeat(40);
const D = "d".repeat(40);
const T = "2026-01-01T00:00:00.000Z";
let pgServer: TestPostgres;
beforeAll(async () => {
  pgServer = await startPostgres();
});
afterAll(async () => pgServer?.stop());

const log = (text: string, step: StepLog["step"] = "build"): StepLog => ({ step, text, truncated: false });
const event = (host: string, seq: number, over: Partial<TransitionEvent> = {}): AgentMessage => ({
  type: "event", host, seq, time: new Date(Date.parse(T) + seq * 1000).toISOString(), agentVersion: "0.1.0", phase: "failed", outcome: "failed", reason: "BuildFailed", rev: C, generation: null, ...over,
});
const msg = (m: AgentMessage, sig = `sig-${m.seq}`) => toNewMessage(m, JSON.stringify(m), sig, 1000);

const backends: [string, (o?: StoreOptions) => Promise<Store>][] = [
  ["sqlite", async (o) => new SqliteStore(join(await makeTempDir("flotilla-sqlite-"), "flotilla.db"), o)],
  ["postgres", async (o) => new PostgresStore(await pgServer.createDatabase("logs"), o)],
];

describe.each(backends)("host logs in the store (%s)", (_name, make) => {
  it("stores each event's tail apart from its payload and returns them newest first, by revision prefix and limit", async () => {
    const s = await make();
    await s.migrate();
    const m1 = msg(event("web-1", 1, { log: log("error: builder failed\nline 2") }));
    expect(JSON.parse(m1.payload).log).toBeUndefined();
    expect(JSON.parse(m1.payload).reason).toBe("BuildFailed");
    await s.appendMessages("web-1", [m1, msg({ type: "heartbeat", host: "web-1", seq: 2, time: T, agentVersion: "0.1.0", phase: "idle", currentRev: null, currentGeneration: null, targetRev: null, healthy: null, queueLength: 0 })], 1000);
    await s.appendMessages("web-1", [msg(event("web-1", 3, { rev: D, phase: "verifying", outcome: "failed", log: { step: "verify", text: "check failed", truncated: true } })), msg(event("web-1", 4, { rev: D }))], 2000);
    await s.appendMessages("db-1", [msg(event("db-1", 1, { log: log("db output") }))], 2000);
    const all = await s.hostLogs("web-1", { limit: 10 });
    expect(all.map((r) => [r.seq, r.rev, r.phase, r.outcome, r.step, r.text, r.truncated])).toEqual([
      [3, D, "verifying", "failed", "verify", "check failed", true],
      [1, C, "failed", "failed", "build", "error: builder failed\nline 2", false],
    ]);
    expect(all[0]!.timeMs).toBe(Date.parse(T) + 3000);
    expect((await s.hostLogs("web-1", { rev: "cccc", limit: 10 })).map((r) => r.seq)).toEqual([1]);
    expect((await s.hostLogs("web-1", { rev: D, limit: 10 })).map((r) => r.seq)).toEqual([3]);
    expect((await s.hostLogs("web-1", { limit: 1 })).map((r) => r.seq)).toEqual([3]);
    expect(await s.hostLogs("nobody", { limit: 10 })).toEqual([]);
    // A retried batch is a duplicate: its tail is not stored twice.
    expect(await s.appendMessages("web-1", [msg(event("web-1", 3, { rev: D, phase: "verifying", outcome: "failed", log: { step: "verify", text: "check failed", truncated: true } }))], 3000)).toMatchObject({ duplicates: 1, accepted: 0 });
    // A refused batch stores no tail either.
    await expect(s.appendMessages("web-1", [msg(event("web-1", 5, { log: log("never stored") })), msg(event("web-1", 4), "other-sig")], 3000)).rejects.toBeInstanceOf(SeqConflictError);
    expect((await s.hostLogs("web-1", { limit: 10 })).map((r) => r.seq)).toEqual([3, 1]);
    await s.close();
  });

  it("keeps only the newest logTailsPerHost tails of each host, also within one batch; 0 keeps none", async () => {
    const s = await make({ logTailsPerHost: 3 });
    await s.migrate();
    for (let seq = 1; seq <= 7; seq++) await s.appendMessages("a", [msg(event("a", seq, { log: log(`tail ${seq}`) }))], 1000);
    await s.appendMessages("b", [1, 2, 3, 4, 5].map((seq) => msg(event("b", seq, { log: log(`b ${seq}`) }))), 1000);
    expect((await s.hostLogs("a", { limit: 100 })).map((r) => r.text)).toEqual(["tail 7", "tail 6", "tail 5"]);
    expect((await s.hostLogs("b", { limit: 100 })).map((r) => r.text)).toEqual(["b 5", "b 4", "b 3"]);
    await s.close();
    const none = await make({ logTailsPerHost: 0 });
    await none.migrate();
    await none.appendMessages("a", [msg(event("a", 1, { log: log("x") }))], 1000);
    expect(await none.hostLogs("a", { limit: 10 })).toEqual([]);
    await none.close();
  });
});

describe.each([["sqlite"], ["postgres"]])("GET /api/v1/hosts/{host}/logs and flotilla logs (%s)", (backend) => {
  let ctl: Awaited<ReturnType<typeof startTestController>>;
  let agent: SimAgent;
  let rev: string;
  beforeAll(async () => {
    const signers = await makeHostSigners(["web-1", "web-2"]);
    const repo = await newFleetRepo(signers, { waves: [{ name: "web", members: ["web-1", "web-2"] }] });
    rev = await repo.head();
    ctl = await startTestController({ repo, ...(backend === "postgres" ? { database: await pgServer.createDatabase("api") } : {}), extra: { limits: { logTailsPerHost: 2 } } });
    agent = new SimAgent(signers["web-1"]!, ctl.url);
    const sent = await agent.send(
      agent.event({ phase: "built", outcome: "succeeded", rev, generation: "/nix/store/x", reason: "Progressing", log: log("$ nix build (exit 0)\nfirst") }),
      agent.event({ phase: "failed", outcome: "failed", rev, reason: "BuildFailed", log: log("$ nix build (exit 1)\n\u001b[31mred\u001b[0m error: builder for 'x.drv' failed") }),
      agent.event({ phase: "verifying", outcome: "failed", rev, reason: "HealthCheckFailed", log: { step: "verify", text: "$ curl (exit 7)\nconnection refused", truncated: true } }),
    );
    expect(sent.status).toBe(200);
  });
  afterAll(async () => ctl?.stop());

  it("answers {host, entries} newest first, capped per host, to a read token; 404, 400 and 401 where due", async () => {
    const r = await api<HostLogs>(ctl.url, "/api/v1/hosts/web-1/logs", { token: READ_TOKEN });
    expect(r.status).toBe(200);
    expect(r.body.host).toBe("web-1");
    expect(r.body.entries.map((e) => [e.seq, e.phase, e.outcome, e.step, e.truncated])).toEqual([
      [3, "verifying", "failed", "verify", true],
      [2, "failed", "failed", "build", false],
    ]);
    expect(Object.keys(r.body.entries[0]!).sort()).toEqual(["outcome", "phase", "rev", "seq", "step", "text", "time", "truncated"]);
    expect((await api<HostLogs>(ctl.url, `/api/v1/hosts/web-1/logs?rev=${rev.slice(0, 7)}&limit=1`)).body.entries.map((e) => e.seq)).toEqual([3]);
    expect((await api<HostLogs>(ctl.url, `/api/v1/hosts/web-1/logs?rev=${"0".repeat(40)}`)).body.entries).toEqual([]);
    expect((await api<HostLogs>(ctl.url, "/api/v1/hosts/web-2/logs")).body).toEqual({ host: "web-2", entries: [] });
    expect((await api(ctl.url, "/api/v1/hosts/ghost/logs")).status).toBe(404);
    expect((await api(ctl.url, "/api/v1/hosts/web-1/logs?rev=xyz")).status).toBe(400);
    expect((await api(ctl.url, "/api/v1/hosts/web-1/logs?limit=0")).status).toBe(400);
    expect((await api(ctl.url, "/api/v1/hosts/web-1/logs", { token: null })).status).toBe(401);
  });

  it("refuses a tail over 8 KiB as a schema violation", async () => {
    const r = await agent.send(agent.event({ phase: "failed", outcome: "failed", rev, reason: "BuildFailed", log: log("x".repeat(8193)) }));
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/log/);
    agent.seq--; // not stored: the next event reuses the seq
  });

  it("flotilla logs prints the tails oldest first with escapes made visible; --json, --rev, --limit; usage errors exit 2", async () => {
    const opts = ["--controller", ctl.url, "--token", OPERATOR_TOKEN];
    const text = await cli(["logs", "web-1", ...opts]);
    expect(text.code).toBe(0);
    expect(text.out.indexOf("step build")).toBeLessThan(text.out.indexOf("step verify"));
    expect(text.out).toContain("\\x1b[31mred\\x1b[0m error: builder for 'x.drv' failed");
    expect(text.out).toMatch(new RegExp(`=== \\S+Z  seq 3  ${rev.slice(0, 12)}  verifying/failed  step verify  \\(truncated\\)`));
    const json = await cli(["logs", "web-1", ...opts, "--json", "--rev", rev.slice(0, 8), "--limit", "1"]);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.out) as HostLogs).entries.map((e) => e.seq)).toEqual([3]);
    expect((await cli(["logs", "web-2", ...opts])).out).toBe("no output tails stored for web-2\n");
    expect((await cli(["logs", "--help"])).code).toBe(0);
    for (const bad of [["logs"], ["logs", "a", "b"], ["logs", "web-1", "--limit", "x"], ["logs", "web-1", "--rev", "zz"], ["logs", "web-1", "--bogus"]]) {
      const r = await cli([...bad, ...opts]);
      expect(r.code, bad.join(" ")).toBe(2);
      expect(r.err).toMatch(/Run `flotilla logs --help`/);
    }
    const missing = await cli(["logs", "ghost", ...opts]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/HTTP 404/);
  });
});
