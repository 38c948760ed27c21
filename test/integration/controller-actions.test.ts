// Operator actions against a real controller on 127.0.0.1 (SQLite) and a real
// fleet repo: every action over HTTP and through the CLI, roles and
// validation, what status, audit and the agents' signed gate/watch exchange
// show of them; and the store's actions on real SQLite and PostgreSQL.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionList, ApiError, AuditReport, GateAnswer, OperatorAction, StatusReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { PostgresStore } from "../../controller/src/store/postgres.js";
import { SqliteStore } from "../../controller/src/store/sqlite.js";
import type { Store } from "../../controller/src/store/types.js";
import type { FleetRepo } from "../helpers/git-repo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { api, fleetYaml, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, READ_TOKEN, SimAgent, startTestController, waitFor } from "./controller/harness.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";
import { flotillaAt } from "./controller/cli.js";

let signers: Record<string, HostSigner>;
let repo: FleetRepo;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let C1: string;
let C2: string;
const hooked: OperatorAction[] = [];
const agents: Record<string, SimAgent> = {};
const WAVES = [
  { name: "canary", members: ["canary-1"] },
  { name: "web", members: ["web-1"], approval: "manual" as const },
  { name: "db", members: ["db-1"] },
];

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1", "db-1"]);
  repo = await newFleetRepo(signers, { waves: WAVES });
  C1 = await repo.head();
  ctl = await startTestController({ repo, pollInterval: "200ms", start: { onOperatorAction: (a) => hooked.push(a) } });
  for (const h of Object.keys(signers)) agents[h] = new SimAgent(signers[h]!, ctl.url);
  C2 = await repo.commit({ "fleet.yaml": fleetYaml(signers, { waves: WAVES }) + "\n# touch\n" }, "c2");
  await waitFor(async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.head === C2, "the controller follows c2");
  for (const a of Object.values(agents)) await a.send(a.heartbeat());
});
afterAll(async () => ctl?.stop());

const post = <T = OperatorAction>(path: string, body: unknown, token: string | null = OPERATOR_TOKEN) => api<T>(ctl.url, path, { body, token });
const status = async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body;
const gate = async (host: string, rev = C2) => (await agents[host]!.gate(rev)).body as GateAnswer;

const cli = (...args: string[]) => flotillaAt(ctl.url)(...args);

