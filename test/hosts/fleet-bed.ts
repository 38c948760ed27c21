// A fleet on real hosts: the controller (`bin/flotilla.js serve`, SQLite) as a
// process on the machine, listening on every address so that hosts on their
// own veth link reach it at their link's machine address, and NixOS-style
// hosts running the agent under the unit nix/modules/agent.nix renders
// (nixos-unit.ts). `FleetBed` puts them together: booted hosts on their own
// links, the fleet repo served over HTTP and the controller following it.
// Used by waves.test.ts and partition.test.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { stringify } from "yaml";
import type { StatusReport } from "../../schemas/src/api.js";
import { freePort } from "../helpers/free-port.js";
import { makeFleetRepo, serveHttp, type FleetRepo, type HttpRemote } from "../helpers/git-repo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { addPackage, waitFor, type AgentStatus } from "./agent-setup.js";
import { PROJECT_IN_HOST, PROJECT_ROOT, TestBed, type Host } from "./harness.js";
import { HOST_START_WRAPPER, renderAgentUnit } from "./nixos-unit.js";

export const OPERATOR_TOKEN = "hosts-operator-token-0123456789";

/** Where the fixture's stand-in services keep their files on a host (test/fixtures/README.md). */
export const FIXTURE_STATE = "/var/lib/fixture";

/** The address of the machine as `h` sees it: its veth peer, or 127.0.0.1 on the machine's network. */
export function machineAddr(h: Host): string {
  return h.link?.machineAddr ?? "127.0.0.1";
}

/** A URL on 127.0.0.1 of the machine, as `h` reaches it. */
export function urlFor(h: Host, url: string): string {
  return url.replace("//127.0.0.1:", `//${machineAddr(h)}:`);
}

