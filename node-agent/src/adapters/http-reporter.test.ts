import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { loadHostSigner, verifyEnvelope } from "../../../common/src/signing.js";
import type { SignedEnvelope } from "../../../schemas/src/api.js";
import { initialState } from "../loop/phases.js";
import { systemClock } from "./clock.js";
import { HttpReporter } from "./http-reporter.js";
import { Outbox } from "./queue.js";

type Answer = (reports: SignedEnvelope[]) => { status: number; body: unknown };

let server: Server | null = null;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A real HTTP controller stand-in on 127.0.0.1 whose answers the test scripts. */
async function controller(answer: Answer): Promise<{ url: string; received: SignedEnvelope[][] }> {
  const received: SignedEnvelope[][] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const reports = (JSON.parse(body) as { reports: SignedEnvelope[] }).reports;
      received.push(reports);
      const a = answer(reports);
      res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const port = (server!.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, received };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-reporter-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  const pub = readFileSync(join(dir, "host_key.pub"), "utf8").trim();
  const log = memoryLogger();
  const outbox = new Outbox(join(dir, "outbox"), { maxEvents: 100, maxHeartbeats: 10, log });
  const reporter = new HttpReporter({ signer: await loadHostSigner("web-1", join(dir, "host_key")), outbox, clock: systemClock, log, agentVersion: "test" });
  const draft = (reason: string) => ({ phase: "done" as const, outcome: "succeeded" as const, reason, rev: null, generation: null });
  for (const r of ["A", "B", "C"]) await reporter.event(draft(r), initialState("web-1", new Date().toISOString()));
  return { dir, pub, log, outbox, reporter };
}

const seqOf = (e: SignedEnvelope) => (JSON.parse(e.payload) as { seq: number; reason: string }).seq;
const reasonOf = (e: SignedEnvelope) => (JSON.parse(e.payload) as { reason: string }).reason;

describe("HttpReporter refusals", () => {
  it("renumbers and re-signs its queue above the controller's seq when its counter fell behind (state dir wiped)", async () => {
    const { pub, outbox, reporter } = await setup();
    let stored = 500;
    const c = await controller((reports) => {
      if (reports.some((e) => seqOf(e) <= stored)) return { status: 409, body: { error: "SeqBehind", message: "seq behind", path: "reports[0].payload.seq", lastSeq: stored } };
      stored = seqOf(reports.at(-1)!);
      return { status: 200, body: { accepted: reports.length, duplicates: 0, lastSeq: stored } };
    });
    reporter.setController(c.url);
    expect(await reporter.flush()).toBe(true);
    const delivered = c.received.at(-1)!;
    expect(delivered.map(seqOf)).toEqual([501, 502, 503]);
    expect(delivered.map(reasonOf)).toEqual(["A", "B", "C"]); // original order kept
    for (const e of delivered) expect(verifyEnvelope(e, pub)).toBe(true);
    expect(outbox.length).toBe(0);
    // New messages continue above the renumbered ones.
    await reporter.event({ phase: "idle", outcome: "succeeded", reason: "D", rev: null, generation: null }, initialState("web-1", new Date().toISOString()));
    expect(await reporter.flush()).toBe(true);
    expect(c.received.at(-1)!.map(seqOf)).toEqual([504]);
  });

  it("sets aside a report the controller will never accept, keeps it on disk, and delivers the rest", async () => {
    const { dir, log, outbox, reporter } = await setup();
    const c = await controller((reports) => {
      const i = reports.findIndex((e) => reasonOf(e) === "B");
      if (i >= 0) return { status: 400, body: { error: "Replay", message: "older than the accepted window", path: `reports[${i}].payload.time` } };
      return { status: 200, body: { accepted: reports.length, duplicates: 0, lastSeq: seqOf(reports.at(-1)!) } };
    });
    reporter.setController(c.url);
    expect(await reporter.flush()).toBe(true);
    expect(c.received.at(-1)!.map(reasonOf)).toEqual(["A", "C"]);
    expect(outbox.length).toBe(0);
    const rejected = readdirSync(join(dir, "outbox", "rejected")).sort();
    expect(rejected).toEqual(["000000000002-e.json", "000000000002.reason"]);
    expect(log.lines.some((l) => /will never accept a queued report/.test(l))).toBe(true);
  });

  it("keeps everything queued when the whole batch is refused (unknown host until the fleet file lists it)", async () => {
    const { outbox, reporter } = await setup();
    const c = await controller(() => ({ status: 403, body: { error: "UnknownHost", message: "not in the fleet", path: "reports[0].host" } }));
    reporter.setController(c.url);
    expect(await reporter.flush()).toBe(false);
    expect(outbox.length).toBe(3);
    expect(c.received).toHaveLength(1);
  });
});