describe("operator actions over HTTP", () => {
  it("needs role operate: none → 401, a wrong token → 401, a read token → 403; nothing recorded", async () => {
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "x" }, null)).toMatchObject({ status: 401, body: { error: "Unauthorized" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "x" }, "wrong-token")).toMatchObject({ status: 401, body: { error: "Unauthorized", message: expect.stringContaining("rejected") } });
    expect(await post<ApiError>(`/api/v1/hosts/web-1/hold`, { reason: "x" }, READ_TOKEN)).toMatchObject({ status: 403, body: { error: "Forbidden", message: expect.stringContaining("role read") } });
    expect(await ctl.store.actions({})).toEqual([]);
    // reading the actions is fine with a read token
    expect(await api<ActionList>(ctl.url, "/api/v1/actions", { token: READ_TOKEN })).toMatchObject({ status: 200, body: { actions: [] } });
  });

  it("validation: reason required, bad arguments 400, unknown host/rev 404, impossible transitions 409", async () => {
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, {})).toMatchObject({ status: 400, body: { error: "ReasonRequired", path: "reason", message: expect.stringContaining("a reason is required") } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "   " })).toMatchObject({ status: 400, body: { error: "ReasonRequired" } });
    expect((await api<ApiError>(ctl.url, `/api/v1/hosts/web-1/hold`, { raw: "" })).body).toMatchObject({ error: "ReasonRequired" });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/approve`, { reason: "go" })).toMatchObject({ status: 400, body: { path: "wave", message: expect.stringContaining("wave to approve is required") } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/approve`, { reason: "go", wave: "nope" })).toMatchObject({ status: 400, body: { error: "UnknownWave" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/approve`, { reason: "go", wave: "db" })).toMatchObject({ status: 400, body: { error: "NoApprovalNeeded", message: expect.stringContaining("approval: manual") } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "x", wave: "web" })).toMatchObject({ status: 400, body: { path: "wave" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "x", extra: 1 })).toMatchObject({ status: 400, body: { error: "InvalidAction" } });
    expect(await post<ApiError>(`/api/v1/rollouts/zz-not-hex/pause`, { reason: "x" })).toMatchObject({ status: 400, body: { path: "rev" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${"0".repeat(12)}/pause`, { reason: "x" })).toMatchObject({ status: 404, body: { error: "UnknownRevision" } });
    expect(await post<ApiError>(`/api/v1/hosts/nope-1/hold`, { reason: "x" })).toMatchObject({ status: 404, body: { error: "UnknownHost" } });
    expect(await post<ApiError>(`/api/v1/hosts/web-1/retry`, { reason: "x" })).toMatchObject({ status: 400, body: { error: "NothingToRetry" } });
    expect(await post<ApiError>(`/api/v1/hosts/web-1/release`, { reason: "x" })).toMatchObject({ status: 409, body: { error: "NotHeld" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/resume`, { reason: "x" })).toMatchObject({ status: 409, body: { error: "NotPaused" } });
    expect(await ctl.store.actions({})).toEqual([]);
    expect(hooked).toEqual([]);
  });

  it("approve: a manual wave waits until approved (REV as a prefix), then opens; status shows the approval", async () => {
    const canary = agents["canary-1"]!;
    await canary.send(...canary.deployed(C2));
    await waitFor(async () => (await status()).rollouts[0]!.waves[0]!.state === "promoted", "canary promoted");
    const s = await status();
    expect(s.rollouts[0]!.waves[1]).toMatchObject({ state: "pending", approval: { state: "required" }, reason: expect.stringContaining("waits for approval") });
    expect(await gate("web-1")).toMatchObject({ decision: "wait", reason: expect.stringContaining("approval") });
    const r = await post(`/api/v1/rollouts/${C2.slice(0, 10)}/approve`, { wave: "web", reason: "canary looks fine" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: "approve", rev: C2, wave: "web", host: null, reason: "canary looks fine", actor: "ops", id: expect.any(Number), time: expect.any(String) });
    expect(hooked.at(-1)).toEqual(r.body);
    expect(await gate("web-1")).toMatchObject({ decision: "open" });
    expect((await status()).rollouts[0]!.waves[1]).toMatchObject({ state: "progressing", approval: { state: "approved", by: { actor: "ops", reason: "canary looks fine" } } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/approve`, { wave: "web", reason: "again" })).toMatchObject({ status: 409, body: { error: "AlreadyApproved" } });
  });

  it("pause/resume: the gate answers paused to every host (also the first wave) until resumed; a watching agent is woken", async () => {
    const watching = agents["db-1"]!.watch(C2, 10_000);
    const r = await post(`/api/v1/rollouts/${C2}/pause`, { reason: "investigating latency" });
    expect(r.status).toBe(200);
    expect((await watching).body).toMatchObject({ head: C2, changed: true, gate: true });
    expect(await gate("canary-1")).toMatchObject({ decision: "paused", reason: expect.stringContaining("paused by operator ops: investigating latency") });
    expect(await gate("web-1")).toMatchObject({ decision: "paused" });
    expect((await status()).rollouts[0]!.paused).toMatchObject({ actor: "ops", reason: "investigating latency" });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/pause`, { reason: "again" })).toMatchObject({ status: 409, body: { error: "AlreadyPaused" } });
    expect((await post(`/api/v1/rollouts/${C2}/resume`, { reason: "fine" })).status).toBe(200);
    expect(await gate("web-1")).toMatchObject({ decision: "open" });
    expect((await status()).rollouts[0]!.paused).toBeNull();
  });

  it("hold/release: the host's gate answers held, status shows who and why, release undoes it", async () => {
    expect((await post(`/api/v1/hosts/canary-1/hold`, { reason: "disk replacement" })).status).toBe(200);
    expect(await gate("canary-1")).toMatchObject({ decision: "held", reason: expect.stringContaining("held by operator ops: disk replacement") });
    expect(await gate("canary-1", C1)).toMatchObject({ decision: "held" }); // an older revision too
    expect((await status()).hosts.find((h) => h.host === "canary-1")!.held).toMatchObject({ actor: "ops", reason: "disk replacement" });
    expect(await post<ApiError>(`/api/v1/hosts/canary-1/hold`, { reason: "again" })).toMatchObject({ status: 409, body: { error: "AlreadyHeld" } });
    expect((await post(`/api/v1/hosts/canary-1/release`, { reason: "disk done" })).status).toBe(200);
    expect((await gate("canary-1")).decision).not.toBe("held");
    expect((await status()).hosts.find((h) => h.host === "canary-1")!.held).toBeNull();
  });

  it("retry: defaults to the host's latest failed revision; gate and watch answers carry the directive", async () => {
    const db = agents["db-1"]!;
    await db.send(...db.failed(C1));
    const r = await post(`/api/v1/hosts/db-1/retry`, { reason: "flaky network fixed" });
    expect(r.body).toMatchObject({ action: "retry", host: "db-1", rev: C1 });
    expect((await gate("db-1")).retry).toEqual({ id: r.body.id, rev: C1 });
    expect((await db.watch(C2, 200)).body).toMatchObject({ retry: { id: r.body.id, rev: C1 } });
    const named = await post(`/api/v1/hosts/db-1/retry`, { reason: "that one", rev: C2.slice(0, 8) });
    expect(named.body).toMatchObject({ rev: C2 });
    expect((await gate("db-1")).retry).toEqual({ id: named.body.id, rev: C2 });
    expect((await gate("web-1")).retry).toBeUndefined();
  });

  it("abort: halted 'halted by operator', gate aborted for every host, final", async () => {
    const r = await post(`/api/v1/rollouts/${C2}/abort`, { reason: "bad config" });
    expect(r.status).toBe(200);
    const s = await status();
    expect(s.rollouts[0]).toMatchObject({ state: "halted", aborted: { actor: "ops", reason: "bad config" } });
    expect(s.rollouts[0]!.waves[2]).toMatchObject({ state: "halted", reason: "rollout halted: halted by operator ops: bad config" });
    expect((await ctl.store.decisions(C2)).find((d) => d.wave === "" && d.state === "halted")).toMatchObject({ reason: "halted by operator ops: bad config" });
    for (const h of ["canary-1", "web-1", "db-1"]) expect(await gate(h)).toMatchObject({ decision: "aborted" });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/resume`, { reason: "x" })).toMatchObject({ status: 409, body: { error: "RolloutAborted" } });
    expect(await post<ApiError>(`/api/v1/rollouts/${C2}/abort`, { reason: "x" })).toMatchObject({ status: 409, body: { error: "RolloutAborted" } });
  });

  it("GET /api/v1/actions filters by host and rev, newest first; the audit shows each action with who and why", async () => {
    const all = (await api<ActionList>(ctl.url, "/api/v1/actions")).body.actions;
    expect(all.map((a) => a.action)).toEqual(["abort", "retry", "retry", "release", "hold", "resume", "pause", "approve"]);
    expect(hooked.map((a) => a.id)).toEqual(all.map((a) => a.id).reverse());
    expect((await api<ActionList>(ctl.url, "/api/v1/actions?host=db-1")).body.actions.map((a) => a.action)).toEqual(["retry", "retry"]);
    expect((await api<ActionList>(ctl.url, `/api/v1/actions?rev=${C2}&limit=2`)).body.actions.map((a) => a.action)).toEqual(["abort", "retry"]);
    expect(await api<ApiError>(ctl.url, "/api/v1/actions?limit=0")).toMatchObject({ status: 400, body: { error: "InvalidQuery", path: "limit" } });
    expect(await api<ApiError>(ctl.url, "/api/v1/actions?rev=abc")).toMatchObject({ status: 400, body: { path: "rev" } });
    const audit = (await api<AuditReport>(ctl.url, "/api/v1/audit")).body.entries.filter((e) => e.kind === "action");
    expect(audit).toHaveLength(8);
    expect(audit.find((e) => e.phase === "abort")).toMatchObject({ host: null, actor: "ops", message: "bad config", rev: C2, reason: "OperatorAbort", title: "c2" });
    expect(audit.find((e) => e.phase === "approve")).toMatchObject({ wave: "web", actor: "ops" });
    const hostAudit = (await api<AuditReport>(ctl.url, "/api/v1/audit?host=canary-1")).body.entries.filter((e) => e.kind === "action");
    expect(hostAudit.map((e) => e.phase)).toEqual(["hold", "release"]);
    const text = (await api<string>(ctl.url, "/api/v1/audit?format=text")).body;
    expect(text).toMatch(/\(operator\)\s+action\s+abort\s+recorded\s+OperatorAbort/);
    expect(text).toContain("ops: bad config");
  });
});

