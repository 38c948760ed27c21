// GitHub integration against a local server answering GitHub's REST
// endpoints: commit statuses, PR lookup for the audit, signed webhooks that
// trigger an immediate fetch and agent nudge, ETag conditional polling.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditReport, StatusReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { signWebhookBody } from "../../controller/src/github/webhook.js";
import type { FleetRepo } from "../helpers/git-repo.js";
import { api, makeHostSigners, newFleetRepo, SimAgent, startTestController, waitFor } from "./controller/harness.js";
import { startFakeGitHub, type FakeGitHub } from "./controller/fake-github.js";

const SECRET = "webhook-secret-42";
let signers: Record<string, HostSigner>;
let repo: FleetRepo;
let gh: FakeGitHub;
let ctl: Awaited<ReturnType<typeof startTestController>>;

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1", "web-2", "web-3", "web-4"]);
  repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2", "web-3", "web-4"] }] });
  gh = await startFakeGitHub({ repo: "acme/fleet", branchHead: () => repo.head() });
  gh.prs.push({ number: 41, title: "Enable the canary", author: "alice", mergedBy: "bob", commits: [await repo.head()] });
  ctl = await startTestController({ repo, github: { apiUrl: gh.url, webhookSecret: SECRET }, pollInterval: "200ms" });
});
afterAll(async () => {
  await ctl?.stop();
  await gh?.close();
});

function webhook(event: string, payload: unknown, secret = SECRET) {
  const raw = JSON.stringify(payload);
  return api<{ ok?: boolean; error?: string }>(ctl.url, "/api/v1/github/webhook", { raw, token: null, headers: { "x-github-event": event, "x-hub-signature-256": signWebhookBody(secret, raw) } });
}

describe("GitHub integration", () => {
  it("posts flotilla/rollout commit statuses: pending → success, with wave tallies", async () => {
    const C = await repo.head();
    await waitFor(async () => gh.statuses.some((s) => s.sha === C), "a pending status");
    expect(gh.statuses.find((s) => s.sha === C)).toMatchObject({ state: "pending", context: "flotilla/rollout", description: "canary 0/1 healthy, web 0/4 healthy" });
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    await canary.send(...canary.deployed(C));
    for (const h of ["web-1", "web-2", "web-3"]) {
      const a = new SimAgent(signers[h]!, ctl.url);
      await a.send(...a.deployed(C));
    }
    await waitFor(async () => gh.statuses.some((s) => s.sha === C && s.description === "canary 1/1 healthy, web 3/4 healthy"), "status with web 3/4");
    const w4 = new SimAgent(signers["web-4"]!, ctl.url);
    await w4.send(...w4.deployed(C));
    await waitFor(async () => gh.statuses.some((s) => s.sha === C && s.state === "success"), "success status");
    expect(gh.requests.filter((r) => r.method === "POST").every((r) => r.auth === "token gh-test-token")).toBe(true);
  });

  it("looks up the PR (title, author, merger) for status and audit", async () => {
    const C = await repo.head();
    const status = await waitFor(async () => {
      const s = (await api<StatusReport>(ctl.url, "/api/v1/status")).body;
      return s.rollouts[0]?.pr ? s : null;
    }, "PR info");
    expect(status.rollouts[0]!.pr).toMatchObject({ number: 41, title: "Enable the canary", author: "alice", mergedBy: "bob" });
    const audit = (await api<AuditReport>(ctl.url, "/api/v1/audit")).body;
    expect(audit.entries.find((e) => e.rev === C && e.kind === "event")).toMatchObject({ pr: 41, title: "Enable the canary", author: "alice", mergedBy: "bob" });
  });

  it("polls the branch with ETag conditional requests (304 when unchanged)", async () => {
    await waitFor(async () => gh.requests.filter((r) => r.path.endsWith("/branches/main") && r.status === 304).length >= 2, "304 answers");
    // the client counts a 304 once the answer arrived, slightly after the server logged it
    await waitFor(async () => ctl.github!.notModified >= 2, "the client to use its cached answers");
  });

  it("a signed push webhook fetches at once and nudges agents; failures post failure", async () => {
    // Polling hourly from here on: only the webhook can make this controller see the push.
    await ctl.stop();
    ctl = await startTestController({ repo, github: { apiUrl: gh.url, webhookSecret: SECRET }, pollInterval: "1h" });
    expect((await webhook("push", { ref: "refs/heads/main" }, "wrong")).body).toMatchObject({ error: "BadSignature" });
    expect((await webhook("ping", { zen: "hi" })).status).toBe(200);
    const old = await repo.head();
    expect(ctl.follower.head()).toBe(old);
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    // the first wave is woken at once; a later wave learns of the head when its long-poll ends
    const waiting = canary.watch(old, 60_000);
    const later = web.watch(old, 30_000); // long enough to still wait after the webhook, however loaded the machine
    await waitFor(async () => ctl.coordinator.hub.size === 2, "both long-polls to be waiting");
    const next = await repo.commit({ "markers/canary-1/unhealthy": "" }, "break the canary");
    const hook = await webhook("push", { ref: "refs/heads/main", after: next });
    expect(hook).toMatchObject({ status: 200, body: { ok: true, head: next } });
    expect(ctl.follower.head()).toBe(next);
    const nudge = await waiting;
    expect(nudge.body).toMatchObject({ head: next, changed: true });
    expect(ctl.coordinator.hub.size).toBe(1); // web-1 still waiting: not woken by the head
    expect((await later).body).toMatchObject({ head: next, changed: true });
    canary.seq = 100;
    await canary.send(...canary.failed(next));
    await waitFor(async () => gh.statuses.some((s) => s.sha === next && s.state === "failure"), "failure status");
    expect(gh.statuses.filter((s) => s.sha === next).at(-1)!.description).toMatch(/^halted: canary 0\/1 healthy \(1 failed\), web 0\/4 healthy/);
    expect((await web.gate(next)).body.decision).toBe("halted");
  }, 120_000);
});
