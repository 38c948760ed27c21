/**
 * Everything the demo needs on disk, under one temp dir: host keys
 * (ssh-keygen), the fleet repo (a real git repo made from the offline test
 * fleet, with a fleet.yaml written here and a sops file encrypted to the
 * hosts' recipients with `flotilla secrets encrypt`), per-host agent configs,
 * state dirs, NixOS profiles and secrets roots, the legacy project dir, the
 * fixture state, and a stand-in `systemctl`.
 */
import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";

export const REPO_ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** Where bin/ and dist/ are: the repo (npm run build), or a private build (the demo test sets FLOTILLA_DEMO_BUILD_DIR). */
export const BUILD_ROOT = process.env.FLOTILLA_DEMO_BUILD_DIR ?? REPO_ROOT;
export const NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false";

export type HostName = "canary-1" | "web-1" | "web-2" | "db-1" | "legacy-1";
export const HOSTS: HostName[] = ["canary-1", "web-1", "web-2", "db-1", "legacy-1"];
export const ROLLING: HostName[] = ["canary-1", "web-1", "web-2", "legacy-1"];
export const PINNED: HostName = "db-1";
export const SECRET_NAME = "app-token";
export const SECRET_MODE = "0440";

export interface HostDirs {
  name: HostName;
  dir: string;
  key: string;
  pub: string;
  recipient: string;
  stateDir: string;
  profile: string;
  secretsRoot: string;
  config: string;
  projectDir: string;
}

/**
 * Where things are on the machines the agents run on, as the fleet repo names
 * them (fleet.yaml's health-file commands, the legacy host's user and project
 * dir, the unit a rotated secret restarts).
 */
export interface Site {
  /** The fixture state dir of `h` as its agent sees it. */
  fixtureStateOf(h: HostName): string;
  legacyUser: string;
  legacyProjectDir: string;
  /** The app's unit, restarted when its secret changes. */
  appUnit: string;
}

export interface World {
  root: string;
  repo: string;
  repoUrl: string;
  logs: string;
  bin: string;
  fixtureState: string;
  fixtureLog: string;
  systemctlLog: string;
  controllerDir: string;
  controllerConfig: string;
  operatorToken: string;
  hosts: Record<HostName, HostDirs>;
  /** sha256 of the secret's current value (the value itself stays in memory and in sops only). */
  secretSha: string;
  site: Site;
  /** Environment for nix, git and the agents. */
  env: NodeJS.ProcessEnv;
}

const SYSTEMCTL = `#!/bin/sh
# DEMO STAND-IN for systemctl (there is no systemd here).
#   restart <units>        logs "<time> <host> restart <units>" to $FLOTILLA_DEMO_SYSTEMCTL_LOG
#   is-active [--quiet] U  active when the fixture host's health file says ok
# Options before the command are read as systemctl does (--user and
# --machine=USER@ for a legacy host's units, which live in its deploy user's manager).
scope=system
while [ $# -gt 0 ]; do
  case "$1" in
    --user) scope=user; shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
cmd="$1"; shift
[ "\${1:-}" = "--" ] && shift
case "$cmd" in
  restart|reload|try-restart|reload-or-restart)
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) \${FLOTILLA_DEMO_HOST:-?} $cmd $* ($scope manager)" >> "$FLOTILLA_DEMO_SYSTEMCTL_LOG"
    exit 0 ;;
  is-active)
    for a in "$@"; do unit="$a"; done
    grep -qx ok "$FLOTILLA_FIXTURE_STATE/\${FLOTILLA_DEMO_HOST:-\${unit%.service}}/health" ;;
  *) exit 0 ;;
esac
`;

export function flotillaCli(): string[] {
  return [process.execPath, join(BUILD_ROOT, "bin/flotilla.js")];
}

export async function flotilla(w: Pick<World, "env">, args: string[], input?: string): Promise<string> {
  const [cmd, ...pre] = flotillaCli();
  const r = await execa(cmd!, [...pre, ...args], { env: w.env, extendEnv: false, ...(input !== undefined ? { input } : {}), reject: false });
  if (r.exitCode !== 0) throw new Error(`flotilla ${args.join(" ")} exited ${r.exitCode}:\n${r.stderr || r.stdout}`);
  return r.stdout.trim() ? r.stdout : r.stderr;
}

export interface WorldOptions {
  /** Default: this machine's directories under `root` (the process-based demo). */
  site?: Site;
  /** Existing host keys (private key paths, .pub next to them) instead of new ones. */
  hostKeys?: Record<HostName, string>;
}

