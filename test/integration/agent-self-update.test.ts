// Self-update end to end, offline, with real nix, git, HTTP and processes:
// the built agent (dist/) runs under the real start wrapper
// (nix/agent-start-wrapper.sh), restarted by a small supervisor that does
// what systemd's Restart=always does. The agent versions come from a local
// flake (test/fixtures/agent-versions) wrapping this repo's build output; the
// fleet file's agent.selfUpdate points at one of its revisions, every second.
//
//   1. v1 → v2: built, self-tested, profile switched, exit 75; v2 starts and
//      confirms; then "up to date" is reported once.
//   2. a release that passes its self-test but crash-loops: the wrapper sets
//      the profile back to v1 after 3 starts; v1 reports the failure and
//      never installs it again.
//   3. v2 starts but cannot report (the controller drops every connection):
//      past healthDeadline it sets the profile back to v1 itself (static
//      path) and exits 75; v1 reports the failure.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFleetRepo, type FleetRepo } from "../helpers/git-repo.js";
import { nixBuild, nixEnv, requireTool } from "../helpers/nix-env.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController, type TestController } from "./agent/controller.js";
import { buildAgent, REPO_ROOT, waitFor as waitForBare, World } from "./agent/helpers.js";

let current: Supervisor | null = null;
/** waitFor that adds the supervised agent's last output to a timeout. */
async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs?: number, intervalMs?: number): Promise<T> {
  try {
    return await waitForBare(what, probe, timeoutMs, intervalMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${current?.log() ?? ""}`);
  }
}

const FIXTURE = join(REPO_ROOT, "test/fixtures/agent-versions");
const WRAPPER = join(REPO_ROOT, "nix/agent-start-wrapper.sh");
const SYSTEM = "x86_64-linux";

beforeAll(async () => {
  requireTool("nix");
  requireTool("nix-env");
  await buildAgent();
}, 180_000);

afterAll(async () => {
  await cleanupTempDirs();
});

interface Versions {
  repo: FleetRepo;
  v1: { rev: string; out: string };
  v2: { rev: string; out: string; broken: string };
  source(rev: string): string;
}

/** The agent-versions flake in a git repo: commit 1 reports 1.0.0, commit 2 reports 2.0.0. */
async function makeVersions(): Promise<Versions> {
  const files = Object.fromEntries(["flake.nix", "build-agent.sh"].map((f) => [f, readFileSync(join(FIXTURE, f), "utf8")]));
  const local = JSON.stringify({ node: process.execPath, repo: REPO_ROOT.replace(/\/$/, "") });
  const repo = await makeFleetRepo({ files: { ...files, "local.json": local, version: "1.0.0\n" }, message: "agent 1.0.0" });
  const rev1 = await repo.head();
  const rev2 = await repo.commit({ version: "2.0.0\n" }, "agent 2.0.0");
  const attr = (name: string) => `packages.${SYSTEM}.${name}`;
  return {
    repo,
    v1: { rev: rev1, out: await nixBuild(repo.flakeRef(rev1), attr("flotilla")) },
    v2: { rev: rev2, out: await nixBuild(repo.flakeRef(rev2), attr("flotilla")), broken: await nixBuild(repo.flakeRef(rev2), attr("broken")) },
    source: (rev) => repo.flakeRef(rev),
  };
}

/** Plays systemd for the agent unit: runs the start wrapper, restarts it whenever it exits (Restart=always). */
class Supervisor {
  exits: number[] = [];
  private child: ChildProcess | null = null;
  private stopping = false;
  private output = "";
  private done: Promise<void> | null = null;

  constructor(
    private readonly w: World,
    private readonly env: Record<string, string>,
  ) {}

  start(): void {
    current = this;
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const child = spawn("bash", [WRAPPER, "run", "--config", this.w.configPath], { env: this.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      this.child = child;
      child.stdout?.on("data", (c: Buffer) => (this.output += c.toString()));
      child.stderr?.on("data", (c: Buffer) => (this.output += c.toString()));
      const code = await new Promise<number>((r) => child.once("exit", (c, sig) => r(c ?? (sig ? 128 : -1))));
      this.exits.push(code);
      this.output += `\n--- supervisor: exit ${code} ---\n`;
      if (this.exits.length > 12) throw new Error(`too many restarts:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 150)); // RestartSec
    }
  }

  /** systemctl restart: SIGTERM to the agent, which the loop then starts again. */
  restart(): void {
    if (this.child?.pid) process.kill(-this.child.pid, "SIGTERM");
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (c?.pid && c.exitCode === null && c.signalCode === null) process.kill(-c.pid, "SIGTERM");
    const timer = setTimeout(() => c?.pid && c.exitCode === null && process.kill(-c.pid, "SIGKILL"), 15_000);
    await this.done?.catch(() => undefined);
    clearTimeout(timer);
  }

  log(): string {
    return this.output.split("\n").slice(-80).join("\n");
  }
}

