// Operator actions end to end with real agents: three built `flotilla-agent
// run` daemons (canary-1; web-1 and web-2 in a wave declared approval:
// manual) building the offline test fleet with real nix, a real controller
// (SQLite) on 127.0.0.1, and the operator CLI (`flotilla rollout|host …`).
// Nothing touches a host after it started: every action reaches the agents
// through their own signed gate and watch exchange.
//   1. a manual wave waits until approved;
//   2. a held host stays on its revision while the others move, and follows once released;
//   3. `host retry` makes a host that failed REV (its upstream was down) deploy it again;
//   4. an aborted rollout is not taken by a host an operator retried (were it
//      taken, its activation would fail again).
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../../schemas/src/api.js";
import { api, startTestController } from "./controller/harness.js";
import { makeKey, waitFor } from "./agent/helpers.js";
import { startDaemons, statusOf, stopAll, useBuiltAgent, worlds } from "./agent/daemons.js";
import { operatorCli, upstream } from "./agent/operator.js";

useBuiltAgent();

describe("operator actions with real agents", () => {
  it("approve a manual wave, hold a host, retry a failed host, and an aborted rollout stays untaken", async () => {
    const ws = await worlds("canary-1", "web-1", "web-2");
    const [canary, web1, web2] = ws;
    const third = makeKey(canary.root, "third_key");
    const up = await upstream();
    const fleet = (canaryUpstream: boolean) => {
      const f = JSON.parse(
        canary.fleet({
          hosts: [
            // generous deadlines: a loaded test machine must not fail a healthy canary
            { name: "canary-1", checks: [...(canary.defaultChecks() as object[]).map((c) => ({ ...c, timeout: "3s", deadline: "20s" })), ...(canaryUpstream ? [{ type: "http", name: "upstream", url: up.url, interval: "100ms", timeout: "1s", deadline: "3s" }] : [])] },
            { name: "web-1" },
            { name: "web-2" },
          ],
          waves: [
            { name: "canary", members: ["canary-1"] },
            { name: "web", members: ["web-1", "web-2"], maxUnavailable: 1, approval: "manual" },
          ],
        }),
      ) as { hosts: { name: string; hostKey: string }[] };
      f.hosts.find((h) => h.name === "web-2")!.hostKey = third.pub;
      return JSON.stringify(f, null, 2);
    };
    const C1 = await canary.commit({ "fleet.yaml": fleet(false) }, "c1: canary, then web on approval");
    const ctl = await startTestController({ repo: canary.repo, pollInterval: "1s" });
    const daemons = await startDaemons(ctl.url, ws, { keys: { "web-2": third.path } });
    const status = statusOf(ctl.url);
    const host = async (name: string) => (await status()).hosts.find((h) => h.host === name)!;
    const rollout = async (rev: string) => (await status()).rollouts.find((r) => r.rev === rev);
    const flotilla = operatorCli(ctl.url);
    const events = async (name: string) => (await ctl.store.auditEvents({ host: name })).map((e) => JSON.parse(e.payload) as TransitionEvent);
    try {
      // 1. The manual wave waits until approved.
      await waitFor("canary-1 on c1", async () => (await host("canary-1")).currentRev === C1, 180_000, 200);
      await waitFor("wave canary promoted", async () => (await rollout(C1))?.waves[0]?.state === "promoted", 60_000, 200);
      await new Promise((r) => setTimeout(r, 5_000)); // two more agent polls
      const waiting = await rollout(C1);
      expect(waiting!.waves[1]).toMatchObject({ state: "pending", approval: { state: "required" }, reason: expect.stringContaining("waits for approval") });
      for (const w of ["web-1", "web-2"]) expect((await host(w)).currentRev).toBeNull();
      expect((await web1.state()).lastOutcome).toMatchObject({ outcome: "waiting", reason: "GateWaiting", message: expect.stringContaining("approval") });
      await flotilla("rollout", "approve", C1.slice(0, 10), "web", "--reason", "canary is healthy");
      await waitFor("c1 complete", async () => (await rollout(C1))?.state === "complete" && (await status()).hosts.every((h) => h.currentRev === C1), 180_000, 200);

      // 2. A held host stays on its revision while the others move; released, it follows.
      await flotilla("host", "hold", "web-2", "--reason", "disk replacement");
      const C2 = await canary.commit({ "notes.txt": "c2\n" }, "c2: a change");
      await waitFor("canary-1 on c2", async () => (await host("canary-1")).currentRev === C2, 180_000, 200);
      await flotilla("rollout", "approve", C2, "web", "--reason", "looks good");
      await waitFor("web-1 on c2", async () => (await host("web-1")).currentRev === C2, 180_000, 200);
      await waitFor("c2 complete (maxUnavailable 1)", async () => (await rollout(C2))?.state === "complete", 60_000, 200);
      await new Promise((r) => setTimeout(r, 4_000));
      expect(await host("web-2")).toMatchObject({ currentRev: C1, held: { actor: "ops", reason: "disk replacement" } });
      expect((await web2.state()).lastOutcome).toMatchObject({ outcome: "waiting", reason: "OperatorHold", rev: C2 });
      expect((await events("web-2")).some((e) => e.rev === C2 && e.phase === "activating")).toBe(false);
      await flotilla("host", "release", "web-2", "--reason", "disk replaced");
      await waitFor("web-2 on c2 after the release", async () => (await host("web-2")).currentRev === C2, 180_000, 200);

      // 3. Retry: canary-1 fails c3 (its upstream is down), the upstream comes back, `host retry` redeploys c3.
      const C3 = await canary.commit({ "fleet.yaml": fleet(true) }, "c3: canary checks its upstream");
      await waitFor("canary-1 failed c3", async () => (await host("canary-1")).failedRevs.includes(C3), 180_000, 200);
      await waitFor("rolled back to c2", async () => (await canary.state()).cycle.phase === "rolledBack", 60_000, 200);
      expect((await host("canary-1")).currentRev).toBe(C2);
      expect((await rollout(C3))!.state).toBe("halted");
      up.up = true;
      await new Promise((r) => setTimeout(r, 3_000)); // a failed revision is not retried on its own
      expect((await canary.state()).failedRevs.map((f) => f.rev)).toContain(C3);
      const retried = await flotilla("host", "retry", "canary-1", "--reason", "upstream is back", "--json");
      const retryId = (JSON.parse(retried) as { id: number; rev: string }).id;
      expect(JSON.parse(retried)).toMatchObject({ action: "retry", host: "canary-1", rev: C3 });
      await waitFor("canary-1 on c3 after the retry", async () => (await canary.state()).current?.rev === C3, 180_000, 200);
      expect((await canary.state()).appliedActions).toContain(retryId);

      // 4. An aborted rollout is not taken by a retried host.
      const C4 = await canary.commit({ "markers/canary-1/fail-switch": "" }, "c4: breaks the canary's activation");
      await waitFor("canary-1 failed c4", async () => (await canary.state()).failedRevs.some((f) => f.rev === C4) && (await canary.state()).cycle.phase === "rolledBack", 180_000, 200);
      await flotilla("rollout", "abort", C4.slice(0, 8), "--reason", "c4 is wrong, revert coming");
      expect(await rollout(C4)).toMatchObject({ state: "halted", aborted: { actor: "ops" } });
      const retry4 = JSON.parse(await flotilla("host", "retry", "canary-1", C4, "--reason", "try again", "--json")) as { id: number };
      await waitFor("the retry applied", async () => (await canary.state()).appliedActions?.includes(retry4.id), 60_000, 200);
      await waitFor("canary-1 told aborted", async () => (await canary.state()).lastOutcome?.reason === "OperatorAborted", 60_000, 200);
      await new Promise((r) => setTimeout(r, 5_000)); // more polls and watch answers
      const s4 = await canary.state();
      expect(s4.current?.rev).toBe(C3);
      expect(s4.failedRevs.map((f) => f.rev)).not.toContain(C4);
      expect(s4.lastOutcome).toMatchObject({ outcome: "waiting", reason: "OperatorAborted", message: expect.stringContaining("aborted by operator ops") });
      const activations = (await events("canary-1")).filter((e) => e.rev === C4 && e.phase === "activating" && e.outcome === "started");
      expect(activations).toHaveLength(1); // the failed attempt only, none after the retry
      // the audit has every action with who and why
      const audit = await api<{ entries: { kind: string; phase: string; actor?: string; message: string | null }[] }>(ctl.url, "/api/v1/audit");
      expect(audit.body.entries.filter((e) => e.kind === "action").map((e) => e.phase)).toEqual(["approve", "hold", "approve", "release", "retry", "abort", "retry"]);
    } catch (e) {
      for (const d of daemons) process.stderr.write(`---- agent output\n${d.output().split("\n").filter((l) => !l.startsWith("debug")).slice(-40).join("\n")}\n`);
      process.stderr.write(`---- canary state\n${JSON.stringify(await canary.state().catch(() => null), null, 1)}\n`);
      throw e;
    } finally {
      await stopAll(daemons, ctl, ws);
      up.server.close();
    }
  }, 600_000);
});
