// Shared setup for the controller benchmarks: many ed25519 host keys (node
// crypto, OpenSSH public key lines), a fleet repo, and `flotilla serve` in
// its own process so client and server do not share an event loop.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { stringify } from "yaml";
import { makeHost, type BenchHost } from "./bench-hosts.js";
import { makeFleetRepo, type FleetRepo } from "../test/helpers/git-repo.js";
import { makeTempDir } from "../test/helpers/tmp.js";

export { signAs, type BenchHost } from "./bench-hosts.js";

export const TOKEN = "bench-operator-token";

export function makeHosts(n: number, prefix = "h"): BenchHost[] {
  return Array.from({ length: n }, (_, i) => makeHost(`${prefix}${String(i).padStart(5, "0")}`));
}

/** Shared role tags of the non-canary hosts, in turn (a fleet of a few kinds of machine). */
const ROLES = ["web", "db", "kv", "ci"] as const;

/**
 * A fleet of `hosts`: `canary` hosts (tagged canary) in a first wave and the
 * rest (tagged by role) in a second, selected by tag; canary 0 = no waves
 * (every host in the implicit wave). Written compactly, one flow mapping per
 * host (valid YAML a person could write), since the fleet file is capped at
 * 1 MiB: ~130 bytes a host, 80 of them the public key line.
 */
export function fleetYaml(hosts: BenchHost[], canary = 1): string {
  const tag = (i: number) => (canary > 0 && i < canary ? "canary" : ROLES[i % ROLES.length]!);
  const lines = ["version: 1", "hosts:", ...hosts.map((h, i) => `- {name: ${h.name}, kind: nixos, hostKey: ${h.publicLine}, tags: [${tag(i)}]}`)];
  if (canary > 0) {
    const roles = ROLES.filter((_, r) => hosts.some((_h, i) => i >= canary && i % ROLES.length === r));
    lines.push("waves:", "- {name: canary, members: [tag:canary]}");
    if (roles.length) lines.push(`- {name: fleet, members: [${roles.map((r) => `tag:${r}`).join(", ")}], maxUnavailable: 5%}`);
  }
  return lines.join("\n") + "\n";
}

export async function fleetRepo(hosts: BenchHost[], canary = 1): Promise<FleetRepo> {
  return makeFleetRepo({ files: { "fleet.yaml": fleetYaml(hosts, canary) }, message: "bench fleet" });
}

const CHILD = fileURLToPath(new URL("../test/integration/controller/serve-child.ts", import.meta.url));

export interface ControllerProcess {
  url: string;
  pid: number;
  rssMiB(): Promise<number>;
  stop(): Promise<void>;
}

/** `extra`: more controller.yaml keys (e.g. `notify`). */
export async function spawnController(remote: string, database?: string, extra: Record<string, unknown> = {}): Promise<ControllerProcess> {
  const dir = await makeTempDir("flotilla-bench-");
  const config = join(dir, "controller.yaml");
  await writeFile(config, stringify({
    listen: "127.0.0.1:0", dataDir: join(dir, "data"), ...(database ? { database } : {}), logLevel: "warn",
    fleet: { remotes: [remote], pollInterval: "1h" }, auth: { operatorTokens: [{ name: "bench", token: { value: TOKEN } }] },
    // Room for the 10,000 long-polling agents of controller-watch-memory.ts (the default cap is 4096).
    limits: { maxBodyBytes: 8 * 1024 * 1024, maxConnections: 20_000 },
    ...extra,
  }));
  // CONTROLLER_NODE_ARGS: extra node flags for the controller process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (written when it stops).
  const nodeArgs = process.env.CONTROLLER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const proc = execa("node", [...nodeArgs, "--import", "tsx", CHILD, "serve", "--config", config], { reject: false, buffer: false });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const start = Date.now();
  while (!/listening on (\S+)/.test(out)) {
    if (proc.exitCode !== null || Date.now() - start > 120_000) throw new Error(`controller did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /listening on (\S+)/.exec(out)![1]!;
  return {
    url,
    pid: proc.pid!,
    async rssMiB() {
      const { readFile } = await import("node:fs/promises");
      const status = await readFile(`/proc/${proc.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc;
    },
  };
}