interface Setup {
  w: World;
  ctl: TestController;
  versions: Versions;
  profile: string;
  sup: Supervisor;
  profileTarget(): Promise<string | null>;
  story(): string[];
}

async function setup(o: { refuse?: () => boolean } = {}): Promise<Setup> {
  const w = await World.create();
  const versions = await makeVersions();
  const ctl = await startTestController({ hostKeys: { [w.host]: w.hostKey.pub }, ...(o.refuse ? { refuse: o.refuse } : {}) });
  await w.writeConfig({ controller: ctl.url, pollInterval: "300ms", jitter: "0", heartbeatInterval: "2s", logLevel: "info" });
  const profile = join(w.root, "profiles", "flotilla-agent");
  // What the installer / NixOS module does first: the agent profile holds v1.
  await execa("nix-env", ["-p", profile, "--set", versions.v1.out], { env: w.env, extendEnv: false });
  const sup = new Supervisor(w, {
    ...w.env,
    FLOTILLA_AGENT_PROFILE: profile,
    FLOTILLA_AGENT_FALLBACK: versions.v1.out,
    FLOTILLA_STATE_DIR: w.stateDir,
    FLOTILLA_AGENT_MAX_STARTS: "3",
    // Whole seconds in the marker: 4 s keeps quick crash restarts (about 0.2 s apart) from ever counting as stable.
    FLOTILLA_AGENT_STABLE_SECS: "4",
  });
  return {
    w,
    ctl,
    versions,
    profile,
    sup,
    profileTarget: () => realpath(profile).catch(() => null),
    // "outcome/reason@agentVersion" of the selfUpdate events, in arrival order.
    story: () => ctl.events().filter((e) => e.phase === "selfUpdate").map((e) => `${e.outcome}/${e.reason}@${e.agentVersion}`),
  };
}

const selfUpdate = (source: string, extra: Record<string, unknown> = {}) => ({ selfUpdate: { source, schedule: "* * * * * *", randomDelay: "0", healthDeadline: "20s", ...extra } });

async function teardown(s: Setup): Promise<void> {
  await s.sup.stop();
  await s.ctl.close();
  await s.w.close();
}

