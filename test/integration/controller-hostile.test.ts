// The controller under hostile and overloaded clients, on real parts: a real
// `flotilla serve` process under a lowered `ulimit -n`, in-process servers on
// 127.0.0.1, raw TCP sockets, a real fleet repo.
// - a git poll while the descriptor table is full is a logged failure, retried; never a crash
// - request bodies have a deadline (limits.requestTimeout); long-poll watches do not
// - limits.maxConnections: beyond it 503 TooManyConnections (healthz still answers), then refused
// - every malformed query parameter is a 400 naming it
// - audit limit = the newest N entries of events and decisions merged
// - control characters from agents never reach the operator's terminal raw
// - every refusal (413 included) counts in flotilla_requests_rejected_total
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiError, AuditReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { buildCli, REPO_ROOT } from "./cli-build.js";
import { api, fleetYaml, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, SimAgent, startTestController, waitFor } from "./controller/harness.js";
import { makeTempDir } from "../helpers/tmp.js";
import type { FleetRepo } from "../helpers/git-repo.js";
import { rawConnect, type RawClient } from "../helpers/raw-client.js";

let signers: Record<string, HostSigner>;
let repo: FleetRepo;
let C: string;

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1"]);
  repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1"] }] });
  C = await repo.head();
});

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OPERATOR_TOKEN}\r\n\r\n`;
const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);

describe("a git poll while the descriptor table is full (real process, ulimit -n 128)", () => {
  let proc: ChildProcess | null = null;
  afterAll(() => {
    if (proc?.exitCode === null) proc.kill("SIGTERM");
  });

  it("held connections with unfinished bodies exhaust the fds: the poll fails and is logged, the controller keeps running and catches up later", async () => {
    const dir = await makeTempDir("flotilla-hostile-");
    const config = join(dir, "controller.json");
    await writeFile(config, JSON.stringify({ listen: "127.0.0.1:0", dataDir: dir, fleet: { remotes: [repo.url], pollInterval: "1s" }, auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] } }));
    let stderr = "";
    let stdout = "";
    proc = spawn("sh", ["-c", `ulimit -n 128; exec "${process.execPath}" bin/flotilla.js serve --config "${config}"`], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    proc.stderr!.on("data", (d) => (stderr += d));
    proc.stdout!.on("data", (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => proc!.on("exit", (code) => r(code)));
    const url = await waitFor(async () => /listening on (http:\S+)/.exec(stdout)?.[1], "the controller to listen", 120_000);
    const port = Number(new URL(url).port);

    // An unauthenticated client: 300 POSTs whose bodies never finish.
    const held: RawClient[] = [];
    for (let i = 0; i < 300; i++) {
      held.push(await rawConnect(port, "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{").catch(() => null as never));
    }
    // The next polls cannot start git.
    await waitFor(async () => /EMFILE/.test(stderr), "a poll to fail with EMFILE", 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // more polls, more failures
    expect(proc.exitCode, stderr.slice(-3000)).toBeNull();
    expect(stderr).toMatch(/fleet fetch failed.*could not start.*EMFILE/);

    // The client goes away: the controller follows the branch again.
    for (const c of held) c?.sock.destroy();
    const next = await repo.commit({ "fleet.yaml": fleetYaml(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1"], soak: "1m" }] }) }, "after the storm");
    await waitFor(async () => (await api<{ head: string }>(url, "/healthz").catch(() => null))?.body.head === next, "the controller to follow the new head", 60_000);
    expect(proc.exitCode).toBeNull();
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 240_000); // a real process started under load, then three waits on its polls
});

describe("deadlines, connection cap, query parameters, control characters, refusal counting", () => {
  let ctl: Awaited<ReturnType<typeof startTestController>>;
  let web: SimAgent;
  let canary: SimAgent;
  beforeAll(async () => {
    ctl = await startTestController({ repo, extra: { limits: { maxBodyBytes: 4096, requestTimeout: "2s" } } });
    web = new SimAgent(signers["web-1"]!, ctl.url);
    canary = new SimAgent(signers["canary-1"]!, ctl.url);
  });
  afterAll(async () => ctl?.stop());

  it("a body trickled one byte at a time is cut at limits.requestTimeout with 408; a long-poll watch longer than that is not", async () => {
    const slow = await rawConnect(ctl.port, "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
    const drip = setInterval(() => slow.sock.writable && slow.sock.write("{"), 200);
    const watch = canary.watch(null, 0); // immediate: learn the head
    const head = (await watch).body.head;
    const long = canary.watch(head, 3_500);
    await waitFor(async () => slow.isClosed(), "the trickled request to be cut", 20_000);
    clearInterval(drip);
    expect(statusOf(slow.data())).toBe(408);
    expect(await long).toMatchObject({ status: 200, body: { changed: false } });
  });

  const bad: [string, string][] = [
    ...["abc", "1.5", "1e400", "-1", "0", "99999999999999999999", "", "0x10", " 5"].map((v) => [`/api/v1/audit?limit=${encodeURIComponent(v)}`, "limit"] as [string, string]),
    ["/api/v1/audit?since=abc", "since"],
    ["/api/v1/audit?since=1e400", "since"],
    ["/api/v1/audit?since=99999999999999999999999d", "since"],
    ["/api/v1/audit?format=xml", "format"],
    ["/api/v1/status?format=yaml", "format"],
    ...["abc", "-5", "1.5", "1e400", "", "99999999999999999999"].map((v) => [`/api/v1/watch?host=web-1&since=&timeoutMs=${encodeURIComponent(v)}`, "timeoutMs"] as [string, string]),
    ["/api/v1/watch?host=web-1&since=zzz", "since"],
    ["/api/v1/watch?since=", "host"],
    ...["abc", "-1", "0", "1e400", "2.5"].map((v) => [`/?refresh=${v}`, "refresh"] as [string, string]),
  ];

  it(`every malformed query parameter is a 400 naming it, never a 500 (${bad.length} cases)`, async () => {
    const results = await Promise.all(bad.map(async ([path, param]) => ({ path, param, r: await api<ApiError>(ctl.url, path) })));
    for (const { path, param, r } of results) {
      expect({ path, status: r.status, error: r.body.error, param: r.body.path }).toEqual({ path, status: 400, error: "InvalidQuery", param });
      expect(r.body.message, path).toMatch(new RegExp(`^${param}: expected`));
      expect(r.body.message, path).not.toMatch(/SQLITE|datatype|mismatch/i);
    }
    // and the good forms still work
    for (const ok of ["/api/v1/audit?limit=5", "/api/v1/audit?since=2h&format=text", "/api/v1/status?format=markdown", "/?refresh=10"]) expect((await api(ctl.url, ok)).status, ok).toBe(200);
  });

  it("audit limit keeps the newest N entries of events and decisions merged, listed oldest first", async () => {
    const t0 = Date.now() - 60_000;
    await canary.send(...canary.deployed(C, new Date(t0)));
    await waitFor(async () => (await api<AuditReport>(ctl.url, "/api/v1/audit")).body.entries.some((e) => e.kind === "decision"), "a decision", 60_000);
    await web.send(web.heartbeat(), ...web.deployed(C, new Date()));
    const audit = async (q = "") => (await api<AuditReport>(ctl.url, `/api/v1/audit${q}`)).body.entries;
    // The rollout records decisions on its own tick: compare only between two equal full reads.
    const consistent = async (n: number) => {
      for (;;) {
        const before = await audit();
        const got = await audit(`?limit=${n}`);
        const after = await audit();
        if (JSON.stringify(before) === JSON.stringify(after)) return { all: after, got };
      }
    };
    const { all } = await consistent(1);
    expect(all.length).toBeGreaterThan(4);
    expect(new Set(all.map((e) => e.kind))).toEqual(new Set(["event", "decision"]));
    for (const n of [1, 3, all.length - 1, all.length, all.length + 5]) {
      const r = await consistent(n);
      expect(r.got, `limit=${n}`).toEqual(r.all.slice(-n));
    }
  }, 180_000);

  it("control characters from agents reach status and audit (text, markdown, the CLI) escaped, never raw", async () => {
    const evil = "boom\u202e\x1b[2J\x1b]0;owned\x07\x9b31m\r\nsecond line";
    await web.send(web.event({ phase: "verifying", outcome: "failed", rev: C, reason: "Health\x1b[5mCheck", error: { reason: "HealthCheckFailed\x1b[31m", message: evil }, message: evil }));
    const cli = await buildCli();
    // [output, shows the error message] (the status Markdown has no error column)
    const outputs: [string, boolean][] = [
      [(await api<string>(ctl.url, "/api/v1/status?format=text")).body, true],
      [(await api<string>(ctl.url, "/api/v1/status?format=markdown")).body, false],
      [(await api<string>(ctl.url, "/api/v1/audit?format=text")).body, true],
      [(await api<string>(ctl.url, "/api/v1/audit?format=markdown")).body, true],
      ...(await Promise.all(
        [["status"], ["status", "--markdown"], ["audit"], ["audit", "--markdown"]].map(async (a, i) => [(await cli.run([...a, "--controller", ctl.url, "--token", OPERATOR_TOKEN], { env: { COLUMNS: "1000" } })).stdout, i !== 1] as [string, boolean]),
      )),
    ];
    // fitted to a narrow terminal, the message is cut ("…"), and still never raw
    outputs.push([(await cli.run(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN], { env: { COLUMNS: "80" } })).stdout, false]);
    for (const [out, showsMessage] of outputs) {
      expect(out).toMatch(/web-1/);
      if (showsMessage) expect(out).toContain("boom\\u202e\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\r");
      // eslint-disable-next-line no-control-regex
      expect(out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    }
  }, 180_000); // four CLI processes

  it("every refusal counts in flotilla_requests_rejected_total once, a 413 included", async () => {
    const metric = async (code: string) => Number(new RegExp(`flotilla_requests_rejected_total\\{code="${code}"\\} (\\d+)`).exec((await api<string>(ctl.url, "/metrics")).body)?.[1] ?? 0);
    const before = { big: await metric("PayloadTooLarge"), json: await metric("InvalidJson"), sig: await metric("BadSignature"), q: await metric("InvalidQuery") };
    expect((await api(ctl.url, "/api/v1/reports", { raw: "x".repeat(10_000), token: null })).status).toBe(413);
    expect((await api(ctl.url, "/api/v1/gate", { raw: "y".repeat(10_000), token: null })).status).toBe(413);
    expect((await api(ctl.url, "/api/v1/reports", { raw: "{nope", token: null })).status).toBe(400);
    const forged = { ...signers["canary-1"]!.sign(JSON.stringify(web.heartbeat())), host: "web-1" };
    expect((await api(ctl.url, "/api/v1/reports", { body: { reports: [forged] }, token: null })).status).toBe(401);
    expect((await api(ctl.url, "/api/v1/audit?limit=x")).status).toBe(400);
    expect({ big: await metric("PayloadTooLarge"), json: await metric("InvalidJson"), sig: await metric("BadSignature"), q: await metric("InvalidQuery") }).toEqual({
      big: before.big + 2, json: before.json + 1, sig: before.sig + 1, q: before.q + 1,
    });
  });
});

describe("limits.maxConnections", () => {
  let ctl: Awaited<ReturnType<typeof startTestController>>;
  const held: RawClient[] = [];
  beforeAll(async () => {
    ctl = await startTestController({ repo, extra: { limits: { maxConnections: 4 } } });
  });
  afterAll(async () => {
    for (const c of held) c.sock.destroy();
    await ctl?.stop();
  });

  it("beyond the cap: 503 TooManyConnections and close, /healthz still answers from the headroom; beyond the headroom connections are refused; service resumes when they go", async () => {
    for (let i = 0; i < 4; i++) held.push(await rawConnect(ctl.port));
    await waitFor(async () => ctl.connections.open() === 4, "4 open connections");
    const over = await rawConnect(ctl.port, get("/api/v1/status"));
    await over.closed;
    expect(statusOf(over.data())).toBe(503);
    expect(over.data()).toMatch(/"error":"TooManyConnections"/);
    expect(over.data()).toMatch(/connection: close/i);

    const health = await rawConnect(ctl.port, get("/healthz"));
    await waitFor(async () => statusOf(health.data()) === 200, "healthz to answer over the cap");
    held.push(health);
    // Fill the healthz headroom, then one more is refused outright.
    while (ctl.connections.open() < ctl.connections.hardLimit) {
      held.push(await rawConnect(ctl.port));
      await waitFor(async () => ctl.connections.open() === held.length, "the connection to be counted");
    }
    const refused = await rawConnect(ctl.port, get("/healthz"));
    await refused.closed;
    expect(refused.data()).toBe("");

    for (const c of held.splice(0)) c.sock.destroy();
    await waitFor(async () => ctl.connections.open() === 0, "the held connections to close");
    expect((await api(ctl.url, "/api/v1/status")).status).toBe(200);
    const m = (await api<string>(ctl.url, "/metrics")).body;
    expect(Number(/flotilla_requests_rejected_total\{code="TooManyConnections"\} (\d+)/.exec(m)?.[1])).toBeGreaterThanOrEqual(2);
  });
});