export async function makeWorld(root: string, o: WorldOptions = {}): Promise<World> {
  const dir = (...p: string[]) => {
    const d = join(root, ...p);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const bin = dir("bin");
  const fixtureState = join(dir("fixture"), "state");
  mkdirSync(fixtureState, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NIX_CONFIG: process.env.NIX_CONFIG ? `${process.env.NIX_CONFIG}\n${NIX_CONFIG}` : NIX_CONFIG,
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    FLOTILLA_FIXTURE_STATE: fixtureState,
    FLOTILLA_FIXTURE_LOG: join(root, "fixture", "calls.jsonl"),
    FLOTILLA_DEMO_SYSTEMCTL_LOG: join(root, "systemctl.log"),
    GIT_TERMINAL_PROMPT: "0",
  };
  writeFileSync(join(bin, "systemctl"), SYSTEMCTL);
  await chmod(join(bin, "systemctl"), 0o755);
  writeFileSync(env.FLOTILLA_DEMO_SYSTEMCTL_LOG!, "");

  const hosts = {} as Record<HostName, HostDirs>;
  await Promise.all(
    HOSTS.map(async (name) => {
      const d = dir("hosts", name);
      const key = o.hostKeys?.[name] ?? join(d, "ssh_host_ed25519_key");
      if (!o.hostKeys) await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${name}`, "-f", key]);
      const pub = (await execa("cat", [`${key}.pub`])).stdout.trim();
      hosts[name] = {
        name, dir: d, key, pub, recipient: "",
        stateDir: join(d, "state"), profile: join(dir("hosts", name, "profiles"), "system"), secretsRoot: join(d, "secrets.d"),
        config: join(d, "agent.json"), projectDir: dir("hosts", name, "project"),
      };
    }),
  );
  const w: World = {
    root, repo: join(root, "fleet"), repoUrl: `file://${join(root, "fleet")}`, logs: dir("logs"), bin, fixtureState,
    fixtureLog: env.FLOTILLA_FIXTURE_LOG!, systemctlLog: env.FLOTILLA_DEMO_SYSTEMCTL_LOG!,
    controllerDir: dir("controller"), controllerConfig: join(root, "controller", "controller.yaml"),
    operatorToken: randomBytes(16).toString("hex"), hosts, secretSha: "", env,
    site: o.site ?? {
      fixtureStateOf: () => fixtureState,
      legacyUser: userInfo().username,
      legacyProjectDir: hosts["legacy-1"].projectDir,
      appUnit: "app.service",
    },
  };
  // Age recipients through the CLI, as an operator would (ssh-to-age of each host key).
  for (const h of HOSTS) hosts[h].recipient = (await flotilla(w, ["keys", "recipient", `${hosts[h].key}.pub`])).trim();
  return w;
}

/** Encrypts a fresh random token to every host's recipient into <repo>/secrets/app.yaml; records its sha256. */
export async function writeSecret(w: World): Promise<void> {
  const token = randomBytes(24).toString("base64url");
  const plain = join(w.root, ".plain-app.yaml");
  writeFileSync(plain, stringify({ app: { token } }), { mode: 0o600 });
  try {
    mkdirSync(join(w.repo, "secrets"), { recursive: true });
    const recipients = HOSTS.map((h) => w.hosts[h].recipient).join(",");
    await flotilla(w, ["secrets", "encrypt", plain, "--age", recipients, "--output", join(w.repo, "secrets", "app.yaml")]);
  } finally {
    rmSync(plain, { force: true });
  }
  w.secretSha = createHash("sha256").update(token).digest("hex");
}

export interface FleetOptions {
  healthUrl: string;
  pin?: string;
}

export function fleetYaml(w: World, o: FleetOptions): string {
  const http = (h: HostName) => ({ type: "http", name: "http-health", url: `${o.healthUrl}/health/${h}`, bodyMatch: "^ok ", interval: "500ms", timeout: "2s", successes: 2, deadline: "6s" });
  const file = (h: HostName) => ({ type: "command", name: "health-file", command: ["grep", "-qx", "ok", join(w.site.fixtureStateOf(h), h, "health")], interval: "500ms", timeout: "2s", deadline: "6s" });
  const nixos = (h: HostName, extra: Record<string, unknown> = {}) => ({ name: h, kind: "nixos", hostKey: w.hosts[h].pub, ...extra });
  const fleet = {
    version: 1,
    policy: { branch: "main", unreachableAfter: "2m" },
    agent: { pollInterval: "1s", jitter: "500ms", keepGenerations: 3 },
    hosts: [
      nixos("canary-1", { tags: ["web"], checks: [http("canary-1")] }),
      nixos("web-1", { tags: ["web"], checks: [http("web-1")] }),
      nixos("web-2", { tags: ["web"], checks: [http("web-2")] }),
      nixos("db-1", { tags: ["db"], checks: [file("db-1")], ...(o.pin ? { pin: o.pin } : {}) }),
      {
        name: "legacy-1", kind: "legacy", hostKey: w.hosts["legacy-1"].pub, user: w.site.legacyUser, app: "build-legacy",
        projectDir: w.site.legacyProjectDir, checks: [file("legacy-1")],
      },
    ],
    waves: [
      { name: "canary", members: ["canary-1"], soak: "3s" },
      { name: "web", members: ["web-*"] },
    ],
    secrets: [{ name: SECRET_NAME, sopsFile: "secrets/app.yaml", key: "app/token", hosts: [...HOSTS], mode: SECRET_MODE, restartUnits: [w.site.appUnit] }],
  };
  return `# Flotilla demo fleet: generated by demo/world.ts. legacy-1 and db-1 are in no wave,\n# so they form the implicit last wave "rest"; db-1 is pinned.\n${stringify(fleet)}`;
}

async function git(w: World, args: string[]): Promise<string> {
  const r = await execa("git", ["-C", w.repo, ...args], { env: w.env, extendEnv: false });
  return r.stdout.trim();
}

/** Creates the fleet repo from test/fixtures/fleet/ (flake, hosts, stand-in systems); nothing committed yet. */
export async function initRepo(w: World): Promise<void> {
  cpSync(join(REPO_ROOT, "test/fixtures/fleet"), w.repo, { recursive: true, filter: (src) => !/\/result(-[^/]*)?$/.test(src) });
  await git(w, ["init", "-q", "-b", "main"]);
  for (const [k, v] of [["user.name", "Ada Operator"], ["user.email", "ada@fleet.example"], ["commit.gpgsign", "false"], ["gc.auto", "0"]] as const) await git(w, ["config", k, v]);
}

/** Writes `files` (null deletes) and commits everything; returns the sha. */
export async function commit(w: World, files: Record<string, string | null>, message: string): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(w.repo, path);
    if (content === null) rmSync(full, { force: true, recursive: true });
    else {
      mkdirSync(join(full, ".."), { recursive: true });
      writeFileSync(full, content);
    }
  }
  await git(w, ["add", "-A"]);
  await git(w, ["commit", "-q", "-m", message]);
  return git(w, ["rev-parse", "HEAD"]);
}

export function writeControllerConfig(w: World): void {
  const config = {
    listen: "127.0.0.1:0",
    dataDir: w.controllerDir,
    database: `sqlite:${join(w.controllerDir, "flotilla.db")}`,
    fleet: { remotes: [w.repoUrl], branch: "main", pollInterval: "1s" },
    auth: { operatorTokens: [{ name: "demo", token: { file: "operator-token" } }] },
    logLevel: "info",
  };
  writeFileSync(join(w.controllerDir, "operator-token"), `${w.operatorToken}\n`, { mode: 0o600 });
  writeFileSync(w.controllerConfig, stringify(config));
}

export function writeAgentConfig(w: World, h: HostName, controllerUrl: string): void {
  const d = w.hosts[h];
  const config = {
    host: h,
    remotes: [w.repoUrl],
    branch: "main",
    stateDir: d.stateDir,
    hostKeyPath: d.key,
    controller: controllerUrl,
    profile: d.profile,
    activation: "direct",
    secretsRoot: d.secretsRoot,
    pollInterval: "1s",
    jitter: "500ms",
    // Long enough to make the outbox race (see the demo report) unlikely; events carry the rollout.
    heartbeatInterval: "30s",
    commands: { systemctl: join(w.bin, "systemctl"), runAs: [] },
    timeouts: { git: "30s", build: "5m", activate: "2m", connectivity: "5s" },
    logLevel: "info",
  };
  writeFileSync(d.config, JSON.stringify(config, null, 2));
  if (h === "legacy-1") writeFileSync(join(d.projectDir, ".env.production"), "SERVICE_PORT=8080\nSERVICE_ENV=production\n");
}
