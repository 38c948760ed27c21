// The agent's report queue never jams (issue 9 §2). The agent's real
// reporter and outbox (signing with a real ssh-keygen host key read from
// disk) deliver to the real controller on 127.0.0.1 (its own fleet repo
// follower, SQLite store, HTTP app). Each refusal that used to make the agent
// resend the same oldest batch forever is reproduced here: 413 after an
// outage with big failure logs, 400 ClockSkew after a clock ran ahead, 401
// BadSignature around a host-key rotation. Every case counts what arrives.
import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../common/src/log.js";
import type { Heartbeat, TransitionEvent } from "../../schemas/src/api.js";
import type { EventDraft } from "../../node-agent/src/loop/events.js";
import { initialState } from "../../node-agent/src/loop/phases.js";
import { systemClock } from "../../node-agent/src/adapters/clock.js";
import { HostKeyFile } from "../../node-agent/src/adapters/host-key.js";
import { HttpReporter } from "../../node-agent/src/adapters/http-reporter.js";
import { Outbox } from "../../node-agent/src/adapters/queue.js";
import type { Clock } from "../../node-agent/src/ports.js";
import { makeFleetRepo } from "../helpers/git-repo.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { makeKey } from "./agent/helpers.js";
import { api, startTestController } from "./controller/harness.js";

afterAll(async () => {
  await cleanupTempDirs();
});

const HOST = "canary-1";
const REV = "a".repeat(40);

function fleetFile(hostKey: string): string {
  return stringify({ version: 1, policy: { branch: "main" }, hosts: [{ name: HOST, kind: "nixos", hostKey }], waves: [{ name: "canary", members: [HOST] }] });
}

/**
 * Host keys made by ssh-keygen (`names`, the first listed for HOST in the
 * fleet file) and a controller following that fleet; it polls every hour, so
 * it learns of later commits only when asked.
 */
async function keyedController<const N extends readonly [string, ...string[]]>(names: N, extra?: Record<string, unknown>) {
  const dir = await makeTempDir("flotilla-queue-keys-");
  const keys = names.map((n) => makeKey(dir, n));
  const repo = await makeFleetRepo({ files: { "fleet.yaml": fleetFile(keys[0]!.pub) }, message: "fleet" });
  const ctl = await startTestController({ repo, ...(extra ? { extra } : {}) });
  return { dir, keys: keys as { [K in keyof N]: ReturnType<typeof makeKey> }, repo, ctl };
}

/** A clock the test can move: `offsetMs` ahead of the real one (the agent's ran ahead). */
function skewedClock(): Clock & { offsetMs: number } {
  const c = {
    offsetMs: 0,
    now: () => new Date(Date.now() + c.offsetMs),
    sleep: systemClock.sleep,
    random: systemClock.random,
  };
  return c;
}

async function agentSide(keyPath: string, clock: Clock = systemClock) {
  const dir = await makeTempDir("flotilla-queue-it-");
  const log = memoryLogger("agent");
  const outbox = new Outbox(join(dir, "outbox"), { maxEvents: 10_000, maxHeartbeats: 100, log });
  const signer = await HostKeyFile.load(HOST, keyPath);
  const reporter = new HttpReporter({ signer, outbox, clock, log, agentVersion: "it" });
  const state = initialState(HOST, new Date().toISOString());
  return { dir, log, outbox, reporter, state, event: (d: EventDraft) => reporter.event(d, state), heartbeat: () => reporter.heartbeat(state) };
}

/** A failure log as a build prints it: many lines, quotes, backslashes. */
function bigLog(n: number, chars: number): string {
  let s = "";
  for (let i = 0; s.length < chars; i++) s += `error: builder for '/nix/store/${String(n).padStart(4, "0")}-x-${i}.drv' failed with exit code 1; "last\\line" ${i}\n`;
  return s.slice(0, chars);
}

async function storedMessages(ctl: Awaited<ReturnType<typeof startTestController>>) {
  const events = await ctl.store.auditEvents({ host: HOST, limit: 100_000 });
  return events.map((e) => JSON.parse(e.payload) as TransitionEvent).sort((a, b) => a.seq - b.seq);
}

/** Flushes until the queue is empty; at most `tries` deliveries (a jammed queue never empties). */
async function drain(reporter: HttpReporter, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await reporter.flush()) return true;
  return false;
}

