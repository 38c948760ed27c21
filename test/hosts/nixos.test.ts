// A NixOS-style host with a real systemd: flotilla-agent.service with the
// text nix/modules/agent.nix renders (nixos-unit.ts), activation "direct"
// (nix build, nix-env --set, switch-to-configuration) of the test fleet's
// stand-in toplevels, whose switch-to-configuration installs a real system
// unit, reloads systemd and restarts it. Health checks, rollback, secrets'
// restartUnits and exit 75 on a changed agent unit all meet the real systemd.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import { makeFleetRepo, serveHttp, type FleetRepo, type HttpRemote } from "../helpers/git-repo.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { addPackage, freezeAgentDuringActivation, journal, killAgent, unitProcesses, waitFor, waitForSlowActivation, type AgentStatus } from "./agent-setup.js";
import { PROJECT_IN_HOST, TestBed, type Host } from "./harness.js";
import { HOST_START_WRAPPER, renderAgentUnit } from "./nixos-unit.js";

let bed: TestBed;
let h: Host;
let repo: FleetRepo;
let remote: HttpRemote;
let pkg: string;
let hostKey: string;
let lastSecretSha = "";
const STATE = "/var/lib/fixture";

function fleetYaml(secrets?: unknown[]): string {
  return JSON.stringify(
    {
      version: 1,
      policy: { branch: "main" },
      agent: { keepGenerations: 3 },
      hosts: [
        {
          name: "web-1",
          kind: "nixos",
          hostKey,
          checks: [
            { type: "systemd", name: "webapp", unit: "webapp.service", interval: "200ms", timeout: "5s", deadline: "10s" },
            { type: "command", name: "health-file", command: ["grep", "-qx", "ok", `${STATE}/web-1/health`], interval: "200ms", deadline: "5s" },
          ],
        },
      ],
      ...(secrets ? { secrets } : {}),
    },
    null,
    2,
  );
}

const agentOptions = (pollInterval: string) =>
  `{ enable = true; environmentFile = "/etc/flotilla/agent.env"; settings = { host = "web-1"; remotes = [ "${remote.url}" ]; activation = "direct"; pollInterval = "${pollInterval}"; jitter = "100ms"; }; }`;

async function installAgentUnit(pollInterval: string): Promise<void> {
  const r = await renderAgentUnit(agentOptions(pollInterval), pkg);
  await h.writeFile("/etc/flotilla/agent.yaml", r.config, { mode: "644" });
  await h.writeFile("/etc/systemd/system/flotilla-agent.service", r.unit, { mode: "644" });
  await h.writeFile("/etc/systemd/system/flotilla-secrets.service", r.secretsUnit, { mode: "644" });
}

const unit = async (prop: string, name = "webapp.service") => (await h.exec(["systemctl", "show", "-P", prop, name], { check: false })).stdout.trim();
const fixture = async (name: string) => (await h.exec(["cat", `${STATE}/web-1/${name}`], { check: false })).stdout.trim();
const agentStatusCmd = async (): Promise<AgentStatus> => JSON.parse((await h.exec([`${pkg}/bin/flotilla-agent`, "status", "--json", "--config", "/etc/flotilla/agent.yaml"])).stdout) as AgentStatus;

const healthyOn = (rev: string) => async () => {
  const s = await agentStatusCmd();
  if (s.phase === "rollbackFailed" || s.failedRevs.some((f) => f.rev === rev)) throw new Error(`${s.phase}: ${JSON.stringify(s.error ?? s.lastOutcome)}`);
  return s.current?.rev === rev && s.phase === "done" && s;
};

