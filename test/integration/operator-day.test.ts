// Issue #12's acceptance, one operator's day end to end: two built
// `flotilla-agent run` daemons (canary-1; web-1 in a wave declared
// approval: manual) under libfaketime building the offline test fleet with
// real nix, a real controller (SQLite, `now` injected, the same clock) with a
// `notify` webhook target signed with an HMAC secret, a webhook receiver on
// 127.0.0.1, and the operator CLI (`flotilla rollout|host …`). The fleet's
// day starts at 01:00 UTC. Nobody touches a host after it started.
//   a. c1: the manual web wave waits until `flotilla rollout approve`;
//   b. c2: canary-1's new check needs an upstream that is down: the canary
//      fails, rolls back, the rollout halts, and the receiver gets exactly one
//      rollout-halted notification with a valid signature;
//   c. `flotilla rollout abort` makes the halt final; the upstream is fixed and
//      `flotilla host retry canary-1` makes its agent forget c2 (it then waits:
//      the branch gives an aborted rollout); c3 re-lands the check and the
//      retried host deploys what the branch gives it;
//   d. c3 also gives web-1 a maintenance window 02:00–03:00 UTC: approved, it
//      waits outside the window, and deploys when the clocks reach 02:00.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../../schemas/src/api.js";
import type { NotifyEvent } from "../../controller/src/notify/types.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { api, startTestController } from "./controller/harness.js";
import { waitFor } from "./agent/helpers.js";
import { startDaemons, statusOf, stopAll, useBuiltAgent, worlds } from "./agent/daemons.js";
import { fakeClock, operatorCli, upstream } from "./agent/operator.js";

const SECRET = "operator-day-hmac-secret-0123456789";
const HOUR = 3_600_000;

useBuiltAgent();

