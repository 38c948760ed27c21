// The agent API's rejections (each a 4xx naming what and where, nothing
// stored), operator auth, metrics, and fuzzing of every API body.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiError, StatusReport } from "../../schemas/src/api.js";
import { envelopeAuthorization, type HostSigner } from "../../common/src/signing.js";
import { api, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, READ_TOKEN, SimAgent, startTestController } from "./controller/harness.js";

let signers: Record<string, HostSigner>;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let C: string;
let web: SimAgent;
let canary: SimAgent;

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1", "intruder"]);
  const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1"] }] });
  C = await repo.head();
  ctl = await startTestController({ repo, extra: { limits: { maxBodyBytes: 4096, clockSkew: "1m" } } });
  web = new SimAgent(signers["web-1"]!, ctl.url);
  canary = new SimAgent(signers["canary-1"]!, ctl.url);
});
afterAll(async () => ctl?.stop());

async function storedSeq(host: string): Promise<number> {
  return (await ctl.store.hostState(host))?.lastSeq ?? 0;
}

describe("agent API rejections", () => {
  it("unknown host → 403, nothing stored", async () => {
    const intruder = new SimAgent(signers["intruder"]!, ctl.url);
    const r = await intruder.send(intruder.heartbeat());
    expect(r).toMatchObject({ status: 403, body: { error: "UnknownHost", path: "reports[0].host" } });
    expect(await ctl.store.hostState("intruder")).toBeNull();
  });

  it("forged report (signed with another key) → 401 naming the envelope", async () => {
    const good = web.sign(web.heartbeat());
    const forged = { ...signers["intruder"]!.sign(good.payload), host: "web-1" };
    const r = await api<ApiError>(ctl.url, "/api/v1/reports", { body: { reports: [good, forged] }, token: null });
    expect(r).toMatchObject({ status: 401, body: { error: "BadSignature", path: "reports[1].sig" } });
    expect(await storedSeq("web-1")).toBe(0);
    // a tampered payload fails the same way
    const tampered = { ...good, payload: good.payload.replace('"phase":"idle"', '"phase":"done"') };
    expect((await api<ApiError>(ctl.url, "/api/v1/reports", { body: { reports: [tampered] }, token: null })).body).toMatchObject({ error: "BadSignature", path: "reports[0].sig" });
  });

  it("replays: identical retry is a duplicate; a different payload at a used seq is 409 SeqBehind with lastSeq; whole batch rejected", async () => {
    web.seq = 0;
    const first = [web.heartbeat(), web.heartbeat()];
    expect((await web.send(...first)).body).toEqual({ accepted: 2, duplicates: 0, lastSeq: 2 });
    expect((await web.send(...first)).body).toEqual({ accepted: 0, duplicates: 2, lastSeq: 2 });
    const replay = { ...web.heartbeat({ healthy: false }), seq: 2 };
    const r = await web.send(web.heartbeat(), replay);
    expect(r.status).toBe(400); // out of order inside the batch
    expect(r.body).toMatchObject({ error: "SeqOrder", path: "reports[1].payload.seq" });
    const r2 = await web.send(replay);
    // Signed by the host itself at a used seq: its counter is behind (state wiped); it is told where to continue.
    expect(r2).toMatchObject({ status: 409, body: { error: "SeqBehind", path: "reports[0].payload.seq", lastSeq: 2 } });
    expect(await storedSeq("web-1")).toBe(2);
  });

  it("timestamp window: from the future beyond clock skew, or older than the replay window → 400", async () => {
    const future = web.heartbeat({}, new Date(Date.now() + 10 * 60_000));
    expect((await web.send(future)).body).toMatchObject({ error: "ClockSkew", path: "reports[0].payload.time" });
    const ancient = web.heartbeat({}, new Date(Date.now() - 30 * 86_400_000));
    expect((await web.send(ancient)).body).toMatchObject({ error: "Replay", path: "reports[0].payload.time" });
  });

  it("schema violations name the path; oversized bodies are 413; bad JSON is 400", async () => {
    const bad = { ...web.heartbeat(), phase: "exploding" };
    const r = await web.send(bad);
    expect(r).toMatchObject({ status: 400, body: { error: "SchemaViolation", path: "reports[0].payload.phase" } });
    const big = await web.send({ ...web.heartbeat(), agentVersion: "x".repeat(90) , failedRevs: Array(100).fill(C) });
    expect(big).toMatchObject({ status: 413, body: { error: "PayloadTooLarge" } });
    const notJson = await api<ApiError>(ctl.url, "/api/v1/reports", { raw: "{not json", token: null });
    expect(notJson).toMatchObject({ status: 400, body: { error: "InvalidJson" } });
    const noReports = await api<ApiError>(ctl.url, "/api/v1/reports", { body: { reports: [] }, token: null });
    expect(noReports).toMatchObject({ status: 400, body: { error: "SchemaViolation", path: "reports" } });
    const hostMismatch = web.sign({ ...canary.heartbeat(), seq: 99 });
    expect((await api<ApiError>(ctl.url, "/api/v1/reports", { body: { reports: [hostMismatch] }, token: null })).body).toMatchObject({ error: "HostMismatch", path: "reports[0].payload.host" });
  });

  it("gate: a host can ask only for itself, only fresh, only once per nonce", async () => {
    const q = { type: "gate", host: "canary-1", rev: C, time: new Date().toISOString(), nonce: "nonce-123456" };
    const other = await api<ApiError>(ctl.url, "/api/v1/gate", { body: web.sign(q), token: null });
    expect(other).toMatchObject({ status: 403, body: { error: "HostMismatch", path: "payload.host" } });
    const own = { ...q, host: "web-1" };
    expect((await api(ctl.url, "/api/v1/gate", { body: web.sign(own), token: null })).status).toBe(200);
    expect((await api<ApiError>(ctl.url, "/api/v1/gate", { body: web.sign(own), token: null })).body).toMatchObject({ error: "Replay", path: "payload.nonce" });
    const stale = await web.gate(C, { time: new Date(Date.now() - 10 * 60_000).toISOString() });
    expect(stale.body).toMatchObject({ error: "Replay", path: "payload.time" });
  });
});