describe("the agent's report queue never jams", () => {
  it("413 PayloadTooLarge: splits the batch, truncates an event too large on its own with a marker, delivers every event", async () => {
    const { keys: [key], ctl } = await keyedController(["host_key"], { limits: { maxBodyBytes: 32 * 1024 } });
    try {
      const a = await agentSide(key.path);
      // An outage: 40 commits failed to build, each with a big log, all queued.
      for (let n = 0; n < 40; n++) {
        await a.event({ phase: "failed", outcome: "failed", reason: "BuildFailed", rev: REV, generation: null, error: { reason: "BuildFailed", message: bigLog(n, 7_000) } });
        if (n % 10 === 0) await a.heartbeat();
      }
      // One event too large even alone: long message, long error, many long health details.
      const health = Array.from({ length: 10 }, (_, i) => ({ check: `http-${i}`, ok: false, detail: bigLog(100 + i, 2_000), time: new Date().toISOString(), rev: REV, generation: "/nix/store/gen" }));
      await a.event({ phase: "verifying", outcome: "failed", reason: "HealthCheckFailed", rev: REV, generation: "/nix/store/gen", health, message: bigLog(200, 8_000), error: { reason: "HealthCheckFailed", message: bigLog(201, 8_000) } });
      const queuedEvents = a.outbox.counts().events;
      expect(queuedEvents).toBe(41);

      a.reporter.setController(ctl.url);
      expect(await drain(a.reporter)).toBe(true);
      expect(a.outbox.length).toBe(0);

      const stored = await storedMessages(ctl);
      expect(stored).toHaveLength(41); // none lost
      for (const [n, e] of stored.slice(0, 40).entries()) expect(e.error?.message).toBe(bigLog(n, 7_000)); // untouched
      const big = stored[40]!;
      expect(big).toMatchObject({ phase: "verifying", outcome: "failed", reason: "HealthCheckFailed", rev: REV, generation: "/nix/store/gen" });
      expect(big.health).toHaveLength(10); // every result kept (the verdict depends on them)
      expect(big.health!.every((h) => h.ok === false)).toBe(true);
      const texts = [big.message!, big.error!.message, ...big.health!.map((h) => h.detail!)];
      expect(texts.some((t) => /\[truncated by flotilla-agent: \d+ of \d+ characters kept\]$/.test(t))).toBe(true);
      expect(a.log.lines.some((l) => /truncated/.test(l))).toBe(true);
      expect(await readdir(join(a.dir, "outbox")).then((f) => f.includes("rejected"))).toBe(false);
    } finally {
      await ctl.stop();
    }
  });

  it("400 ClockSkew: reports stamped by a clock that ran a day ahead are re-timed with an honest marker and accepted; heartbeats flow while the clock is still ahead", async () => {
    const { keys: [key], ctl } = await keyedController(["host_key"]);
    try {
      const clock = skewedClock();
      const a = await agentSide(key.path, clock);
      clock.offsetMs = 86_400_000; // +1 d
      const skewedTimes: string[] = [];
      for (const reason of ["A", "B", "C"]) {
        await a.event({ phase: "done", outcome: "succeeded", reason, rev: REV, generation: "/nix/store/gen" });
      }
      await a.heartbeat();
      for (const e of await a.outbox.peek(10)) skewedTimes.push((JSON.parse(e.envelope.payload) as { time: string }).time);
      // The clock is corrected; the queue still holds the day-ahead times.
      clock.offsetMs = 0;
      a.reporter.setController(ctl.url);
      const before = Date.now();
      expect(await drain(a.reporter)).toBe(true);

      const stored = await storedMessages(ctl);
      expect(stored.map((e) => e.reason)).toEqual(["A", "B", "C"]);
      for (const [i, e] of stored.entries()) {
        expect(Date.parse(e.time)).toBeLessThanOrEqual(Date.now() + 1000);
        expect(Date.parse(e.time)).toBeGreaterThanOrEqual(before - 2000);
        expect(e.skewedTime).toBe(skewedTimes[i]);
      }
      const hs = await ctl.store.hostState(HOST);
      expect(hs?.lastSeq).toBe(4); // the heartbeat too

      // The audit shows it honestly: when the controller got it, and what the agent's clock said.
      const audit = await api<{ entries: Array<{ reason: string; time: string; skewedTime?: string }> }>(ctl.url, `/api/v1/audit?host=${HOST}`);
      expect(audit.status).toBe(200);
      expect(audit.body.entries.map((e) => e.skewedTime)).toEqual(skewedTimes.slice(0, 3));
      const text = await api<string>(ctl.url, `/api/v1/audit?host=${HOST}&format=text`);
      expect(text.body).toMatch(/agent clock ahead/);

      // Not corrected yet (+10 min): every report is still delivered, heartbeats included.
      clock.offsetMs = 10 * 60_000;
      await a.event({ phase: "done", outcome: "succeeded", reason: "D", rev: REV, generation: "/nix/store/gen" });
      await a.heartbeat();
      await a.heartbeat();
      expect(await drain(a.reporter)).toBe(true);
      expect((await ctl.store.hostState(HOST))?.lastSeq).toBe(7);
      expect((await storedMessages(ctl)).at(-1)).toMatchObject({ reason: "D", skewedTime: expect.any(String) });
      expect(await readdir(join(a.dir, "outbox")).then((f) => f.includes("rejected"))).toBe(false);
    } finally {
      await ctl.stop();
    }
  });

  it("401 BadSignature around a host-key rotation: re-signs the queue with the key now on disk; the controller re-reads the fleet for a key it has not seen; nothing lost", async () => {
    const { dir, keys: [oldKey, newKey], repo, ctl } = await keyedController(["old_key", "new_key"]);
    const hostKeyPath = join(dir, "ssh_host_ed25519_key");
    await copyFile(oldKey.path, hostKeyPath);
    try {
      const a = await agentSide(hostKeyPath);
      a.reporter.setController(ctl.url);
      const ev = (reason: string) => a.event({ phase: "done", outcome: "succeeded", reason, rev: REV, generation: "/nix/store/gen" });
      await ev("before-1");
      await ev("before-2");
      expect(await drain(a.reporter)).toBe(true);

      // Step 1: the operator commits the new hostKey; the controller fetches it.
      await repo.commit({ "fleet.yaml": fleetFile(newKey.pub) }, "rotate canary-1's host key");
      await ctl.follower.poke("test");
      // The agent still signs with the old key: refused, kept (the key on disk is the same).
      await ev("between-1");
      await a.heartbeat();
      expect(await a.reporter.flush()).toBe(false);
      expect(a.outbox.counts().events).toBe(1);

      // Step 2: the new key is swapped in on the host. The running agent reads it
      // from disk after the next 401 and re-signs what it queued.
      await copyFile(newKey.path, hostKeyPath);
      await ev("between-2");
      expect(await drain(a.reporter)).toBe(true);
      await ev("after-1");
      expect(await drain(a.reporter)).toBe(true);
      expect(a.log.lines.some((l) => /host key changed/.test(l))).toBe(true);

      const stored = await storedMessages(ctl);
      expect(stored.map((e) => e.reason)).toEqual(["before-1", "before-2", "between-1", "between-2", "after-1"]);
      expect((await ctl.store.hostState(HOST))?.lastSeq).toBe(6); // and the heartbeat
      expect(await readdir(join(a.dir, "outbox")).then((f) => f.includes("rejected"))).toBe(false);
    } finally {
      await ctl.stop();
    }
  });

  it("401 BadSignature for a key named in a commit the controller has not fetched yet: it fetches and verifies again", async () => {
    const { keys: [oldKey, newKey], repo, ctl } = await keyedController(["old_key", "new_key"]);
    try {
      // Queued while signing with the old key (controller unreachable meanwhile).
      const a = await agentSide(oldKey.path);
      await a.event({ phase: "done", outcome: "succeeded", reason: "old-key", rev: REV, generation: "/nix/store/gen" });
      // The key is swapped on the host, the agent restarted (it reads the new key),
      // and the commit naming it pushed, but not yet fetched by the controller.
      await repo.commit({ "fleet.yaml": fleetFile(newKey.pub) }, "rotate canary-1's host key");
      const log = memoryLogger("agent");
      const outbox = new Outbox(a.outbox.dir, { maxEvents: 100, maxHeartbeats: 10, log });
      const r = new HttpReporter({ signer: await HostKeyFile.load(HOST, newKey.path), outbox, clock: systemClock, log, agentVersion: "it" });
      await r.event({ phase: "done", outcome: "succeeded", reason: "new-key", rev: REV, generation: "/nix/store/gen" }, a.state);
      r.setController(ctl.url);
      expect(await drain(r)).toBe(true);
      expect(log.lines.some((l) => /re-signed queued reports signed by another host key/.test(l))).toBe(true);
      const stored = await storedMessages(ctl);
      expect(stored.map((e) => e.reason)).toEqual(["old-key", "new-key"]);
    } finally {
      await ctl.stop();
    }
  });

  it("heartbeats keep flowing past a report the controller refuses for good: it is set aside, logged and counted", async () => {
    const { keys: [key], ctl } = await keyedController(["host_key"], { limits: { maxBodyBytes: 32 * 1024 } });
    try {
      const clock = skewedClock();
      const a = await agentSide(key.path, clock);
      clock.offsetMs = -8 * 86_400_000; // a clock 8 days behind: older than the replay window
      await a.event({ phase: "done", outcome: "succeeded", reason: "ancient", rev: REV, generation: "/nix/store/gen" });
      clock.offsetMs = 0;
      await a.heartbeat();
      a.reporter.setController(ctl.url);
      expect(await drain(a.reporter)).toBe(true);
      expect((await ctl.store.hostState(HOST))?.lastSeq).toBe(2);
      expect(a.reporter.setAsideCount()).toBe(1);
      expect((await readdir(join(a.dir, "outbox", "rejected"))).sort()).toEqual(["000000000001-e.json", "000000000001.reason"]);
    } finally {
      await ctl.stop();
    }
  });
});