describe("an operator's day with real agents", () => {
  it("approve a manual wave, get the halt by webhook, abort, retry, and a maintenance window", async () => {
    // The fleet's clock: the next 01:00:00 UTC after now.
    const real = Date.now();
    const day = Math.floor(real / 86_400_000) * 86_400_000 + 86_400_000;
    const clock = await fakeClock(day + HOUR - real);
    const ws = await worlds("canary-1", "web-1");
    const [canary] = ws;
    const up = await upstream();
    const hook = await WebhookReceiver.start();
    // generous deadlines: a loaded machine (and libfaketime) must not fail a healthy check
    const baseChecks = canary.defaultChecks("canary-1").map((c) => ({ ...(c as object), timeout: "3s", deadline: "60s" }));
    const upstreamCheck = { type: "http", name: "upstream", url: up.url, interval: "100ms", timeout: "1s", deadline: "3s" };
    const fleet = (o: { upstream: boolean; webWindow: boolean }) => {
      const f = JSON.parse(
        canary.fleet({
          hosts: [{ name: "canary-1", checks: [...baseChecks, ...(o.upstream ? [upstreamCheck] : [])] }, { name: "web-1" }],
          waves: [
            { name: "canary", members: ["canary-1"] },
            { name: "web", members: ["web-1"], approval: "manual" },
          ],
        }),
      ) as Record<string, unknown>;
      if (o.webWindow) f.windows = [{ on: ["web-1"], timeZone: "UTC", ranges: [{ from: "02:00", to: "03:00" }] }];
      return JSON.stringify(f, null, 2);
    };
    const C1 = await canary.commit({ "fleet.yaml": fleet({ upstream: false, webWindow: false }) }, "c1: canary, then web on approval");
    const ctl = await startTestController({
      repo: canary.repo,
      pollInterval: "1s",
      extra: { publicUrl: "https://flotilla.example.test", notify: { targets: [{ name: "hook", url: hook.url, secret: { value: SECRET } }] } },
      start: { now: clock.now },
    });
    const daemons = await startDaemons(ctl.url, ws, { config: { pollInterval: "1s" }, env: clock.env });
    const flotilla = operatorCli(ctl.url);
    const status = statusOf(ctl.url);
    const host = async (name: string) => (await status()).hosts.find((h) => h.host === name)!;
    const rollout = async (rev: string) => (await status()).rollouts.find((r) => r.rev === rev);
    const events = async (name: string) => (await ctl.store.auditEvents({ host: name })).map((e) => JSON.parse(e.payload) as TransitionEvent);
    /** Every notification the receiver got, each signature checked. */
    const notifications = () =>
      hook.accepted.map((q) => {
        expect(q.headers["x-flotilla-signature-256"]).toBe(`sha256=${createHmac("sha256", SECRET).update(q.body).digest("hex")}`);
        return JSON.parse(q.body) as NotifyEvent;
      });
    try {
      // a. The manual wave waits until approved from the CLI.
      await waitFor("canary-1 on c1", async () => (await host("canary-1")).currentRev === C1, 180_000, 200);
      await waitFor("web-1 told it waits for approval", async () => (await events("web-1")).some((e) => e.outcome === "waiting" && e.rev === C1 && e.message?.includes("approval")), 60_000, 200);
      await new Promise((r) => setTimeout(r, 3_000)); // a few more agent polls: still waiting
      expect((await rollout(C1))!.waves[1]).toMatchObject({ state: "pending", approval: { state: "required" }, reason: expect.stringContaining("waits for approval") });
      expect((await host("web-1")).currentRev).toBeNull();
      expect((await events("web-1")).some((e) => e.phase === "activating")).toBe(false);
      await flotilla("rollout", "approve", C1.slice(0, 10), "web", "--reason", "canary is healthy");
      await waitFor("c1 complete", async () => (await rollout(C1))?.state === "complete" && (await host("web-1")).currentRev === C1, 180_000, 200);

      // b. c2's canary fails its new check: the rollout halts, one signed notification.
      const C2 = await canary.commit({ "fleet.yaml": fleet({ upstream: true, webWindow: false }) }, "c2: canary checks its upstream");
      await waitFor("canary-1 failed c2 and rolled back", async () => (await canary.state()).failedRevs.some((f) => f.rev === C2) && (await canary.state()).cycle.phase === "rolledBack", 180_000, 200);
      await waitFor("c2 halted", async () => (await rollout(C2))?.state === "halted", 60_000, 200);
      expect((await host("canary-1")).currentRev).toBe(C1);
      expect((await host("web-1")).currentRev).toBe(C1);
      await waitFor("the halt notified", () => notifications().some((n) => n.kind === "rollout-halted"), 30_000, 100);
      await new Promise((r) => setTimeout(r, 2_000)); // more ticks: no second halt notification
      const halted = notifications().filter((n) => n.kind === "rollout-halted");
      expect(halted).toHaveLength(1);
      expect(halted[0]).toMatchObject({ rev: C2, hosts: ["canary-1"], wave: "canary", subject: "c2: canary checks its upstream", reason: "wave canary: 1 of 1 failed (canary-1), more than maxUnavailable 0" });

      // c. Abort from the CLI; the cause is fixed; retry from the CLI; the host deploys what the branch gives it.
      await flotilla("rollout", "abort", C2.slice(0, 8), "--reason", "upstream is down, re-landing later");
      expect(await rollout(C2)).toMatchObject({ state: "halted", aborted: { actor: "ops" } });
      up.up = true;
      const retry = JSON.parse(await flotilla("host", "retry", "canary-1", "--reason", "upstream is back", "--json")) as { id: number; rev: string };
      expect(retry).toMatchObject({ action: "retry", host: "canary-1", rev: C2 });
      await waitFor("canary-1 applied the retry", async () => (await canary.state()).appliedActions?.includes(retry.id), 60_000, 200);
      await waitFor("canary-1 told c2 is aborted", async () => (await canary.state()).lastOutcome?.reason === "OperatorAborted", 60_000, 200);
      const afterRetry = await canary.state();
      expect(afterRetry.failedRevs.map((f) => f.rev)).not.toContain(C2);
      expect(afterRetry.current?.rev).toBe(C1);
      expect((await events("canary-1")).filter((e) => e.rev === C2 && e.phase === "activating" && e.outcome === "started")).toHaveLength(1);
      // d (set up). c3 re-lands the check, and web-1 deploys only 02:00-03:00 UTC.
      const C3 = await canary.commit({ "fleet.yaml": fleet({ upstream: true, webWindow: true }) }, "c3: re-land the upstream check; web-1 in its window");
      await waitFor("canary-1 on c3", async () => (await host("canary-1")).currentRev === C3 && (await canary.state()).cycle.phase === "done", 180_000, 200);
      expect((await host("canary-1")).health).toBe("Healthy");

      // d. web-1, approved, waits outside its window and deploys when the clocks reach 02:00.
      await waitFor("wave canary promoted", async () => (await rollout(C3))?.waves[0]?.state === "promoted", 60_000, 200);
      await flotilla("rollout", "approve", C3, "web", "--reason", "after the window");
      await waitFor("web-1 waits for its window", async () => (await events("web-1")).some((e) => e.outcome === "waiting" && e.rev === C3 && e.message?.includes("outside its maintenance window")), 60_000, 200);
      await new Promise((r) => setTimeout(r, 3_000));
      const opens = new Date(day + 2 * HOUR).toISOString();
      expect((await rollout(C3))!.state).toBe("progressing");
      expect(await host("web-1")).toMatchObject({ currentRev: C1, window: { open: false, nextOpen: opens } });
      expect((await events("web-1")).some((e) => e.rev === C3 && e.phase === "activating")).toBe(false);
      await clock.set(clock.offset() + HOUR + 5_000); // 02:00:05 UTC
      await waitFor("c3 complete once the window opened", async () => (await rollout(C3))?.state === "complete" && (await host("web-1")).currentRev === C3, 180_000, 200);
      const start = (await events("web-1")).find((e) => e.rev === C3 && e.phase === "activating");
      expect(Date.parse(start!.time)).toBeGreaterThanOrEqual(Date.parse(opens));
      // one halt all day; every operator action notified and audited with who and why
      expect(notifications().filter((n) => n.kind === "rollout-halted")).toHaveLength(1);
      const audit = await api<{ entries: { kind: string; phase: string }[] }>(ctl.url, "/api/v1/audit");
      expect(audit.body.entries.filter((e) => e.kind === "action").map((e) => e.phase)).toEqual(["approve", "abort", "retry", "approve"]);
      const actions = () => notifications().filter((n) => n.kind === "operator-action").map((n) => `${n.action?.action} ${n.action?.actor}`);
      await waitFor("every action notified", () => actions().length === 4, 30_000, 100);
      expect(actions()).toEqual(["approve ops", "abort ops", "retry ops", "approve ops"]);
    } catch (e) {
      for (const d of daemons) process.stderr.write(`---- agent output\n${d.output().split("\n").filter((l) => !l.startsWith("debug")).slice(-40).join("\n")}\n`);
      process.stderr.write(`---- status\n${JSON.stringify(await status().catch(() => null), null, 1)?.slice(0, 4000)}\n---- notifications\n${hook.requests.map((r) => r.body).join("\n")}\n`);
      throw e;
    } finally {
      await stopAll(daemons, ctl, ws);
      up.server.close();
      await hook.down();
    }
  }, 600_000);
});