describe("agent self-update (real nix, the start wrapper, a restarting supervisor)", () => {
  it("v1 builds v2, self-tests it, switches the agent profile and exits 75; v2 starts and confirms", async () => {
    const s = await setup();
    const { w, versions } = s;
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet({ agent: selfUpdate(versions.source(versions.v2.rev)) }) }, "c1 with self-update to v2");
      const t0 = Date.now();
      s.sup.start();
      await waitFor("the confirmation", () => s.story().includes("succeeded/SelfUpdateConfirmed@2.0.0"), 90_000, 100);
      const confirmedMs = Date.now() - t0;
      expect(await s.profileTarget()).toBe(versions.v2.out);
      expect(s.sup.exits[0], s.sup.log()).toBe(75);
      // The deploy cycle finished before the update (maintenance runs only between cycles).
      expect((await w.state()).current?.rev).toBe(c1);
      await waitFor("up to date reported", () => s.story().includes("skipped/AgentUpToDate@2.0.0"), 30_000, 100);
      expect(s.story()).toEqual([
        "started/SelfUpdateBuilt@1.0.0",
        "started/SelfTestPassed@1.0.0",
        "started/AgentProfileSwitched@1.0.0",
        "succeeded/SelfUpdateConfirmed@2.0.0",
        "skipped/AgentUpToDate@2.0.0", // reported once, though the schedule fires every second
      ]);
      const ev = s.ctl.events().filter((e) => e.phase === "selfUpdate");
      expect(ev[1]!.message).toMatch(/"version":"2\.0\.0"/); // the self-test ran the new build
      expect(ev[2]).toMatchObject({ generation: versions.v2.out, previous: { generation: versions.v1.out } });
      expect(ev[3]).toMatchObject({ generation: versions.v2.out, rev: null });
      // No self-update event ever came from inside a deploy cycle: the deploy's done/succeeded precedes them all.
      const all = s.ctl.events();
      expect(all.findIndex((e) => e.phase === "done" && e.rev === c1)).toBeLessThan(all.findIndex((e) => e.phase === "selfUpdate"));
      const record = JSON.parse(await readFile(join(w.stateDir, "self-update.json"), "utf8"));
      expect(record).toMatchObject({ pending: null, failed: [] });
      // The marker of the wrapper: v2 is the target now.
      expect(await readFile(join(w.stateDir, "agent-start.state"), "utf8")).toContain(`target=${versions.v2.out}`);
      console.log(`self-update v1 → v2 confirmed ${confirmedMs} ms after the first start`);
      await s.sup.stop();
      expect(s.sup.exits).toEqual([75, 0]);
    } finally {
      await teardown(s);
    }
  }, 150_000);

  it("a release that crash-loops: the wrapper restores v1, which reports the failure and does not install it again", async () => {
    const s = await setup();
    const { w, versions } = s;
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1 without self-update");
      s.sup.start();
      await waitFor("c1 deployed", async () => (await w.state().catch(() => null))?.current?.rev === c1, 60_000, 50);
      // v1 has been up for a while: a restart lets the wrapper confirm it (the crash-loop fallback target).
      await new Promise((r) => setTimeout(r, 4500));
      s.sup.restart();
      await waitFor("v1 confirmed by the wrapper", async () => (await readFile(join(w.stateDir, "agent-start.state"), "utf8").catch(() => "")).includes("confirmed=1"), 30_000, 50);

      // The schedule appears with the new trusted fleet file (re-scheduling on change).
      await w.commit({ "fleet.yaml": w.fleet({ agent: selfUpdate(versions.source(versions.v2.rev), { attribute: `packages.${SYSTEM}.broken` }) }) }, "c2: self-update to a broken release");
      await waitFor("the failure reported by the restored v1", () => s.story().includes("failed/SelfUpdateFailed@1.0.0"), 90_000, 100);
      expect(await s.profileTarget()).toBe(versions.v1.out);
      await waitFor("previously failed reported", () => s.story().includes("skipped/PreviouslyFailed@1.0.0"), 30_000, 100);
      expect(s.story()).toEqual([
        "started/SelfUpdateBuilt@1.0.0",
        "started/SelfTestPassed@1.0.0", // the broken release passes its self-test...
        "started/AgentProfileSwitched@1.0.0",
        "failed/SelfUpdateFailed@1.0.0", // ...and crash-loops as a daemon
        "skipped/PreviouslyFailed@1.0.0",
      ]);
      const failed = s.ctl.events().find((e) => e.phase === "selfUpdate" && e.outcome === "failed")!;
      expect(failed).toMatchObject({ generation: versions.v2.broken, error: { reason: "AgentCrashLoop" }, previous: { generation: versions.v1.out } });
      // SIGTERM restart (0), switch (75), three crashed starts of the broken release (1), then v1 again.
      expect(s.sup.exits.slice(0, 5), s.sup.log()).toEqual([0, 75, 1, 1, 1]);
      expect(s.sup.log()).toMatch(/started 3 times without staying up 4s; setting .* back to/);
      const marker = await readFile(join(w.stateDir, "agent-start.state"), "utf8");
      expect(marker).toContain(`failed=${versions.v2.broken}`);
      expect(marker).toContain(`target=${versions.v1.out}`);
      const record = JSON.parse(await readFile(join(w.stateDir, "self-update.json"), "utf8"));
      expect(record).toMatchObject({ pending: null, failed: [versions.v2.broken] });
      // Restores are new generations pointing at the recorded path (nix-env --set), never --rollback.
      const gens = (await execa("nix-env", ["-p", s.profile, "--list-generations"], { env: nixEnv(), extendEnv: false })).stdout.trim().split("\n");
      expect(gens).toHaveLength(3);
    } finally {
      await teardown(s);
    }
  }, 150_000);

  it("v2 that cannot report within healthDeadline sets the profile back to v1 itself and exits 75; v1 reports the failure", async () => {
    let cut = false;
    // The controller answers until the switch is reported, then drops every connection (the new agent cannot report).
    const s = await setup({ refuse: () => cut });
    const { w, versions } = s;
    try {
      const watch = setInterval(() => {
        if (s.story().includes("started/AgentProfileSwitched@1.0.0")) cut = true;
      }, 5);
      await w.commit({ "fleet.yaml": w.fleet({ agent: selfUpdate(versions.source(versions.v2.rev), { healthDeadline: "3s" }) }) }, "c1 with self-update to v2, 3s deadline");
      s.sup.start();
      await waitFor("the switch", () => cut, 90_000, 20);
      clearInterval(watch);
      await waitFor("the profile back at v1", async () => (await s.profileTarget()) === versions.v1.out, 60_000, 50);
      await waitFor("v2 exited", () => s.sup.exits.length >= 2, 30_000, 50);
      expect(s.sup.exits.slice(0, 2), s.sup.log()).toEqual([75, 75]); // v1 after the switch, v2 after its restore
      cut = false;
      await waitFor("the failure reported by v1", () => s.story().includes("failed/SelfUpdateFailed@1.0.0"), 60_000, 100);
      const failed = s.ctl.events().find((e) => e.phase === "selfUpdate" && e.outcome === "failed")!;
      expect(failed).toMatchObject({ generation: versions.v2.out, error: { reason: "AgentHealthDeadline" } });
      expect(s.sup.log()).toMatch(/could not report within 3000 ms of the switch; setting the agent profile back to/);
      await waitFor("previously failed reported", () => s.story().includes("skipped/PreviouslyFailed@1.0.0"), 30_000, 100);
      expect(await s.profileTarget()).toBe(versions.v1.out);
      expect(JSON.parse(await readFile(join(w.stateDir, "self-update.json"), "utf8"))).toMatchObject({ pending: null, failed: [versions.v2.out] });
    } finally {
      await teardown(s);
    }
  }, 150_000);
});
