// A legacy (non-NixOS) host with a real systemd: the agent installed by
// nix/install-legacy-agent.sh as the deploy user's systemd --user service,
// the fleet's build-legacy app writing and restarting a real --user unit,
// .env.production over .env.local reaching that service, a systemd health
// check on the user unit, a failed unit start rolled back to the previous
// revision's app, and a reboot the host comes back from untouched.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import { makeFleetRepo, serveHttp, type FleetRepo, type HttpRemote } from "../helpers/git-repo.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { agentStatus, freezeAgentDuringActivation, installLegacyAgent, journal, killAgent, unitProcesses, waitFor, waitForSlowActivation, type LegacyInstall } from "./agent-setup.js";
import { TestBed, type Host } from "./harness.js";

let bed: TestBed;
let h: Host;
let repo: FleetRepo;
let remote: HttpRemote;
let inst: LegacyInstall;
let lastSecretSha = "";
const STATE = "/home/deploy/fixture";

function fleetYaml(hostKey: string, secrets?: unknown[]): string {
  return JSON.stringify(
    {
      version: 1,
      policy: { branch: "main" },
      agent: { pollInterval: "1s", jitter: "100ms", keepGenerations: 3 },
      hosts: [
        {
          name: "legacy-1",
          kind: "legacy",
          hostKey,
          user: "deploy",
          projectDir: "/home/deploy/app",
          checks: [
            { type: "systemd", name: "webapp", unit: "webapp.service", user: true, interval: "200ms", timeout: "5s", deadline: "10s" },
            { type: "command", name: "health-file", command: ["grep", "-qx", "ok", `${STATE}/legacy-1/health`], interval: "200ms", deadline: "5s" },
          ],
        },
      ],
      ...(secrets ? { secrets } : {}),
    },
    null,
    2,
  );
}

beforeAll(async () => {
  bed = await TestBed.create();
  h = await bed.boot("legacy-1");
  repo = await makeFleetRepo({ template: true });
  remote = await serveHttp(repo.dir);
}, 900_000);

afterAll(async () => {
  await remote?.close();
  await bed?.close();
  await cleanupTempDirs();
});

const userUnit = async (prop: string) => (await h.exec(["systemctl", "--user", "show", "-P", prop, "webapp.service"], { user: "deploy", check: false })).stdout.trim();
const fixture = async (name: string) => (await h.exec(["cat", `${STATE}/legacy-1/${name}`], { check: false })).stdout.trim();