describe("the CLI", () => {
  it("flotilla rollout|host …: --reason required (exit 2), prints the recorded action, errors exit 1 naming the controller's answer", async () => {
    const C3 = await repo.commit({ "fleet.yaml": fleetYaml(signers, { waves: WAVES }) + "\n# c3\n" }, "c3");
    await waitFor(async () => (await status()).head === C3, "the controller follows c3");
    const missing = await cli("rollout", "pause", C3.slice(0, 8));
    expect(missing).toMatchObject({ code: 2, out: "" });
    expect(missing.err).toMatch(/^flotilla rollout pause: --reason is required/);
    expect((await cli("rollout", "approve", C3)).err).toMatch(/^flotilla rollout approve: missing WAVE/);
    expect((await cli("host", "hold")).err).toMatch(/^flotilla host hold: missing HOST/);
    expect((await cli("host", "frob", "x")).code).toBe(2);
    const paused = await cli("rollout", "pause", C3.slice(0, 8), "--reason", "friday");
    expect(paused).toMatchObject({ code: 0, err: "" });
    expect(paused.out).toMatch(new RegExp(`^recorded action #\\d+: pause rev ${C3.slice(0, 12)} by ops at .*: friday\\n$`));
    expect((await cli("rollout", "resume", C3, "--reason", "monday")).code).toBe(0);
    const json = await cli("host", "hold", "web-1", "--reason", "maintenance", "--json");
    expect(JSON.parse(json.out)).toMatchObject({ action: "hold", host: "web-1", reason: "maintenance", actor: "ops" });
    expect((await cli("host", "release", "web-1", "--reason", "done")).code).toBe(0);
    expect((await cli("rollout", "approve", C3, "web", "--reason", "ok")).code).toBe(0);
    const retry = await cli("host", "retry", "db-1", C1.slice(0, 9), "--reason", "again");
    expect(retry.out).toContain(`retry rev ${C1.slice(0, 12)}, host db-1`);
    const bad = await cli("host", "hold", "nope-1", "--reason", "x");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^flotilla: controller .* answered HTTP 404 for \/api\/v1\/hosts\/nope-1\/hold: UnknownHost/);
    const st = await cli("rollout", "abort", C3, "--reason", "stop");
    expect(st.code).toBe(0);
    const text = (await api<string>(ctl.url, "/api/v1/status?format=text")).body;
    expect(text).toContain(`rollout ${C3.slice(0, 12)}`);
    expect(text).toContain("ABORTED by ops: stop");
  });
});