describe("watch authentication", () => {
  it("a host watches only itself, signed with its host key; an unknown host and a forged signature get the same 401", async () => {
    const path = (host: string) => `/api/v1/watch?host=${host}&since=&timeoutMs=0`;
    // unsigned: nothing about the head, the host or its wave
    const unsigned = await api<ApiError>(ctl.url, path("web-1"), { token: null });
    expect(unsigned).toMatchObject({ status: 401, body: { error: "Unauthorized", path: "Authorization" } });
    expect(JSON.stringify(unsigned.body)).not.toContain(C);
    const operator = await api<ApiError>(ctl.url, path("web-1"));
    expect(operator.status).toBe(401);
    // forged (web-1 signed by another key) and unknown host (intruder, signed by its own key): identical answers
    const intruder = new SimAgent(signers["intruder"]!, ctl.url);
    const forged = await api<ApiError>(ctl.url, path("web-1"), { token: null, headers: { authorization: envelopeAuthorization({ ...intruder.sign({ type: "watch", host: "web-1", since: null, time: new Date().toISOString() }), host: "web-1" }) } });
    const unknown = await intruder.watch(null, 0);
    expect(forged).toMatchObject({ status: 401, body: { error: "Unauthorized" } });
    expect(unknown).toEqual(forged);
    expect(unsigned.body).toEqual(forged.body);
    // signed by web-1, asking for canary-1: a host watches only itself
    const other = await api<ApiError>(ctl.url, path("canary-1"), { token: null, headers: { authorization: web.watchAuthorization(null) } });
    expect(other).toMatchObject({ status: 403, body: { error: "HostMismatch", path: "host" } });
    // a stale signature is refused
    expect((await web.watch(null, 0, { time: new Date(Date.now() - 10 * 60_000).toISOString() })).body).toMatchObject({ error: "Replay" });
    // the host itself learns the head
    expect(await web.watch(null, 0)).toMatchObject({ status: 200, body: { head: C, changed: true } });
    expect(await web.watch(C, 0)).toMatchObject({ status: 200, body: { head: C, changed: false } });
  });
});

