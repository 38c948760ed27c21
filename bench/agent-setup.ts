// Shared setup of the agent benchmarks: a fleet repo from the offline test
// flake, a host key, a temp state dir and profile, and a real agent built by
// createAgent() (the same wiring as `flotilla-agent run`).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "../common/src/log.js";
import { resolveConfig } from "../node-agent/src/config.js";
import { createAgent, type Agent } from "../node-agent/src/main.js";
import { makeFleetRepo, type FleetRepo } from "../test/helpers/git-repo.js";
import { nixEnv } from "../test/helpers/nix-env.js";
import { makeTempDir, stateDirs } from "../test/helpers/tmp.js";

export interface BenchWorld {
  repo: FleetRepo;
  root: string;
  env: Record<string, string>;
  agent: Agent;
  fixtureState: string;
  /** The remote URL the agent polls (file:// or http://). */
  remote: string;
}

export async function benchWorld(o: { remote?: (repo: FleetRepo) => Promise<string>; checks?: (fixtureState: string) => unknown[] } = {}): Promise<BenchWorld> {
  const root = await makeTempDir("flotilla-bench-");
  const fixture = await stateDirs();
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "host_key")]);
  const pub = readFileSync(join(root, "host_key.pub"), "utf8").trim();
  const repo = await makeFleetRepo({ template: true });
  const checks = o.checks?.(fixture.state) ?? [{ type: "command", name: "health-file", command: ["grep", "-qx", "ok", join(fixture.state, "canary-1", "health")], interval: "100ms" }];
  await repo.commit({ "fleet.yaml": JSON.stringify({ version: 1, agent: { keepGenerations: 3 }, hosts: [{ name: "canary-1", kind: "nixos", hostKey: pub, checks }] }) }, "c1");
  const remote = o.remote ? await o.remote(repo) : repo.url;
  await mkdir(join(root, "profiles"));
  const r = await resolveConfig({
    host: "canary-1",
    remotes: [remote],
    stateDir: join(root, "state"),
    hostKeyPath: join(root, "host_key"),
    profile: join(root, "profiles", "system"),
    activation: "direct",
    commands: { runAs: [] },
    timeouts: { connectivity: "5s" },
    logLevel: "error",
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const env = nixEnv(fixture.env);
  const agent = await createAgent(r.config, { env, log: createLogger({ component: "bench", level: "error" }) });
  return { repo, root, env, agent, fixtureState: fixture.state, remote };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
