// The agent's integration world: a real fleet repo (the offline test flake),
// a host key, a real nix profile in a temp dir, the fixture state, a health
// server, the agent's config, and two stand-ins for binaries that cannot run
// here (nixos-rebuild, systemctl) which do the same steps with real nix.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, realpath, rename, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { readCalls, readHostState, type FixtureCall } from "../../helpers/fixture-state.js";
import { makeFleetRepo, type FileChanges, type FleetRepo } from "../../helpers/git-repo.js";
import { startHealthServer, type HealthServer } from "../../helpers/health-server.js";
import { nixEnv } from "../../helpers/nix-env.js";
import { makeTempDir, stateDirs, type StateDirs } from "../../helpers/tmp.js";
import { main } from "../../../node-agent/src/main.js";
import type { AgentState } from "../../../node-agent/src/loop/phases.js";
import type { TransitionEvent } from "../../../schemas/src/api.js";

async function symlinkOver(target: string, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await symlink(target, tmp);
  await rename(tmp, path);
}

export const REPO_ROOT = new URL("../../../", import.meta.url).pathname;

export function makeKey(dir: string, name = "host_key"): { path: string; pub: string } {
  const path = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

const NIXOS_REBUILD = `#!/bin/sh
# TEST STAND-IN for nixos-rebuild (it cannot run here): the same steps with
# real nix. nixos-rebuild <op> --flake <ref>#<name>
set -eu
op="$1"; shift
[ "$1" = "--flake" ] || { echo "stand-in nixos-rebuild: expected --flake" >&2; exit 2; }
ref="\${2%#*}"; name="\${2##*#}"
json=$(nix build --no-link --json "$ref#nixosConfigurations.$name.config.system.build.toplevel")
out=$(printf '%s' "$json" | sed -n 's/.*"out":"\\([^"]*\\)".*/\\1/p')
[ -n "$out" ] || { echo "stand-in nixos-rebuild: no out path" >&2; exit 1; }
case "$op" in switch|boot) nix-env -p "$FLOTILLA_TEST_PROFILE" --set "$out" ;; esac
exec "$out/bin/switch-to-configuration" "$op"
`;

const SYSTEMCTL = `#!/bin/sh
# TEST STAND-IN for systemctl (no systemd here): "is-active [--quiet] <host>.service"
# is active when the fixture host's health file says ok.
for a in "$@"; do unit="$a"; done
host="\${unit%.service}"
grep -qx ok "$FLOTILLA_FIXTURE_STATE/$host/health"
`;

export interface HostDef {
  name: string;
  kind?: "nixos" | "legacy";
  pin?: string;
  /** NixOS operation (switch, boot, test). */
  operation?: string;
  checks?: unknown[];
  hooks?: unknown;
  /** legacy only */
  user?: string;
  projectDir?: string;
}

export interface WorldOptions {
  host?: string;
  kind?: "nixos" | "legacy";
  activation?: "direct" | "nixos-rebuild";
  /** Extra agent config fields. */
  config?: Record<string, unknown>;
}

export interface OnceResult {
  code: number;
  out: string;
  err: string;
}

export class World {
  repo!: FleetRepo;
  fixture!: StateDirs;
  health!: HealthServer;
  root!: string;
  stateDir!: string;
  profile!: string;
  configPath!: string;
  bin!: string;
  hostKey!: { path: string; pub: string };
  otherKey!: { path: string; pub: string };
  env!: Record<string, string>;
  host: string;
  kind: "nixos" | "legacy";
  projectDir!: string;
  /** Stand-in for /run: booted-system and current-system (the fixture's switch-to-configuration maintains current-system). */
  runDir!: string;
  private opts: WorldOptions;
  config: Record<string, unknown> = {};

  constructor(opts: WorldOptions = {}) {
    this.opts = opts;
    this.host = opts.host ?? (opts.kind === "legacy" ? "legacy-1" : "canary-1");
    this.kind = opts.kind ?? "nixos";
  }

  static async create(opts: WorldOptions = {}): Promise<World> {
    const w = new World(opts);
    await w.init();
    return w;
  }

  private async init(): Promise<void> {
    this.root = await makeTempDir("flotilla-agent-it-");
    this.fixture = await stateDirs();
    this.health = await startHealthServer(this.fixture.state);
    this.stateDir = join(this.root, "state");
    this.profile = join(this.root, "profiles", "system");
    this.bin = join(this.root, "bin");
    this.projectDir = join(this.root, "project");
    this.runDir = join(this.root, "run");
    await mkdir(this.runDir, { recursive: true });
    await mkdir(join(this.root, "profiles"), { recursive: true });
    await mkdir(this.bin, { recursive: true });
    await mkdir(this.projectDir, { recursive: true });
    await writeFile(join(this.bin, "nixos-rebuild"), NIXOS_REBUILD);
    await writeFile(join(this.bin, "systemctl"), SYSTEMCTL);
    await chmod(join(this.bin, "nixos-rebuild"), 0o755);
    await chmod(join(this.bin, "systemctl"), 0o755);
    this.hostKey = makeKey(this.root);
    this.otherKey = makeKey(this.root, "other_key");
    this.repo = await makeFleetRepo({ template: true });
    this.env = nixEnv({
      ...this.fixture.env,
      FLOTILLA_TEST_PROFILE: this.profile,
      FLOTILLA_FIXTURE_RUN: this.runDir,
      PATH: `${this.bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    });
    this.configPath = join(this.root, "agent.json");
    await this.writeConfig(this.opts.config ?? {});
  }

  async writeConfig(extra: Record<string, unknown>): Promise<void> {
    this.config = {
      host: this.host,
      remotes: [this.repo.url],
      branch: "main",
      stateDir: this.stateDir,
      hostKeyPath: this.hostKey.path,
      profile: this.profile,
      secretsRoot: join(this.root, "secrets"),
      bootedSystem: join(this.runDir, "booted-system"),
      currentSystem: join(this.runDir, "current-system"),
      activation: this.opts.activation ?? "direct",
      commands: { nixosRebuild: join(this.bin, "nixos-rebuild"), systemctl: join(this.bin, "systemctl"), runAs: [] },
      timeouts: { git: "30s", build: "5m", activate: "2m", connectivity: "3s" },
      logLevel: "debug",
      ...extra,
    };
    await writeFile(this.configPath, JSON.stringify(this.config, null, 2));
  }

  /** The default checks of a fixture host: its health file, and the HTTP health server. */
  defaultChecks(host = this.host): unknown[] {
    const timing = { interval: "100ms", timeout: "1s", deadline: "1500ms" };
    return [
      { type: "command", name: "health-file", command: ["grep", "-qx", "ok", join(this.fixture.state, host, "health")], ...timing },
      { type: "http", name: "health-http", url: this.health.urlFor(host), successes: 2, ...timing },
    ];
  }

  /** A fleet.yaml (JSON is YAML) for this world's host plus `more`. */
  fleet(o: { hosts?: HostDef[]; policy?: Record<string, unknown>; agent?: Record<string, unknown>; hooks?: unknown; waves?: unknown[]; secrets?: unknown[] } = {}): string {
    const hosts = (o.hosts ?? [{ name: this.host, kind: this.kind }]).map((h) => {
      const kind = h.kind ?? "nixos";
      const base: Record<string, unknown> = {
        name: h.name,
        kind,
        hostKey: h.name === this.host ? this.hostKey.pub : this.otherKey.pub,
        checks: h.checks ?? (h.name === this.host ? this.defaultChecks(h.name) : []),
      };
      if (h.pin) base.pin = h.pin;
      if (h.operation) base.operation = h.operation;
      if (h.hooks) base.hooks = h.hooks;
      if (kind === "legacy") Object.assign(base, { user: h.user ?? "root", projectDir: h.projectDir ?? this.projectDir });
      return base;
    });
    return JSON.stringify(
      {
        version: 1,
        policy: { branch: "main", ...o.policy },
        agent: { keepGenerations: 3, ...o.agent },
        ...(o.hooks ? { hooks: o.hooks } : {}),
        hosts,
        ...(o.waves ? { waves: o.waves } : {}),
        ...(o.secrets ? { secrets: o.secrets } : {}),
      },
      null,
      2,
    );
  }

  commit(files: FileChanges, message?: string): Promise<string> {
    return this.repo.commit(files, message);
  }

  /** `flotilla-agent <args>` in-process, through main() (the CLI), with this world's environment. */
  async cli(...args: string[]): Promise<OnceResult> {
    let out = "";
    let err = "";
    const code = await main([...args, "--config", this.configPath], { env: this.env, out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  }

  once(): Promise<OnceResult> {
    return this.cli("once");
  }

  async state(): Promise<AgentState> {
    return JSON.parse(await readFile(join(this.stateDir, "state.json"), "utf8")) as AgentState;
  }

  /** The store path the profile points at, or null. */
  async activeGeneration(): Promise<string | null> {
    return existsSync(this.profile) ? realpath(this.profile) : null;
  }

  /**
   * The host (re)boots into `generation`: /run/booted-system and
   * /run/current-system point at it and its activation runs (the stand-in's
   * `switch-to-configuration test`, which brings its "service" up).
   */
  async reboot(generation: string): Promise<void> {
    await symlinkOver(generation, join(this.runDir, "booted-system"));
    await execa(join(generation, "bin/switch-to-configuration"), ["test"], { env: this.env, extendEnv: false });
  }

  /** The transition events the agent queued (no controller in these worlds: all of them). */
  async events(): Promise<TransitionEvent[]> {
    const dir = join(this.stateDir, "outbox");
    const files = (await readdir(dir)).filter((f) => /^\d+-e\.json$/.test(f)).sort();
    return Promise.all(files.map(async (f) => JSON.parse((JSON.parse(await readFile(join(dir, f), "utf8")) as { payload: string }).payload) as TransitionEvent));
  }

  calls(): Promise<FixtureCall[]> {
    return readCalls(this.fixture.log);
  }

  hostState() {
    return readHostState(this.fixture.state, this.host);
  }

  async build(rev: string, host = this.host): Promise<string> {
    const r = await execa("nix", ["build", "--no-link", "--json", `${this.repo.flakeRef(rev)}#nixosConfigurations.${host}.config.system.build.toplevel`], { env: this.env, extendEnv: false });
    return (JSON.parse(r.stdout) as Array<{ outputs: { out: string } }>)[0]!.outputs.out;
  }

  /** Spawns the *built* agent (dist/) in its own process group, as systemd would run it. */
  spawnBuilt(args: string[], env: Record<string, string> = {}): ChildProcess & { output: () => string } {
    let output = "";
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin/flotilla-agent.js"), ...args, "--config", this.configPath], {
      env: { ...this.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    return Object.assign(child, { output: () => output });
  }

  async close(): Promise<void> {
    await this.health.close();
  }
}

/**
 * The spawned-process tests run the agent from dist/, which test/global-setup.ts
 * builds once before any test file starts; nothing rebuilds it during the run.
 */
export async function buildAgent(): Promise<void> {
  const main = join(REPO_ROOT, "dist", "node-agent", "src", "main.js");
  if (!(await stat(main).catch(() => null))) throw new Error(`${main} is missing: the vitest globalSetup (test/global-setup.ts) builds it; run the tests through vitest/npm test`);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