export class Controller {
  output = "";
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly dataDir: string,
  ) {}

  /** `flotilla serve` following `repoUrl` every second, on 0.0.0.0. */
  static async start(repoUrl: string): Promise<Controller> {
    const dir = await makeTempDir("flotilla-hosts-ctl-");
    const port = await freePort();
    const config = join(dir, "controller.yaml");
    await writeFile(
      config,
      stringify({
        listen: `0.0.0.0:${port}`,
        dataDir: dir,
        database: `sqlite:${join(dir, "flotilla.db")}`,
        fleet: { remotes: [repoUrl], branch: "main", pollInterval: "1s" },
        auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] },
      }),
    );
    const child = spawn(process.execPath, [join(PROJECT_ROOT, "bin/flotilla.js"), "serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    const c = new Controller(child, `http://127.0.0.1:${port}`, dir);
    child.stdout?.on("data", (d: Buffer) => (c.output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (c.output += d.toString()));
    await waitFor("the controller listening", async () => {
      if (child.exitCode !== null) throw new Error(`the controller exited ${child.exitCode}:\n${c.output}`);
      return /listening on/.test(c.output);
    }, 60_000, 100);
    return c;
  }

  async status(): Promise<StatusReport> {
    const res = await fetch(`${this.url}/api/v1/status`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET /api/v1/status: HTTP ${res.status}: ${await res.text()}`);
    return (await res.json()) as StatusReport;
  }

  /** The transition events the controller stored for `host`, by seq (read from its SQLite database). */
  events(host: string): Array<{ seq: number; phase: string; outcome: string; rev: string | null; receivedMs: number }> {
    const db = new Database(join(this.dataDir, "flotilla.db"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT seq, phase, outcome, rev, received_ms AS receivedMs FROM messages WHERE host = ? AND type = 'event' ORDER BY seq").all(host) as Array<{ seq: number; phase: string; outcome: string; rev: string | null; receivedMs: number }>).map((r) => ({
        ...r,
        seq: Number(r.seq),
        receivedMs: Number(r.receivedMs),
      }));
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  }
}

/** A Nix attribute set for services.flotilla.agent (strings, numbers, booleans, lists, nested objects). */
export function toNix(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v).replaceAll("${", "\\${");
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[ ${v.map(toNix).join(" ")} ]`;
  if (v && typeof v === "object") return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} = ${toNix(x)};`).join(" ")} }`;
  throw new Error(`no Nix value for ${String(v)}`);
}

export interface NixosAgent {
  pkg: string;
  status(): Promise<AgentStatus>;
}

/**
 * The agent on a NixOS-style host as the module installs it: the package in
 * the host's store, the module's start wrapper, /etc/flotilla/agent.yaml and
 * flotilla-agent.service rendered from `settings` (services.flotilla.agent.settings),
 * `env` in its environment file; enabled and started.
 */
export async function installNixosAgent(h: Host, settings: Record<string, unknown>, env: Record<string, string>): Promise<NixosAgent> {
  const pkg = await addPackage(h);
  await h.sh(`mkdir -p "$(dirname ${HOST_START_WRAPPER})" && { printf '#!/usr/bin/env bash\\nset -o errexit -o nounset -o pipefail\\n'; cat ${PROJECT_IN_HOST}/nix/agent-start-wrapper.sh; } >${HOST_START_WRAPPER} && chmod 755 ${HOST_START_WRAPPER}`);
  await h.writeFile("/etc/flotilla/agent.env", Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(""));
  const r = await renderAgentUnit(toNix({ enable: true, environmentFile: "/etc/flotilla/agent.env", settings: { host: h.name, activation: "direct", ...settings } }), pkg);
  await h.writeFile("/etc/flotilla/agent.yaml", r.config, { mode: "644" });
  await h.writeFile("/etc/systemd/system/flotilla-agent.service", r.unit, { mode: "644" });
  await h.writeFile("/etc/systemd/system/flotilla-secrets.service", r.secretsUnit, { mode: "644" });
  await h.sh("systemctl daemon-reload && systemctl enable --now flotilla-secrets.service flotilla-agent.service");
  return {
    pkg,
    status: async () => JSON.parse((await h.exec([`${pkg}/bin/flotilla-agent`, "status", "--json", "--config", "/etc/flotilla/agent.yaml"])).stdout) as AgentStatus,
  };
}

/** A stand-in service's fixture file on `h` (test/fixtures/README.md), "" when absent. */
export async function fixtureOf(h: Host, state: string, name: string): Promise<string> {
  return (await h.exec(["cat", `${state}/${h.name}/${name}`], { check: false })).stdout.trim();
}

/** The public half of `h`'s host key, as a fleet file lists it. */
export async function hostKeyOf(h: Host): Promise<string> {
  return (await h.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim();
}

/** A fixture host's checks under real systemd: its webapp.service active, its health file ok. */
export function webappChecks(host: string): unknown[] {
  return [
    { type: "systemd", name: "webapp", unit: "webapp.service", interval: "200ms", timeout: "5s", deadline: "10s" },
    { type: "command", name: "health-file", command: ["grep", "-qx", "ok", `${FIXTURE_STATE}/${host}/health`], interval: "200ms", deadline: "5s" },
  ];
}

/**
 * Hosts booted on links of their own, the fleet repo (the offline test flake)
 * served on 0.0.0.0, and a controller following it. `close` stops whatever
 * was started, so a test's afterAll calls it even when the start failed
 * half way (start closes what it had itself before it throws).
 */
export class FleetBed {
  // Set in order by start; close looks at each, since a failed start leaves the later ones unset.
  bed!: TestBed;
  hosts: Host[] = [];
  repo!: FleetRepo;
  remote!: HttpRemote;
  ctl!: Controller;

  static async start(names: readonly string[]): Promise<FleetBed> {
    const fb = new FleetBed();
    try {
      const bed = (fb.bed = await TestBed.create());
      fb.hosts = await Promise.all(names.map((n) => bed.boot(n, { network: "veth" })));
      fb.repo = await makeFleetRepo({ template: true });
      fb.remote = await serveHttp(fb.repo.dir, { listen: "0.0.0.0" });
      fb.ctl = await Controller.start(fb.remote.url);
    } catch (e) {
      await fb.close();
      throw e;
    }
    return fb;
  }

  /**
   * installNixosAgent on `h` following this bed's remote and reporting to its
   * controller, each as `h` reaches it; the fixture's services under real
   * systemd. `settings` adds to or overrides the timing.
   */
  installAgent(h: Host, settings: Record<string, unknown> = {}): Promise<NixosAgent> {
    return installNixosAgent(
      h,
      { remotes: [urlFor(h, this.remote.url)], controller: urlFor(h, this.ctl.url), pollInterval: "1s", jitter: "100ms", ...settings },
      { FLOTILLA_FIXTURE_STATE: FIXTURE_STATE, FLOTILLA_FIXTURE_UNITS: "1" },
    );
  }

  async close(): Promise<void> {
    await (this.ctl as Controller | undefined)?.close();
    await (this.remote as HttpRemote | undefined)?.close();
    await (this.bed as TestBed | undefined)?.close();
  }
}
