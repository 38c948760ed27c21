// The event builders, pure: what each kind carries (rev, subject, hosts,
// reason, time, link), and the operator-action event the coordinator wires
// to the operator-action hook.
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { slackText } from "./format.js";
import { NotifySources, operatorActionEvent, staleEvent, stalledEvents } from "./sources.js";
import type { NotifyEvent } from "./types.js";
import { emptyHostState } from "../store/host-state.js";
import { SqliteStore } from "../store/sqlite.js";
import { WebhookReceiver } from "../../../test/helpers/webhook-receiver.js";
import { Notifier } from "./notifier.js";

const REV = "0123456789abcdef0123456789abcdef01234567";

describe("notification events", () => {
  it("operator-action: who did what to which host or wave, why, linked", () => {
    const e = operatorActionEvent("https://f.example/", { id: 7, action: "abort", rev: REV, wave: null, host: null, reason: "bad nginx config", actor: "ops", time: "2026-12-02T08:00:00.000Z" }, "nginx: raise limits");
    expect(e).toMatchObject({ kind: "operator-action", rev: REV, subject: "nginx: raise limits", hosts: [], reason: "ops: abort: bad nginx config", time: "2026-12-02T08:00:00.000Z", url: `https://f.example/?rev=${REV}` });
    expect(e.action).toMatchObject({ id: 7, action: "abort", actor: "ops" });
    const retry = operatorActionEvent(null, { action: "retry", host: "web-1", rev: REV, reason: "disk cleaned", actor: "alice", time: "2026-12-02T08:01:00.000Z" });
    expect(retry).toMatchObject({ hosts: ["web-1"], reason: "alice: retry host web-1: disk cleaned", url: null, subject: null });
    expect(slackText(retry)).toBe("*Operator action* alice ran *retry* `0123456789ab` on web-1 — alice: retry host web-1: disk cleaned");
  });

  it("host-stalled only for rollbackFailed events, quoting the agent's error (shortened)", () => {
    const base = { type: "event" as const, host: "db-1", agentVersion: "1", outcome: "failed" as const, rev: REV, generation: null, time: "2026-12-02T08:00:00.000Z" };
    const events = stalledEvents(null, "db-1", [
      { ...base, seq: 1, phase: "verifying", reason: "HealthCheckFailed" },
      { ...base, seq: 2, phase: "rollbackFailed", reason: "RollbackFailed", error: { reason: "RollbackFailed", message: "x".repeat(5000) } },
    ], () => "subject");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "host-stalled", hosts: ["db-1"], rev: REV, subject: "subject", time: base.time });
    expect(events[0]!.reason.length).toBeLessThanOrEqual(1000);
  });

  it("host-stale: since when, for how long, against which threshold", () => {
    const h = { ...emptyHostState("web-2"), lastSeenMs: Date.parse("2026-12-02T08:00:00.000Z"), currentRev: REV };
    const e = staleEvent("https://f.example", h, 300_000, h.lastSeenMs + 365_000, null);
    expect(e).toMatchObject({ kind: "host-stale", hosts: ["web-2"], rev: REV, time: "2026-12-02T08:05:00.000Z", reason: "no report or heartbeat for 6m5s (policy.unreachableAfter 5m)" });
  });

  it("NotifySources.operatorAction emits once with the commit's subject (real store, real notifier, local receiver)", async () => {
    const r = await WebhookReceiver.start();
    const store = new SqliteStore(":memory:");
    await store.migrate();
    await store.recordCommit({ sha: REV, observedMs: 1, author: "a", authorEmail: "a@x", committer: "a", timeMs: 1, subject: "the subject", parents: [], fleetError: null, pr: null });
    const notifier = new Notifier({ options: { targets: [{ name: "t", url: r.url, format: "webhook", secret: null, events: null, timeoutMs: 2000 }], maxAttempts: 3, maxBackoffMs: 100, queueSize: 10 }, log: memoryLogger() });
    try {
      const s = new NotifySources({ notifier, store, log: memoryLogger(), publicUrl: null });
      s.operatorAction({ action: "pause", rev: REV, reason: "investigating", actor: "ops", time: "2026-12-02T08:00:00.000Z" });
      s.operatorAction({ action: "pause", rev: "f".repeat(40), reason: "other", actor: "ops", time: "2026-12-02T08:00:01.000Z" });
      await s.settle();
      await notifier.idle();
      expect(r.accepted.map((q) => JSON.parse(q.body)).map((e: NotifyEvent) => [e.kind, e.subject, e.reason])).toEqual([
        ["operator-action", "the subject", "ops: pause: investigating"],
        ["operator-action", null, "ops: pause: other"],
      ]);
    } finally {
      await notifier.stop(0);
      await store.close();
      await r.down();
    }
  });
});