describe("operator auth and metrics", () => {
  it("requires an operator token for status, audit, metrics and the dashboard", async () => {
    for (const path of ["/api/v1/status", "/api/v1/audit", "/metrics"]) {
      expect((await api<ApiError>(ctl.url, path, { token: null })).body).toMatchObject({ error: "Unauthorized" });
      expect((await api(ctl.url, path, { token: OPERATOR_TOKEN.slice(0, -1) + "x" })).status).toBe(401);
    }
    expect((await api(ctl.url, "/", { token: null })).status).toBe(401);
    // an agent's signed envelope is no credential for reading
    const env = JSON.stringify(web.sign(web.heartbeat()));
    expect((await api(ctl.url, "/api/v1/status", { token: Buffer.from(env).toString("base64") })).status).toBe(401);
    expect((await api<StatusReport>(ctl.url, "/api/v1/status")).status).toBe(200);
  });

  it("exports Prometheus metrics", async () => {
    await canary.send(...canary.deployed(C));
    const m = await api<string>(ctl.url, "/metrics");
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/flotilla_hosts_by_health\{health="Healthy"\} 1/);
    expect(m.body).toMatch(/flotilla_hosts_by_phase\{phase="done"\} 1/);
    expect(m.body).toMatch(/flotilla_wave_state\{wave="canary",state="promoted"\} 1/);
    expect(m.body).toMatch(/flotilla_reports_total\{result="accepted"\} \d+/);
    expect(m.body).toMatch(/flotilla_requests_rejected_total\{code="BadSignature"\} \d+/);
    expect(m.body).toMatch(/^process_resident_memory_bytes \d/m);
    expect(m.body).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(m.body).not.toContain("flotilla_controller_");
    // a read-role token (a Prometheus scraper) reads metrics, status and audit
    for (const path of ["/metrics", "/api/v1/status", "/api/v1/audit"]) expect((await api(ctl.url, path, { token: READ_TOKEN })).status).toBe(200);
    expect(m.body).toMatch(/flotilla_report_lag_seconds_count \d+/);
  });
});

describe("fuzzing every API body", () => {
  const routes = ["/api/v1/reports", "/api/v1/gate", "/api/v1/github/webhook"];
  const check = async (path: string, body: string) => {
    const res = await ctl.app.request(path, { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(res.status, `${path} ${body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
    expect(res.status, `${path} ${body.slice(0, 200)}`).toBeLessThan(500);
    const j = (await res.json()) as ApiError;
    expect(typeof j.error).toBe("string");
    expect(j.message.length).toBeGreaterThan(0);
  };

  it("arbitrary JSON and text never cause a 5xx nor store anything", async () => {
    const before = await storedSeq("web-1");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify({ reports: [v] }))), async (path, body) => check(path, body)),
      { numRuns: 300 },
    );
    expect(await storedSeq("web-1")).toBe(before);
  });

  it("mutations of valid signed envelopes are rejected with a path", async () => {
    const before = await storedSeq("web-1");
    const base = web.sign({ ...web.heartbeat(), seq: 1_000_000 });
    const gateBase = web.sign({ type: "gate", host: "web-1", rev: C, time: new Date().toISOString(), nonce: "fuzz-nonce-1" });
    const field = fc.constantFrom("v", "host", "alg", "payload", "sig");
    const value = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.json(), fc.constant("web-1"));
    await fc.assert(
      fc.asyncProperty(field, value, fc.boolean(), async (f, v, gate) => {
        const env = { ...(gate ? gateBase : base), [f]: v } as Record<string, unknown>;
        if (JSON.stringify(env[f]) === JSON.stringify((gate ? gateBase : base)[f as keyof typeof base])) return;
        const body = JSON.stringify(gate ? env : { reports: [env] });
        const res = await ctl.app.request(gate ? "/api/v1/gate" : "/api/v1/reports", { method: "POST", body });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        const j = (await res.json()) as ApiError;
        expect(j.path ?? "").not.toBe("");
      }),
      { numRuns: 300 },
    );
    expect(await storedSeq("web-1")).toBe(before);
  });
});

describe("a commit with an invalid fleet file", () => {
  it("halts that commit, keeps the last valid host keys, and says why", async () => {
    const repo = ctl.config.remotes[0]!.replace(/^file:\/\//, "");
    const { execa } = await import("execa");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${repo}/fleet.yaml`, "version: 1\nhosts: []\n");
    await execa("git", ["-C", repo, "commit", "-q", "-am", "break fleet.yaml"]);
    const bad = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout.trim();
    await ctl.follower.poke("test");
    expect(ctl.follower.head()).toBe(bad);
    const g = await web.gate(bad);
    expect(g.body).toMatchObject({ decision: "halted" });
    expect(g.body.reason).toMatch(/fleet file at [0-9a-f]{12} is unusable: .*hosts/);
    // reports still verify against the keys of the last valid fleet file
    web.seq = 500;
    expect((await web.send(web.heartbeat())).status).toBe(200);
    const s = await api<StatusReport>(ctl.url, "/api/v1/status");
    expect(s.body.rollouts[0]).toMatchObject({ rev: bad, state: "halted", waves: [] });
    expect(s.body.rollouts[0]!.reason).toMatch(/^fleet file unusable: fleet.yaml@/);
    expect(s.body.hosts.map((h) => h.host)).toEqual(["canary-1", "web-1"]);
  });
});