describe.each<[string, () => Promise<Store>]>([
  ["sqlite", async () => new SqliteStore(join(await makeTempDir("flotilla-sqlite-"), "flotilla.db"))],
  ["postgres", async () => new PostgresStore(await pg!.createDatabase("actions"))],
])("operator actions in the store (%s)", (_name, make) => {
  it("records actions with increasing ids and filters them by host, rev, kind, time; finds commits by prefix", async () => {
    const s = await make();
    try {
      await s.migrate();
      const A = "ab".repeat(20);
      const B = "ac".repeat(20);
      for (const sha of [A, B]) await s.recordCommit({ sha, observedMs: 1, author: "a", authorEmail: "a@x", committer: "a", timeMs: 1, subject: sha.slice(0, 2), parents: [], fleetError: null, pr: null });
      const a1 = await s.recordAction({ action: "pause", rev: A, wave: null, host: null, reason: "why", actor: "ops", timeMs: 1000 });
      const a2 = await s.recordAction({ action: "hold", rev: null, wave: null, host: "web-1", reason: "disk", actor: "alice", timeMs: 2000 });
      const a3 = await s.recordAction({ action: "approve", rev: A, wave: "web", host: null, reason: "ok", actor: "ops", timeMs: 3000 });
      expect(a1).toEqual({ id: a1.id, action: "pause", rev: A, wave: null, host: null, reason: "why", actor: "ops", timeMs: 1000 });
      expect(a2.id).toBeGreaterThan(a1.id);
      expect((await s.actions({})).map((a) => a.id)).toEqual([a3.id, a2.id, a1.id]);
      expect((await s.actions({ rev: A })).map((a) => a.action)).toEqual(["approve", "pause"]);
      expect((await s.actions({ host: "web-1" })).map((a) => a.actor)).toEqual(["alice"]);
      expect((await s.actions({ actions: ["hold", "release"] })).map((a) => a.id)).toEqual([a2.id]);
      expect((await s.actions({ sinceMs: 1500, limit: 1 })).map((a) => a.id)).toEqual([a3.id]);
      expect((await s.actions({ rev: A, actions: ["approve"] }))[0]).toMatchObject({ wave: "web" });
      expect((await s.commitsByPrefix("ab", 3)).map((c) => c.sha)).toEqual([A]);
      expect((await s.commitsByPrefix("a", 3)).length).toBe(2);
      expect(await s.commitsByPrefix("ff", 3)).toEqual([]);
      expect(await s.commitsByPrefix("a%", 3)).toHaveLength(2); // not a LIKE pattern: non-hex is dropped
    } finally {
      await s.close();
    }
  });
});

let pg: TestPostgres | null = null;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => pg?.stop());