describe("legacy host with a real systemd", () => {
  it("deploys through a systemd --user unit with the project's env, and rolls back a unit that fails to start", async () => {
    const hostKey = (await h.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim();
    // The project dir with the legacy env files (.env.production, .env.local), owned by the deploy user.
    await h.writeFile("/home/deploy/app/.env.production", "SERVICE_PORT=9001\nSERVICE_NAME=prod\n", { user: "deploy" });
    await h.writeFile("/home/deploy/app/.env.local", "SERVICE_PORT=1\nSERVICE_LOCAL_ONLY=yes\n", { user: "deploy" });
    const c1 = await repo.commit({ "fleet.yaml": fleetYaml(hostKey) }, "legacy-1 on a real host");

    inst = await installLegacyAgent(h, {
      host: "legacy-1",
      remote: remote.url,
      agentEnv: { FLOTILLA_FIXTURE_STATE: STATE, FLOTILLA_FIXTURE_UNITS: "1" },
    });
    expect((await h.exec(["systemctl", "--user", "is-active", "flotilla-agent.service"], { user: "deploy", check: false })).stdout.trim()).toBe("active");

    const s1 = await waitFor(
      "legacy-1 healthy on c1",
      async () => {
        const s = await agentStatus(h, inst);
        if (s.phase === "failed" || s.phase === "rollbackFailed" || s.phase === "rolledBack") throw new Error(JSON.stringify(s));
        return s.current?.rev === c1 && s.phase === "done" && s;
      },
      180_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\nagent journal:\n${await journal(h, "flotilla-agent.service", "deploy")}`);
    });
    expect(s1.lastOutcome?.outcome).toBe("succeeded");
    // The app's unit is a real --user unit of deploy, active, at c1, with the env of .env.production.
    expect(await userUnit("ActiveState")).toBe("active");
    expect(await userUnit("FragmentPath")).toBe("/home/deploy/.config/systemd/user/webapp.service");
    expect(await fixture("app-revision")).toBe(c1);
    expect((await fixture("app-env")).split("\n")).toEqual(["SERVICE_NAME=prod", "SERVICE_PORT=9001"]);
    const pid1 = await userUnit("MainPID");

    // A revision whose unit fails to start: the app fails, the agent re-runs c1's app.
    const bad = await repo.commit({ "markers/legacy-1/fail-unit": "" }, "webapp cannot start");
    const s2 = await waitFor("legacy-1 rolled back from the bad revision", async () => {
      const s = await agentStatus(h, inst);
      return s.failedRevs.some((f) => f.rev === bad) && s.phase === "rolledBack" && s;
    });
    expect(s2.current?.rev).toBe(c1);
    expect(s2.failedRevs.find((f) => f.rev === bad)?.reason).toBe("ActivationFailed");
    await waitFor("webapp.service active again on c1", async () => (await userUnit("ActiveState")) === "active" && (await fixture("app-revision")) === c1);
    expect(await userUnit("MainPID")).not.toBe(pid1);
    const starts = (await fixture("app-starts")).split("\n");
    expect(starts.at(-1)).toBe(c1);
    expect(starts).not.toContain(bad);
  }, 400_000);

  it("restarts the user unit a changed secret names in restartUnits, in the deploy user's manager", async () => {
    const hostKey = (await h.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim();
    const enc = async (value: string) =>
      Buffer.from(await encryptSopsFile(Buffer.from(`token: ${value}\n`), { format: "yaml", recipients: [hostRecipient(hostKey)], file: "secrets/app.yaml" })).toString();
    const sha = (v: string) => createHash("sha256").update(v).digest("hex");
    const secrets = [{ name: "webapp-token", sopsFile: "secrets/app.yaml", key: "token", hosts: ["legacy-1"], owner: "deploy", group: "deploy", restartUnits: ["webapp.service"] }];
    const secretFile = "/run/user/1000/flotilla/secrets.d/current/webapp-token";
    await h.writeFile("/home/deploy/app/.env.production", `SERVICE_PORT=9001\nSERVICE_NAME=prod\nSERVICE_SECRET_FILE=${secretFile}\n`, { user: "deploy" });
    const v1 = "first-token-value-1234";
    const c3 = await repo.commit({ "fleet.yaml": fleetYaml(hostKey, secrets), "secrets/app.yaml": await enc(v1), "markers/legacy-1/fail-unit": null }, "a secret for webapp");
    const healthyOn = (rev: string) => async () => {
      const s = await agentStatus(h, inst);
      if (s.phase === "rollbackFailed" || (s.phase === "rolledBack" && s.failedRevs.some((f) => f.rev === rev))) throw new Error(`${s.phase}: ${JSON.stringify(s.error ?? s.lastOutcome)}`);
      return s.current?.rev === rev && s.phase === "done" && s;
    };
    await waitFor("legacy-1 healthy on c3", healthyOn(c3));
    expect(await fixture("app-secret-sha256")).toBe(sha(v1));

    // Only the secret changes: nothing else would restart webapp.service
    // (the app restarts it too, so count the starts before the app's own).
    const startsBefore = (await fixture("app-starts")).split("\n").length;
    const v2 = "second-token-value-5678";
    const c4 = await repo.commit({ "secrets/app.yaml": await enc(v2) }, "rotate the token");
    await waitFor("legacy-1 healthy on c4", healthyOn(c4));
    expect(await fixture("app-secret-sha256")).toBe(sha(v2));
    lastSecretSha = sha(v2);
    // One start by the secrets install (restartUnits), one by build-legacy.
    expect((await fixture("app-starts")).split("\n").length).toBe(startsBefore + 2);
    const agentLog = await journal(h, "flotilla-agent.service", "deploy");
    expect(agentLog).not.toContain(v1);
    expect(agentLog).not.toContain(v2);
  }, 300_000);

  it("comes back after a reboot through linger with its secrets, without redeploying or rolling back", async () => {
    const before = await agentStatus(h, inst);
    const starts = (await fixture("app-starts")).split("\n").length;
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    await h.reboot();
    // Nobody logs in: lingering starts deploy's manager, which starts both units.
    await waitFor("flotilla-agent.service after the reboot", async () => (await h.exec(["systemctl", "--user", "is-active", "flotilla-agent.service"], { user: "deploy", check: false })).stdout.trim() === "active");
    await waitFor("webapp.service after the reboot", async () => (await userUnit("ActiveState")) === "active");
    // Give the agent a few poll cycles (pollInterval 1s) to do something it should not.
    await new Promise((r) => setTimeout(r, 5_000));
    const after = await agentStatus(h, inst);
    expect(after.current).toEqual(before.current);
    expect(after.failedRevs).toEqual(before.failedRevs);
    expect(after.phase).toBe(before.phase);
    expect((await fixture("app-starts")).split("\n").length).toBe(starts + 1); // started by systemd at boot
    // /run/user/1000 is a tmpfs: the agent re-installed the current secrets before webapp.service started.
    expect(await fixture("app-secret-sha256")).toBe(lastSecretSha);
    expect((await fixture("../calls.jsonl")).split("\n").length).toBe(calls); // no app run: no deploy, no rollback
  }, 300_000);

  it("finishes and records a deploy when `systemctl --user stop` comes during it; after `start` nothing is rolled back or blamed", async () => {
    const starts = (await fixture("app-starts")).split("\n").length;
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    const c5 = await repo.commit({ "markers/legacy-1/slow-legacy": "10" }, "a slow deploy");
    await waitForSlowActivation(h, { user: "deploy" });
    // KillMode=mixed: SIGTERM to the agent only; it lets build-legacy finish, records it, then exits.
    await h.exec(["systemctl", "--user", "stop", "flotilla-agent.service"], { user: "deploy", timeoutMs: 300_000 });
    expect(await fixture("current-revision")).toBe(c5);
    const stopped = await agentStatus(h, inst);
    expect(["verifying", "done"]).toContain(stopped.phase);
    expect(stopped.target?.rev).toBe(c5);
    expect(await journal(h, "flotilla-agent.service", "deploy")).toMatch(/stopping/);

    await h.exec(["systemctl", "--user", "start", "flotilla-agent.service"], { user: "deploy" });
    const s = await waitFor("legacy-1 healthy on c5 after the start", async () => {
      const st = await agentStatus(h, inst);
      return st.current?.rev === c5 && st.phase === "done" && st;
    });
    expect(s.failedRevs.map((f) => f.rev)).not.toContain(c5);
    // build-legacy ran once, for c5; the app started once, on c5: no rollback, no second deploy.
    expect((await fixture("app-starts")).split("\n").slice(starts)).toEqual([c5]);
    expect((await fixture("../calls.jsonl")).split("\n").slice(calls).map((l) => (JSON.parse(l) as { revision: string; status: string }).revision)).toEqual([c5]);
  }, 300_000);

  it("after an agent killed between a completed deploy and its record, verifies that deploy instead of rolling it back", async () => {
    const c5 = (await agentStatus(h, inst)).current!.rev;
    const starts = (await fixture("app-starts")).split("\n").length;
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    const c6 = await repo.commit({ "markers/legacy-1/slow-legacy": "8", "markers/legacy-1/note": "c6\n" }, "another slow deploy");
    // The agent freezes while build-legacy runs; build-legacy completes; the agent dies without saving.
    await freezeAgentDuringActivation(h, { statusOf: () => agentStatus(h, inst), rev: c6, user: "deploy" });
    await waitFor("c6's build-legacy completed", async () => (await fixture("current-revision")) === c6 && (await unitProcesses(h, "flotilla-agent.service", "deploy")).length === 1);
    await killAgent(h, "deploy");
    // Restart=always starts it again (RestartSec=5).
    const s = await waitFor("legacy-1 healthy on c6 after the restart", async () => {
      const st = await agentStatus(h, inst);
      if (st.phase === "rollingBack" || st.phase === "rolledBack") throw new Error(`rolled back: ${JSON.stringify(st.lastOutcome)}`);
      return st.current?.rev === c6 && st.phase === "done" && st;
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}\napp starts: ${(await fixture("app-starts")).split("\n").slice(starts).join(" ")}\nagent journal:\n${await journal(h, "flotilla-agent.service", "deploy")}`);
    });
    expect(s.failedRevs.map((f) => f.rev)).not.toContain(c6);
    // c5's app was never run again, and c6's only once.
    expect((await fixture("app-starts")).split("\n").slice(starts)).toEqual([c6]);
    expect((await fixture("../calls.jsonl")).split("\n").slice(calls).map((l) => (JSON.parse(l) as { revision: string }).revision)).toEqual([c6]);
    expect(c5).not.toBe(c6);
  }, 300_000);
});