beforeAll(async () => {
  bed = await TestBed.create();
  h = await bed.boot("web-1");
  repo = await makeFleetRepo({ template: true });
  remote = await serveHttp(repo.dir);
  hostKey = (await h.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim();
  pkg = await addPackage(h);
  // The module's start wrapper (writeShellApplication of nix/agent-start-wrapper.sh).
  await h.sh(`mkdir -p "$(dirname ${HOST_START_WRAPPER})" && { printf '#!/usr/bin/env bash\\nset -o errexit -o nounset -o pipefail\\n'; cat ${PROJECT_IN_HOST}/nix/agent-start-wrapper.sh; } >${HOST_START_WRAPPER} && chmod 755 ${HOST_START_WRAPPER}`);
  // FLOTILLA_FIXTURE_RUN=/run: the stand-in switch points /run/current-system at its toplevel, as NixOS's activation does.
  await h.writeFile("/etc/flotilla/agent.env", `FLOTILLA_FIXTURE_STATE=${STATE}\nFLOTILLA_FIXTURE_UNITS=1\nFLOTILLA_FIXTURE_APP_ENV=/etc/webapp.env\nFLOTILLA_FIXTURE_RUN=/run\n`);
  await h.writeFile("/etc/webapp.env", "SERVICE_SECRET_FILE=/run/flotilla/secrets.d/current/webapp-token\n", { mode: "644" });
}, 900_000);

afterAll(async () => {
  await remote?.close();
  await bed?.close();
  await cleanupTempDirs();
});

describe("NixOS-style host with a real systemd", () => {
  it("switches real system units, checks them with systemd and rolls a failed unit back", async () => {
    const c1 = await repo.commit({ "fleet.yaml": fleetYaml() }, "web-1 on a real host");
    await installAgentUnit("1s");
    await h.sh("systemctl daemon-reload && systemctl enable --now flotilla-secrets.service flotilla-agent.service");
    await waitFor("web-1 healthy on c1", healthyOn(c1), 180_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\nagent journal:\n${await journal(h, "flotilla-agent.service")}`);
    });
    expect(await unit("ActiveState")).toBe("active");
    expect(await unit("FragmentPath")).toBe("/etc/systemd/system/webapp.service");
    expect(await fixture("app-revision")).toBe(c1);
    const gen1 = (await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim();
    expect(gen1).toMatch(/-nixos-system-web-1-/);

    const bad = await repo.commit({ "markers/web-1/fail-unit": "" }, "webapp cannot start");
    const s2 = await waitFor("web-1 rolled back", async () => {
      const s = await agentStatusCmd();
      return s.failedRevs.some((f) => f.rev === bad) && s.phase === "rolledBack" && s;
    });
    expect(s2.failedRevs.find((f) => f.rev === bad)?.reason).toBe("ActivationFailed");
    expect(s2.current?.rev).toBe(c1);
    expect((await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim()).toBe(gen1);
    await waitFor("webapp.service active on c1 again", async () => (await unit("ActiveState")) === "active" && (await fixture("app-revision")) === c1);
    expect(await h.readFile("/etc/systemd/system/webapp.service")).not.toContain("ExecStartPre=/bin/false");
  }, 400_000);

  it("restarts the system unit a changed secret names in restartUnits", async () => {
    const enc = async (value: string) =>
      Buffer.from(await encryptSopsFile(Buffer.from(`token: ${value}\n`), { format: "yaml", recipients: [hostRecipient(hostKey)], file: "secrets/app.yaml" })).toString();
    const sha = (v: string) => createHash("sha256").update(v).digest("hex");
    // webapp-worker.service is not installed yet (a later deploy would add it): a restart of a unit
    // the manager does not have is skipped, not a SecretsFailed (the demo on real hosts found it).
    const secrets = [{ name: "webapp-token", sopsFile: "secrets/app.yaml", key: "token", hosts: ["web-1"], restartUnits: ["webapp.service", "webapp-worker.service"] }];
    const v1 = "nixos-token-1111";
    const c3 = await repo.commit({ "fleet.yaml": fleetYaml(secrets), "secrets/app.yaml": await enc(v1), "markers/web-1/fail-unit": null }, "a secret for webapp");
    await waitFor("web-1 healthy on c3", healthyOn(c3));
    expect(await fixture("app-secret-sha256")).toBe(sha(v1));
    const startsBefore = (await fixture("app-starts")).split("\n").length;
    const v2 = "nixos-token-2222";
    const c4 = await repo.commit({ "secrets/app.yaml": await enc(v2) }, "rotate the token");
    await waitFor("web-1 healthy on c4", healthyOn(c4));
    expect(await fixture("app-secret-sha256")).toBe(sha(v2));
    lastSecretSha = sha(v2);
    // restartUnits (system manager), then the switch restarts the changed unit.
    expect((await fixture("app-starts")).split("\n").length).toBe(startsBefore + 2);
  }, 300_000);

  it("exits 75 after its own unit and config changed, and systemd starts it again with them", async () => {
    const before = await agentStatusCmd();
    const pid = await unit("MainPID", "flotilla-agent.service");
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    // What a switch does with restartIfChanged = false: new config and unit
    // files, daemon-reload, and no restart of flotilla-agent.service.
    await installAgentUnit("2s");
    await h.sh("systemctl daemon-reload");
    await waitFor("flotilla-agent.service restarted by systemd", async () => {
      const now = await unit("MainPID", "flotilla-agent.service");
      return now !== pid && now !== "0" && (await unit("ActiveState", "flotilla-agent.service")) === "active";
    });
    const log = await journal(h, "flotilla-agent.service");
    // SuccessExitStatus=75: "Deactivated successfully", then RestartForceExitStatus=75 restarts it.
    expect(log).toMatch(/exiting 75 to be restarted with them changed=[a-z,]*config[a-z,]*\n.*Deactivated successfully\.\n.*Scheduled restart job/);
    expect(await unit("NRestarts", "flotilla-agent.service")).not.toBe("0");
    // A restart, not a failure, and nothing redeployed.
    expect(await unit("Result", "flotilla-agent.service")).toBe("success");
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await agentStatusCmd()).current).toEqual(before.current);
    expect((await fixture("../calls.jsonl")).split("\n").length).toBe(calls);
  }, 300_000);

  it("re-installs the current secrets at boot before webapp.service starts, and redeploys nothing", async () => {
    const before = await agentStatusCmd();
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    await h.reboot();
    await waitFor("flotilla-agent.service after the reboot", async () => (await unit("ActiveState", "flotilla-agent.service")) === "active");
    await waitFor("webapp.service after the reboot", async () => (await unit("ActiveState")) === "active");
    // /run is a tmpfs: flotilla-secrets.service (restore-secrets) put them back before webapp.service (After=flotilla-secrets.service) started.
    expect(await fixture("app-secret-sha256")).toBe(lastSecretSha);
    await new Promise((r) => setTimeout(r, 4_000));
    const after = await agentStatusCmd();
    expect(after.current).toEqual(before.current);
    expect(after.failedRevs).toEqual(before.failedRevs);
    expect((await fixture("../calls.jsonl")).split("\n").length).toBe(calls);
  }, 300_000);

  it("finishes and records a switch when `systemctl stop` comes during it; after `start` nothing is rolled back or blamed", async () => {
    const starts = (await fixture("app-starts")).split("\n").length;
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    const c5 = await repo.commit({ "markers/web-1/slow-switch": "10" }, "a slow switch");
    await waitForSlowActivation(h, {});
    // KillMode=mixed: SIGTERM to the agent only; it lets switch-to-configuration finish, records it, then exits.
    await h.exec(["systemctl", "stop", "flotilla-agent.service"], { timeoutMs: 300_000 });
    expect(await fixture("current-revision")).toBe(c5);
    const stopped = await agentStatusCmd();
    expect(["verifying", "done"]).toContain(stopped.phase);
    expect(stopped.target?.rev).toBe(c5);
    expect(await journal(h, "flotilla-agent.service")).toMatch(/stopping/);

    await h.exec(["systemctl", "start", "flotilla-agent.service"]);
    const s = await waitFor("web-1 healthy on c5 after the start", healthyOn(c5));
    expect(s.failedRevs.map((f) => f.rev)).not.toContain(c5);
    // One switch, to c5; webapp.service started once, on c5: no rollback.
    expect((await fixture("app-starts")).split("\n").slice(starts)).toEqual([c5]);
    expect((await fixture("../calls.jsonl")).split("\n").slice(calls).map((l) => (JSON.parse(l) as { revision: string }).revision)).toEqual([c5]);
  }, 300_000);

  it("after an agent killed between a completed switch and its record, completes that switch instead of rolling it back", async () => {
    const starts = (await fixture("app-starts")).split("\n").length;
    const calls = (await fixture("../calls.jsonl")).split("\n").length;
    const c6 = await repo.commit({ "markers/web-1/slow-switch": "8", "markers/web-1/note": "c6\n" }, "another slow switch");
    // The agent freezes while switch-to-configuration runs; the switch completes; the agent dies without saving.
    await freezeAgentDuringActivation(h, { statusOf: agentStatusCmd, rev: c6 });
    await waitFor("c6's switch completed", async () => (await fixture("current-revision")) === c6 && (await unitProcesses(h, "flotilla-agent.service")).length === 1);
    const target = (await h.exec(["readlink", "-f", "/run/current-system"])).stdout.trim();
    await killAgent(h);
    // Restart=always starts it again (RestartSec=5s).
    const s = await waitFor("web-1 healthy on c6 after the restart", async () => {
      const st = await agentStatusCmd();
      if (st.phase === "rollingBack" || st.phase === "rolledBack") throw new Error(`rolled back: ${JSON.stringify(st.lastOutcome)}`);
      return st.current?.rev === c6 && st.phase === "done" && st;
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}\nwebapp starts: ${(await fixture("app-starts")).split("\n").slice(starts).join(" ")}\nagent journal:\n${await journal(h, "flotilla-agent.service")}`);
    });
    expect(s.failedRevs.map((f) => f.rev)).not.toContain(c6);
    expect((await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim()).toBe(target);
    // webapp.service started once, on c6; every switch since was to c6 (the agent completed the interrupted one again), none back.
    expect((await fixture("app-starts")).split("\n").slice(starts)).toEqual([c6]);
    const revs = (await fixture("../calls.jsonl")).split("\n").slice(calls).map((l) => (JSON.parse(l) as { revision: string }).revision);
    expect(revs.length).toBeGreaterThan(0);
    expect(new Set(revs)).toEqual(new Set([c6]));
  }, 300_000);
});