describe("HttpReporter: no refusal jams the queue", () => {
  it("isolates the report behind a refusal it does not know (split down to one), sets it aside, delivers the rest", async () => {
    const { outbox, reporter } = await setup();
    const accepted: string[] = [];
    const c = await controller((reports) => {
      const i = reports.findIndex((e) => reasonOf(e) === "B");
      if (i >= 0) return { status: 422, body: { error: "SomethingNew", message: "a code this agent does not know" } };
      accepted.push(...reports.map(reasonOf));
      return { status: 200, body: { accepted: reports.length, duplicates: 0, lastSeq: seqOf(reports.at(-1)!) } };
    });
    reporter.setController(c.url);
    expect(await reporter.flush()).toBe(true);
    expect(outbox.length).toBe(0);
    expect(reporter.setAsideCount()).toBe(1);
    expect(accepted).toEqual(["A", "C"]);
    expect(c.received.map((b) => b.map(reasonOf).join(""))).toEqual(["ABC", "A", "BC", "B", "C"]); // halved, grown back after a success, halved again
  });

  it("sets aside reports queued under another host name instead of sending them", async () => {
    const { dir, reporter } = await setup();
    const other = new HttpReporter({ signer: await loadHostSigner("web-2", join(dir, "host_key")), outbox: new Outbox(join(dir, "outbox"), { maxEvents: 100, maxHeartbeats: 10, log: memoryLogger() }), clock: systemClock, log: memoryLogger(), agentVersion: "test" });
    await other.event({ phase: "idle", outcome: "succeeded", reason: "X", rev: null, generation: null }, initialState("web-2", new Date().toISOString()));
    const fresh = new HttpReporter({ signer: await loadHostSigner("web-1", join(dir, "host_key")), outbox: new Outbox(join(dir, "outbox"), { maxEvents: 100, maxHeartbeats: 10, log: memoryLogger() }), clock: systemClock, log: memoryLogger(), agentVersion: "test" });
    void reporter;
    const c = await controller((reports) => {
      if (reports.some((e) => e.host !== "web-1")) return { status: 400, body: { error: "MixedHosts", message: "mixed", path: "reports[3].host" } };
      return { status: 200, body: { accepted: reports.length, duplicates: 0, lastSeq: seqOf(reports.at(-1)!) } };
    });
    fresh.setController(c.url);
    expect(await fresh.flush()).toBe(true);
    expect(c.received.flat().map(reasonOf)).toEqual(["A", "B", "C"]);
    expect(fresh.setAsideCount()).toBe(1);
  });

  it("waits (keeps the queue, logs once) on refusals of the host as a whole, and tries again at the next delivery", async () => {
    const { log, outbox, reporter } = await setup();
    let known = false;
    const c = await controller((reports) =>
      known ? { status: 200, body: { accepted: reports.length, duplicates: 0, lastSeq: seqOf(reports.at(-1)!) } } : { status: 503, body: { error: "FleetUnavailable", message: "no fleet yet" } },
    );
    reporter.setController(c.url);
    expect(await reporter.flush()).toBe(false);
    expect(await reporter.flush()).toBe(false);
    expect(log.lines.filter((l) => /stay queued and are sent again/.test(l))).toHaveLength(1);
    expect(outbox.length).toBe(3);
    known = true;
    expect(await reporter.flush()).toBe(true);
  });
});
