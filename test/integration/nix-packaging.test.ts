// Checks Flotilla's Nix packaging (flake.nix, nix/) as far as is possible
// without nixpkgs, which cannot be fetched here: every .nix file parses with
// the real nix; the NixOS modules are evaluated with nix against the stand-in
// lib/pkgs in nix/tests/ and their rendered configs validated with the zod
// schemas; the lockfile rewrite runs on the real package-lock.json; the agent
// start wrapper and the legacy installer (plain bash, shellchecked at build
// time by writeShellApplication) run for real against real nix-env profiles,
// with only systemctl/loginctl stood in. What stays unverified is listed in
// docs/packaging.md ("What is verified").
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { AgentConfig } from "../../schemas/src/agent-config.js";
import { ControllerConfig } from "../../schemas/src/controller-config.js";
import { listGenerations, nixEnv, requireTool } from "../helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";

const ROOT = resolve(import.meta.dirname, "../..");
const WRAPPER = join(ROOT, "nix/agent-start-wrapper.sh");
const INSTALLER = join(ROOT, "nix/install-legacy-agent.sh");

/** `nix-instantiate --eval --strict --json` of an expression evaluated in the repo root. */
async function nixEval<T>(expr: string): Promise<T> {
  const result = await execa("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    cwd: ROOT,
    env: nixEnv(),
    extendEnv: false,
    reject: false,
  });
  if (result.exitCode !== 0) throw new Error(`nix-instantiate --eval failed (exit ${result.exitCode}):\n${result.stderr}\n${expr}`);
  return JSON.parse(result.stdout) as T;
}

/** nix-instantiate --eval that must fail; returns stderr. */
async function nixEvalError(expr: string): Promise<string> {
  const result = await execa("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    cwd: ROOT,
    env: nixEnv(),
    extendEnv: false,
    reject: false,
  });
  expect(result.exitCode, `expected evaluation to fail:\n${expr}`).not.toBe(0);
  return result.stderr;
}

/** Evaluates a module with nix/tests/eval-module.nix; `config` is a Nix attrset expression. */
function evalModule(module: string, config: string, select: string): string {
  return `let e = import ./nix/tests/eval-module.nix { module = ./${module}; config = ${config}; }; in ${select}`;
}

/** A store path with bin/flotilla-agent that records how it was started and exits with $FAKE_AGENT_EXIT. */
async function fakeAgent(version: string): Promise<string> {
  const script = [
    "mkdir -p $out/bin",
    `cat > $out/bin/flotilla-agent <<'AGENT'`,
    "#!/bin/sh",
    `printf '{"version":"${version}","args":"%s","startedFrom":"%s"}\\n' "$*" "$FLOTILLA_AGENT_STARTED_FROM" >> "$FAKE_AGENT_LOG"`,
    'exit "${FAKE_AGENT_EXIT:-0}"',
    "AGENT",
    "chmod +x $out/bin/flotilla-agent",
  ].join("\n");
  const expr = `derivation { name = "fake-flotilla-${version}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" ${JSON.stringify(script).replace(/\$/g, "\\$")} ]; PATH = "/usr/bin:/bin"; }`;
  const { stdout } = await execa("nix-build", ["--no-out-link", "-E", expr], { env: nixEnv(), extendEnv: false });
  return stdout.trim();
}

let tmp: string;
let v1: string;
let v2: string;
let v3: string;

beforeAll(async () => {
  for (const tool of ["nix", "nix-instantiate", "nix-build", "nix-env", "bash", "git"]) requireTool(tool);
  tmp = await makeTempDir("flotilla-nix-packaging-");
  [v1, v2, v3] = await Promise.all([fakeAgent("1"), fakeAgent("2"), fakeAgent("3")]);
});

afterAll(async () => {
  await cleanupTempDirs();
});

describe("every .nix file", () => {
  it("parses with nix-instantiate --parse", async () => {
    const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.nix"], { cwd: ROOT, encoding: "utf8" })
      .split("\n")
      .filter((f) => f && !f.split("/").includes("node_modules"));
    const files = [...new Set(listed)];
    for (const required of ["flake.nix", "nix/package.nix", "nix/modules/agent.nix", "nix/modules/controller.nix", "nix/install-legacy-agent.nix", "nix/checks.nix"]) {
      expect(files).toContain(required);
    }
    const failures: string[] = [];
    for (const file of files) {
      const result = await execa("nix-instantiate", ["--parse", file], { cwd: ROOT, env: nixEnv(), extendEnv: false, reject: false });
      if (result.exitCode !== 0) failures.push(`${file}: ${result.stderr}`);
    }
    expect(failures).toEqual([]);
  });
});

describe("flake.nix", () => {
  it("has nixpkgs as its only input and the promised outputs (evaluated against a stand-in nixpkgs)", async () => {
    const expr = `
      let
        flake = import ./flake.nix;
        lib = import ./nix/tests/stub-lib.nix;
        pkgs = import ./nix/tests/stub-pkgs.nix { inherit lib; } // { stdenv.hostPlatform.system = "x86_64-linux"; };
        nixpkgs = { lib = lib // { mkDefault = lib.mkDefault; }; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs); };
        outputs = flake.outputs { self = outputs; inherit nixpkgs; };
        apps = outputs.apps.x86_64-linux;
      in {
        inputs = builtins.attrNames flake.inputs;
        outputs = builtins.attrNames outputs;
        systems = builtins.attrNames outputs.packages;
        packages = builtins.attrNames outputs.packages.x86_64-linux;
        apps = builtins.mapAttrs (_: a: { inherit (a) type program; }) apps;
        modules = builtins.attrNames outputs.nixosModules;
        checks = builtins.attrNames outputs.checks.x86_64-linux;
      }`;
    const got = await nixEval<Record<string, unknown>>(expr);
    expect(got.inputs).toEqual(["nixpkgs"]);
    expect(got.outputs).toEqual(["apps", "checks", "devShells", "formatter", "nixosModules", "overlays", "packages"]);
    expect(got.systems).toEqual(["aarch64-linux", "x86_64-linux"]);
    expect(got.packages).toEqual(["default", "flotilla", "install-legacy-agent"]);
    expect(got.modules).toEqual(["agent", "controller", "default"]);
    expect(got.checks).toEqual(["agent-module", "agent-start-wrapper", "controller-module", "install-legacy-agent", "package"]);
    const apps = got.apps as Record<string, { type: string; program: string }>;
    expect(Object.keys(apps).sort()).toEqual(["default", "flotilla", "flotilla-agent", "install-legacy-agent"]);
    expect(apps["install-legacy-agent"]).toEqual({ type: "app", program: expect.stringMatching(/-install-legacy-agent\/bin\/install-legacy-agent$/) });
    for (const name of ["flotilla", "flotilla-agent"]) expect(apps[name]?.program).toMatch(new RegExp(`/bin/${name}$`));
  });
});

describe("nix/lib/npm-lock.nix on the real package-lock.json", () => {
  const lockExpr = (registry: string) =>
    `import ./nix/lib/npm-lock.nix { lockfile = builtins.fromJSON (builtins.readFile ./package-lock.json); registry = ${registry}; }`;

  it("gives every fetchable entry a tarball URL on the given registry, keeping integrity", async () => {
    const lock = JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
    const got = await nixEval<{ unresolved: string[]; packages: Record<string, Record<string, unknown>> }>(
      `let r = ${lockExpr('"https://registry.test/npm/"')}; in { inherit (r) unresolved; inherit (r.lockfile) packages; }`,
    );
    const fetchable = Object.entries(lock.packages).filter(([key, e]) => key !== "" && !e.link && !e.inBundle && !e.resolved && e.version && e.integrity);
    expect(got.unresolved.sort()).toEqual(fetchable.map(([key]) => key).sort());
    for (const [key, entry] of Object.entries(lock.packages)) {
      const out = got.packages[key]!;
      expect(out.integrity).toBe(entry.integrity);
      if (!fetchable.some(([k]) => k === key)) {
        expect(out).toEqual(entry);
        continue;
      }
      const name = (entry.name as string | undefined) ?? key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
      const base = name.startsWith("@") ? name.split("/")[1] : name;
      expect(out.resolved).toBe(`https://registry.test/npm/${name}/-/${base}-${entry.version as string}.tgz`);
    }
    expect(got.packages["node_modules/zod"]?.resolved).toMatch(/^https:\/\/registry\.test\/npm\/zod\/-\/zod-\d+\.\d+\.\d+\.tgz$/);
  });

  it("explains itself when the lockfile needs a registry and none is given", async () => {
    const stderr = await nixEvalError(`(${lockExpr("null")}).lockfile`);
    expect(stderr).toContain("without a");
    expect(stderr).toContain("npmRegistry");
  });
});

describe("nix/package.nix (stand-in buildNpmPackage/importNpmLock)", () => {
  const pkgExpr = (registry: string, select: string) => `
    let
      lib = import ./nix/tests/stub-lib.nix;
      pkgs = import ./nix/tests/stub-pkgs.nix { inherit lib; };
      p = pkgs.callPackage ./nix/package.nix { npmRegistry = ${registry}; };
    in ${select}`;

  it("builds from package.json and the lockfile with importNpmLock, installing both bins", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { name: string; version: string; bin: Record<string, string>; flotilla: { agentNodeFlags: string[] } };
    const got = await nixEval<{ pname: string; version: string; makeCacheWritable: boolean; installPhase: string; zod: string; hook: string; nodejs: string }>(
      pkgExpr('"https://registry.test"', `{ inherit (p.args) pname version makeCacheWritable installPhase; zod = p.args.npmDeps.packageLock.packages."node_modules/zod".resolved; hook = p.args.npmConfigHook.name; nodejs = p.args.nodejs.name; }`),
    );
    expect(got).toMatchObject({ pname: pkg.name, version: pkg.version, makeCacheWritable: true, hook: "npm-config-hook", nodejs: "nodejs-20" });
    expect(got.zod).toMatch(/^https:\/\/registry\.test\/zod\/-\/zod-/);
    expect(Object.keys(pkg.bin).sort()).toEqual(["flotilla", "flotilla-agent"]);
    expect(got.installPhase).toContain("for bin in flotilla flotilla-agent; do");
    expect(got.installPhase).toContain("npm prune --omit=dev");
    expect(got.installPhase).toContain("cp -r package.json bin dist node_modules");
    // The agent's wrapper passes package.json's V8 flags (its memory budget, bench/agent-rss.ts); the CLI's does not.
    expect(pkg.flotilla.agentNodeFlags).toEqual(["--max-semi-space-size=1", "--no-opt"]);
    expect(got.installPhase).toContain(`if [ $bin = flotilla-agent ]; then flags="${pkg.flotilla.agentNodeFlags.join(" ")} "; fi`);
    expect(got.installPhase).toContain('--add-flags "$flags$dest/bin/$bin.js"');
  });

  it("stops with an explanation when npmRegistry is null (no registry= line in .npmrc)", async () => {
    const stderr = await nixEvalError(pkgExpr("null", "p.args.npmDeps.packageLock"));
    expect(stderr).toContain("omit-lockfile-registry-resolved");
  });
});

describe("nixosModules.agent (stand-in lib/pkgs)", () => {
  const enabled = `{ services.flotilla.agent = { enable = true; settings = {
      remotes = [ "https://github.com/acme/fleet.git" "git@github.com:acme/fleet.git" ];
      controller = "https://flotilla.acme.test";
      pollInterval = "60s";
      logLevel = "info";
      timeouts.build = "45m";
      commands.runAs = [ "runuser" "-u" "{user}" "--" ];
    }; }; }`;

  it("renders a config the agent's zod schema accepts, dropping unset options", async () => {
    const got = await nixEval<{ typeErrors: string[]; failedAssertions: string[]; file: { value: unknown; text: string }; etc: string[] }>(
      evalModule("nix/modules/agent.nix", enabled, `{ inherit (e) typeErrors failedAssertions; file = { inherit (e.result.environment.etc."flotilla/agent.yaml".source) value text; }; etc = builtins.attrNames e.result.environment.etc; }`),
    );
    expect(got.typeErrors).toEqual([]);
    expect(got.failedAssertions).toEqual([]);
    expect(got.etc).toEqual(["flotilla/agent.yaml"]);
    // The agent reads the file with a YAML parser; JSON is YAML.
    const parsed = AgentConfig.parse(parseYaml(got.file.text));
    expect(parsed).toEqual({
      host: "web-1",
      remotes: ["https://github.com/acme/fleet.git", "git@github.com:acme/fleet.git"],
      controller: "https://flotilla.acme.test",
      stateDir: "/var/lib/flotilla",
      hostKeyPath: "/etc/ssh/ssh_host_ed25519_key",
      secretsRoot: "/run/flotilla/secrets.d",
      pollInterval: "60s",
      logLevel: "info",
      timeouts: { build: "45m" },
      commands: { runAs: ["runuser", "-u", "{user}", "--"] },
    });
    expect(got.file.value).toEqual(parsed);
  });

  it("restores the secrets at boot in a oneshot of its own, which the agent (and the apps that need them) order after", async () => {
    type Svc = { wantedBy?: string[]; wants?: string[]; after?: string[]; before?: string[]; serviceConfig: Record<string, unknown> };
    const got = await nixEval<{ agent: Svc; secrets: Svc }>(
      evalModule("nix/modules/agent.nix", enabled, `{ agent = e.result.systemd.services.flotilla-agent; secrets = e.result.systemd.services.flotilla-secrets; }`),
    );
    expect(got.secrets.serviceConfig).toMatchObject({ Type: "oneshot", RemainAfterExit: true, User: "root", RuntimeDirectory: "flotilla", RuntimeDirectoryPreserve: "yes" });
    expect(got.secrets.serviceConfig.ExecStart).toMatch(/^-\/nix\/store\/[0-9a-z]{32}-flotilla\/bin\/flotilla-agent restore-secrets --config \/etc\/flotilla\/agent\.yaml$/);
    expect(got.secrets.wantedBy).toEqual(["multi-user.target"]);
    expect(got.secrets.before).toEqual(["flotilla-agent.service"]);
    expect(got.agent.wants).toContain("flotilla-secrets.service");
    expect(got.agent.after).toContain("flotilla-secrets.service");
    // Not a step of the agent's own start: a unit ordered after the agent could not be restarted while it stops.
    expect(got.agent.serviceConfig).not.toHaveProperty("ExecStartPre");
  });

  it("declares a root service that a deploy neither stops nor restarts, restarted on exit 75", async () => {
    type Svc = {
      restartIfChanged: boolean;
      stopIfChanged: boolean;
      startLimitIntervalSec: number;
      restartTriggers: string[];
      wantedBy: string[];
      path: string[];
      environment: Record<string, string>;
      serviceConfig: Record<string, string>;
    };
    const got = await nixEval<{ svc: Svc; wrapper: { name: string; text: string; runtimeInputs: string[] }; configPath: string }>(
      evalModule(
        "nix/modules/agent.nix",
        enabled,
        `{ svc = e.result.systemd.services.flotilla-agent;
           wrapper = let w = e.pkgs.callPackage ./nix/agent-start-wrapper.nix { nix = e.config.nix.package; }; in { inherit (w) name text runtimeInputs; };
           configPath = e.result.environment.etc."flotilla/agent.yaml".source.outPath; }`,
      ),
    );
    const { svc } = got;
    expect(svc.restartIfChanged).toBe(false);
    expect(svc.stopIfChanged).toBe(false);
    expect(svc.startLimitIntervalSec).toBe(0);
    expect(svc.restartTriggers).toEqual([got.configPath]);
    expect(svc.wantedBy).toEqual(["multi-user.target"]);
    expect(svc.path.map((p) => p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, ""))).toEqual(["nix", "nixos-rebuild", "git", "openssh", "util-linux"]);
    expect(svc.serviceConfig).toMatchObject({
      User: "root",
      Restart: "always",
      RestartForceExitStatus: "75",
      SuccessExitStatus: "75",
      StateDirectory: "flotilla",
      RuntimeDirectory: "flotilla",
      RuntimeDirectoryPreserve: "yes",
      KillMode: "mixed",
      TimeoutStopSec: "5min", // above the agent's STOP_BOUND_MS (4 min)
    });
    // Nothing that would be inherited by nixos-rebuild and break activation.
    for (const forbidden of ["ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges", "SystemCallFilter", "CapabilityBoundingSet", "UMask", "PrivateMounts"]) {
      expect(svc.serviceConfig).not.toHaveProperty(forbidden);
    }
    expect(svc.serviceConfig.ExecStart).toMatch(/-flotilla-agent-start\/bin\/flotilla-agent-start run --config \/etc\/flotilla\/agent\.yaml$/);
    expect(svc.environment).toEqual({
      HOME: "/root",
      NIX_REMOTE: "daemon",
      FLOTILLA_AGENT_PROFILE: "/nix/var/nix/profiles/flotilla-agent",
      FLOTILLA_AGENT_FALLBACK: expect.stringMatching(/^\/nix\/store\/[0-9a-z]{32}-flotilla$/),
      FLOTILLA_STATE_DIR: "/var/lib/flotilla",
      FLOTILLA_AGENT_MAX_STARTS: "3",
      FLOTILLA_AGENT_STABLE_SECS: "120",
      FLOTILLA_AGENT_UNIT_FILE: "/etc/systemd/system/flotilla-agent.service",
    });
    expect(got.wrapper.name).toBe("flotilla-agent-start");
    expect(got.wrapper.text).toBe(await readFile(WRAPPER, "utf8"));
    expect(got.wrapper.runtimeInputs.map((p) => p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, ""))).toEqual(["coreutils", "nix"]);
  });

  it("runs the package directly without self-update, and honours overrides", async () => {
    const config = `{ services.flotilla.agent = { enable = true; selfUpdate = { enable = false; profile = "/nix/var/nix/profiles/per-user/root/agent"; }; environmentFile = "/run/secrets/agent.env";
        settings = { remotes = [ "file:///srv/fleet" ]; host = "db-7"; stateDir = "/var/lib/fleet-agent"; secretsRoot = "/run/fleet-secrets/d"; activation = "direct"; }; }; }`;
    const got = await nixEval<{ typeErrors: string[]; cfg: unknown; sc: Record<string, string>; env: Record<string, string> }>(
      evalModule("nix/modules/agent.nix", config, `{ inherit (e) typeErrors; cfg = e.result.environment.etc."flotilla/agent.yaml".source.value; sc = e.result.systemd.services.flotilla-agent.serviceConfig; env = e.result.systemd.services.flotilla-agent.environment; }`),
    );
    expect(got.typeErrors).toEqual([]);
    expect(AgentConfig.parse(got.cfg)).toMatchObject({ host: "db-7", stateDir: "/var/lib/fleet-agent", secretsRoot: "/run/fleet-secrets/d", activation: "direct" });
    expect(got.sc.ExecStart).toMatch(/-flotilla\/bin\/flotilla-agent run --config \/etc\/flotilla\/agent\.yaml$/);
    expect(got.sc).toMatchObject({ StateDirectory: "fleet-agent", RuntimeDirectory: "fleet-secrets", EnvironmentFile: "/run/secrets/agent.env" });
    expect(got.env.FLOTILLA_STATE_DIR).toBe("/var/lib/fleet-agent");
  });

  it("rejects bad settings through assertions and option types, and does nothing when disabled", async () => {
    const bad = await nixEval<{ typeErrors: string[]; failedAssertions: string[] }>(
      evalModule("nix/modules/agent.nix", `{ services.flotilla.agent = { enable = true; settings = { remotes = [ ]; host = "Web_1"; stateDir = "/var/lib/a/b"; }; }; }`, `{ inherit (e) typeErrors failedAssertions; }`),
    );
    expect(bad.typeErrors).toEqual([expect.stringContaining("services.flotilla.agent.settings.host")]);
    expect(bad.failedAssertions).toEqual([expect.stringContaining("settings.remotes"), expect.stringContaining("directly under /var/lib")]);
    const off = await nixEval<Record<string, unknown>>(evalModule("nix/modules/agent.nix", "{ }", "e.result"));
    expect(off).toEqual({});
  });
});

describe("nixosModules.controller (stand-in lib/pkgs)", () => {
  it("creates a local PostgreSQL database over the socket, opens the port, renders a valid config", async () => {
    const config = `{ services.flotilla.controller = { enable = true; openFirewall = true; database.createLocally = true; environmentFile = "/run/secrets/ctl.env";
        settings = { listen = "0.0.0.0:8480"; publicUrl = "https://flotilla.acme.test"; fleet.remotes = [ "https://github.com/acme/fleet.git" ];
          github = { repo = "acme/fleet"; token.env = "GITHUB_TOKEN"; webhookSecret.env = "FLOTILLA_WEBHOOK_SECRET"; }; }; }; }`;
    type Got = {
      typeErrors: string[];
      failedAssertions: string[];
      cfg: unknown;
      pg: unknown;
      ports: number[];
      user: Record<string, unknown>;
      svc: { after: string[]; requires: string[]; serviceConfig: Record<string, unknown> };
    };
    const got = await nixEval<Got>(
      evalModule(
        "nix/modules/controller.nix",
        config,
        `{ inherit (e) typeErrors failedAssertions; cfg = e.result.environment.etc."flotilla/controller.json".source.value; pg = e.result.services.postgresql;
           ports = e.result.networking.firewall.allowedTCPPorts; user = e.result.users.users.flotilla; svc = removeAttrs e.result.systemd.services.flotilla-controller [ "path" "restartTriggers" ]; }`,
      ),
    );
    expect(got.typeErrors).toEqual([]);
    expect(got.failedAssertions).toEqual([]);
    expect(ControllerConfig.parse(got.cfg)).toEqual({
      listen: "0.0.0.0:8480",
      publicUrl: "https://flotilla.acme.test",
      dataDir: "/var/lib/flotilla-controller",
      database: "postgres:///flotilla?host=/run/postgresql",
      fleet: { remotes: ["https://github.com/acme/fleet.git"] },
      github: { repo: "acme/fleet", token: { env: "GITHUB_TOKEN" }, webhookSecret: { env: "FLOTILLA_WEBHOOK_SECRET" } },
    });
    expect(got.pg).toEqual({ enable: true, ensureDatabases: ["flotilla"], ensureUsers: [{ name: "flotilla", ensureDBOwnership: true }] });
    expect(got.ports).toEqual([8480]);
    expect(got.user).toMatchObject({ isSystemUser: true, group: "flotilla", home: "/var/lib/flotilla-controller" });
    expect(got.svc.after).toContain("postgresql.service");
    expect(got.svc.requires).toEqual(["postgresql.service"]);
    expect(got.svc.serviceConfig).toMatchObject({
      User: "flotilla",
      StateDirectory: "flotilla-controller",
      EnvironmentFile: "/run/secrets/ctl.env",
      ProtectSystem: "strict",
      NoNewPrivileges: true,
      MemoryDenyWriteExecute: false,
      ExecStart: expect.stringMatching(/-flotilla\/bin\/flotilla serve --config \/etc\/flotilla\/controller\.json$/),
      // the default limits.maxConnections (4096) + the /healthz headroom (32) + 1024 for the controller itself
      LimitNOFILE: 5152,
    });
  });

  it("sizes LimitNOFILE from settings.limits.maxConnections", async () => {
    const got = await nixEval<{ cfg: unknown; nofile: number }>(
      evalModule("nix/modules/controller.nix", `{ services.flotilla.controller = { enable = true; settings = { fleet.remotes = [ "file:///srv/fleet" ]; limits.maxConnections = 20000; }; }; }`,
        `{ cfg = e.result.environment.etc."flotilla/controller.json".source.value; nofile = e.result.systemd.services.flotilla-controller.serviceConfig.LimitNOFILE; }`),
    );
    expect(ControllerConfig.parse(got.cfg)).toMatchObject({ limits: { maxConnections: 20000 } });
    expect(got.nofile).toBe(20000 + 32 + 1024);
  });

  it("uses SQLite by default and refuses createLocally together with settings.database", async () => {
    const plain = await nixEval<{ cfg: unknown; pg: boolean; ports: number[] }>(
      evalModule("nix/modules/controller.nix", `{ services.flotilla.controller = { enable = true; settings.fleet.remotes = [ "file:///srv/fleet" ]; }; }`,
        `{ cfg = e.result.environment.etc."flotilla/controller.json".source.value; pg = e.result ? services; ports = e.result.networking.firewall.allowedTCPPorts; }`),
    );
    expect(ControllerConfig.parse(plain.cfg)).toEqual({ listen: "127.0.0.1:8480", dataDir: "/var/lib/flotilla-controller", fleet: { remotes: ["file:///srv/fleet"] } });
    expect(plain.pg).toBe(false);
    expect(plain.ports).toEqual([]);
    const both = await nixEval<{ failedAssertions: string[] }>(
      evalModule("nix/modules/controller.nix", `{ services.flotilla.controller = { enable = true; database.createLocally = true; settings = { database = "sqlite:/tmp/x.db"; fleet.remotes = [ "file:///srv/fleet" ]; }; }; }`, `{ inherit (e) failedAssertions; }`),
    );
    expect(both.failedAssertions).toEqual([expect.stringContaining("not both")]);
  });
});

describe("agent start wrapper (nix/agent-start-wrapper.sh) on real nix-env profiles", () => {
  interface Setup {
    profile: string;
    state: string;
    log: string;
    start(exit?: number): Promise<{ exitCode: number; stderr: string; ran: { version: string; args: string; startedFrom: string } | undefined }>;
    marker(): Promise<Record<string, string>>;
    backdate(): Promise<void>;
  }

  async function setup(name: string, fallback: string | undefined = v3): Promise<Setup> {
    const dir = join(tmp, name);
    const profile = join(dir, "profiles/flotilla-agent");
    const state = join(dir, "state");
    const log = join(dir, "agent.jsonl");
    await mkdir(join(dir, "profiles"), { recursive: true });
    const markerPath = join(state, "agent-start.state");
    const readMarker = async () =>
      Object.fromEntries((await readFile(markerPath, "utf8")).trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    return {
      profile,
      state,
      log,
      async start(exit = 1) {
        const before = await readFile(log, "utf8").catch(() => "");
        const result = await execa("bash", [WRAPPER, "run", "--config", "/etc/flotilla/agent.yaml"], {
          env: nixEnv({
            FLOTILLA_AGENT_PROFILE: profile,
            FLOTILLA_AGENT_FALLBACK: fallback,
            FLOTILLA_STATE_DIR: state,
            FAKE_AGENT_LOG: log,
            FAKE_AGENT_EXIT: String(exit),
          }),
          extendEnv: false,
          reject: false,
        });
        const lines = (await readFile(log, "utf8").catch(() => "")).slice(before.length).trim();
        return { exitCode: result.exitCode ?? -1, stderr: result.stderr, ran: lines ? JSON.parse(lines) : undefined };
      },
      marker: readMarker,
      async backdate() {
        const m = await readMarker();
        m.last_start = String(Number(m.last_start) - 1000);
        await writeFile(markerPath, Object.entries(m).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
      },
    };
  }
  const setProfile = (profile: string, path: string) => execa("nix-env", ["-p", profile, "--set", path], { env: nixEnv(), extendEnv: false });

  it("runs the fallback package while the profile is empty, then the profile's agent, passing arguments and exit codes through", async () => {
    const s = await setup("empty");
    const first = await s.start(0);
    expect(first.ran).toEqual({ version: "3", args: "run --config /etc/flotilla/agent.yaml", startedFrom: v3 });
    expect(first.exitCode).toBe(0);
    await setProfile(s.profile, v1);
    const second = await s.start(75);
    expect(second.exitCode).toBe(75);
    expect(second.ran).toEqual({ version: "1", args: "run --config /etc/flotilla/agent.yaml", startedFrom: v1 });
    expect(await s.marker()).toMatchObject({ target: v1, confirmed: "0", starts: "1", previous: "", failed: "" });
  });

  it("sets the profile back to the last confirmed agent when a self-updated one crash-loops", async () => {
    const s = await setup("rollback");
    await setProfile(s.profile, v1);
    await s.start(1);
    await s.backdate(); // v1 stayed up longer than FLOTILLA_AGENT_STABLE_SECS
    expect((await s.start(75)).ran?.version).toBe("1");
    expect(await s.marker()).toMatchObject({ target: v1, confirmed: "1", starts: "1" });

    await setProfile(s.profile, v2); // the self-update
    for (let i = 1; i <= 3; i++) {
      const r = await s.start(1);
      expect(r.ran?.version).toBe("2");
      expect(await s.marker()).toMatchObject({ target: v2, confirmed: "0", starts: String(i), previous: v1 });
    }
    const fourth = await s.start(0);
    expect(fourth.ran).toMatchObject({ version: "1", startedFrom: v1 });
    expect(fourth.stderr).toContain(`setting ${s.profile} back to ${v1}`);
    expect(await readlink(s.profile)).toBe("flotilla-agent-3-link");
    expect(await readlink(`${s.profile}-3-link`)).toBe(v1);
    expect((await listGenerations(s.profile)).map((g) => [g.id, g.current])).toEqual([[1, false], [2, false], [3, true]]);
    expect(await s.marker()).toMatchObject({ target: v1, confirmed: "1", failed: v2 });

    expect((await s.start(0)).ran?.version).toBe("1");
    await setProfile(s.profile, v2); // the same broken agent again: not retried
    const again = await s.start(0);
    expect(again.ran?.version).toBe("1");
    expect(again.stderr).toContain("crash-looped before");
  });

  it("falls back to the package when a never-confirmed first agent crash-loops, and exits 78 with nothing to run", async () => {
    const s = await setup("never-confirmed");
    await setProfile(s.profile, v2);
    for (let i = 0; i < 3; i++) expect((await s.start(1)).ran?.version).toBe("2");
    const fourth = await s.start(0);
    expect(fourth.ran?.version).toBe("3");
    expect(fourth.stderr).toContain("no earlier target was confirmed");
    expect(await readlink(`${s.profile}-1-link`)).toBe(v2); // profile left alone
    expect((await s.start(0)).ran?.version).toBe("3");

    const none = await setup("no-fallback", "");
    const r = await none.start(0);
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain("no usable agent");
  });
});

describe("install-legacy-agent (nix/install-legacy-agent.sh) with systemctl and loginctl stood in", () => {
  let home: string;
  let stubs: string;
  let calls: string;
  let installer: string;

  beforeAll(async () => {
    home = join(tmp, "home-deploy");
    stubs = join(tmp, "stub-bin");
    calls = join(tmp, "systemctl-calls.log");
    await mkdir(home, { recursive: true });
    await mkdir(stubs, { recursive: true });
    await writeFile(join(stubs, "systemctl"), `#!/bin/sh\necho "$*" >> ${calls}\n`);
    await writeFile(join(stubs, "loginctl"), "#!/bin/sh\necho no\n");
    await chmod(join(stubs, "systemctl"), 0o755);
    await chmod(join(stubs, "loginctl"), 0o755);
    // What nix/install-legacy-agent.nix hands writeShellApplication: the two exports, then the script.
    installer = join(tmp, "install-legacy-agent");
    await writeFile(
      installer,
      `#!/usr/bin/env bash\nset -o errexit -o nounset -o pipefail\nexport FLOTILLA_PACKAGE=${v1}\nexport FLOTILLA_START_WRAPPER_SOURCE=${WRAPPER}\n` + (await readFile(INSTALLER, "utf8")),
    );
    await chmod(installer, 0o755);
  });

  const run = (args: string[], extra: Record<string, string> = {}) =>
    execa(installer, ["--allow-root", ...args], {
      env: nixEnv({ HOME: home, PATH: `${stubs}:${process.env.PATH ?? "/usr/bin:/bin"}`, XDG_CONFIG_HOME: undefined, XDG_STATE_HOME: undefined, SHELL: "/bin/bash", ...extra }),
      extendEnv: false,
      reject: false,
    });

  it("writes a valid agent config, env file, user unit, operator scripts, aliases and MOTD, and starts the unit", async () => {
    await writeFile(join(home, ".bashrc"), "# existing bashrc\n");
    const r = await run(["--host", "legacy-1", "--remote", "https://github.com/acme/fleet.git", "--controller", "https://flotilla.acme.test"], { FLOTILLA_REMOTES: "file:///srv/fleet" });
    expect(r.exitCode, r.stderr).toBe(0);

    const cfgText = await readFile(join(home, ".config/flotilla/agent.yaml"), "utf8");
    const uid = String(process.getuid?.() ?? 0);
    expect(AgentConfig.parse(parseYaml(cfgText))).toEqual({
      host: "legacy-1",
      remotes: ["file:///srv/fleet", "https://github.com/acme/fleet.git"],
      controller: "https://flotilla.acme.test",
      stateDir: join(home, ".local/state/flotilla"),
      hostKeyPath: "/etc/ssh/ssh_host_ed25519_key",
      secretsRoot: `/run/user/${uid}/flotilla/secrets.d`,
      legacyProfileDir: join(home, ".local/state/flotilla/legacy"),
      commands: { runAs: [] },
    });
    expect((await stat(join(home, ".config/flotilla/agent.yaml"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, ".config/flotilla/agent.env"))).mode & 0o777).toBe(0o600);

    const profile = join(home, ".local/state/nix/profiles/flotilla-agent");
    expect(await readlink(`${profile}-1-link`)).toBe(v1);

    const unit = await readFile(join(home, ".config/systemd/user/flotilla-agent.service"), "utf8");
    for (const line of [
      `ExecStart=${home}/.local/libexec/flotilla/agent-start run --config ${home}/.config/flotilla/agent.yaml`,
      `Environment=FLOTILLA_AGENT_PROFILE=${profile}`,
      `Environment=FLOTILLA_AGENT_FALLBACK=${home}/.local/state/nix/profiles/flotilla-agent-installed`,
      `EnvironmentFile=-${home}/.config/flotilla/agent.env`,
      `Environment=FLOTILLA_AGENT_UNIT_FILE=${home}/.config/systemd/user/flotilla-agent.service`,
      "Restart=always",
      "RestartForceExitStatus=75",
      "SuccessExitStatus=75",
      "KillMode=mixed",
      "TimeoutStopSec=5min",
      "RuntimeDirectory=flotilla",
      "RuntimeDirectoryPreserve=yes",
      "WantedBy=default.target",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(await readFile(join(home, ".local/libexec/flotilla/agent-start"), "utf8")).toBe(`#!/usr/bin/env bash\n${await readFile(WRAPPER, "utf8")}`);
    expect((await readFile(calls, "utf8")).trim().split("\n")).toEqual(["--user daemon-reload", "--user enable flotilla-secrets.service flotilla-agent.service", "--user restart flotilla-agent.service"]);
    // restore-secrets at boot is a oneshot of its own that the agent and the apps order after (not ExecStartPre of the agent).
    expect(unit.split("\n")).toEqual(expect.arrayContaining(["Wants=flotilla-secrets.service", "After=flotilla-secrets.service"]));
    expect(unit).not.toContain("ExecStartPre");
    const secretsUnit = (await readFile(join(home, ".config/systemd/user/flotilla-secrets.service"), "utf8")).split("\n");
    for (const line of ["Type=oneshot", "RemainAfterExit=yes", "Before=flotilla-agent.service", `ExecStart=-${profile}/bin/flotilla-agent restore-secrets --config ${home}/.config/flotilla/agent.yaml`, "WantedBy=default.target"]) {
      expect(secretsUnit).toContain(line);
    }
    expect(r.stdout).toContain("sudo loginctl enable-linger");

    // The unit's ExecStart really starts the installed agent through the fallback profile chain.
    const started = await execa(join(home, ".local/libexec/flotilla/agent-start"), ["run"], {
      env: nixEnv({ FLOTILLA_AGENT_PROFILE: profile, FLOTILLA_AGENT_FALLBACK: join(home, ".local/state/nix/profiles/flotilla-agent-installed"), FLOTILLA_STATE_DIR: join(home, ".local/state/flotilla"), FAKE_AGENT_LOG: join(tmp, "legacy-agent.jsonl") }),
      extendEnv: false,
    });
    expect(started.exitCode).toBe(0);
    expect(JSON.parse(await readFile(join(tmp, "legacy-agent.jsonl"), "utf8"))).toMatchObject({ version: "1", args: "run" });

    // Aliases and MOTD, through a real interactive-style bash.
    const shell = await execa("bash", ["-c", `eval "$(${home}/bin/flotilla/bash_setup)"; alias; ${home}/bin/flotilla/motd`], { env: { HOME: home, PATH: process.env.PATH ?? "" } });
    for (const name of ["flotilla_status", "flotilla_logs", "flotilla_retry", "flotilla_restart", "flotilla_config"]) {
      expect(shell.stdout).toContain(`alias ${name}='${home}/bin/flotilla/`);
      expect(shell.stdout).toMatch(new RegExp(`^ {4}${name} +\\S`, "m"));
    }
    expect(shell.stdout).toContain("Flotilla agent (legacy-1)");
    for (const script of ["status", "logs", "retry", "restart", "config", "bash_setup", "fish_setup", "motd"]) {
      await execa("bash", ["-n", join(home, "bin/flotilla", script)]);
    }
    const fish = await execa(join(home, "bin/flotilla/fish_setup"));
    expect(fish.stdout).toContain(`alias flotilla_logs ${home}/bin/flotilla/logs`);
    const bashrc = await readFile(join(home, ".bashrc"), "utf8");
    expect(bashrc.startsWith("# existing bashrc\n")).toBe(true);
    expect(bashrc).toContain(`eval "$(${home}/bin/flotilla/bash_setup)"`);
  });

  it("is idempotent: keeps the existing config and rc hook, refuses a different --config without --force", async () => {
    const before = await readFile(join(home, ".config/flotilla/agent.yaml"), "utf8");
    const again = await run(["--no-start"]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain("keeping existing");
    expect(await readFile(join(home, ".config/flotilla/agent.yaml"), "utf8")).toBe(before);
    const bashrc = await readFile(join(home, ".bashrc"), "utf8");
    expect(bashrc.split("# >>> flotilla").length - 1).toBe(1);

    const other = join(tmp, "other-agent.yaml");
    await writeFile(other, "host: legacy-2\nremotes: [\"file:///srv/fleet\"]\n");
    const refused = await run(["--config", other, "--no-start"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("pass --force");
    const forced = await run(["--config", other, "--force", "--no-start"]);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await readFile(join(home, ".config/flotilla/agent.yaml"), "utf8")).toBe(await readFile(other, "utf8"));
  });

  it("needs a host and a remote to write a config, and refuses root without --allow-root", async () => {
    const fresh = join(tmp, "home-fresh");
    await mkdir(fresh, { recursive: true });
    const noHost = await run(["--remote", "file:///srv/fleet", "--no-start"], { HOME: fresh });
    expect(noHost.exitCode).toBe(1);
    expect(noHost.stderr).toContain("--host");
    const badHost = await run(["--host", "Legacy_1", "--remote", "file:///srv/fleet", "--no-start"], { HOME: fresh });
    expect(badHost.stderr).toContain("not a valid host name");
    if (process.getuid?.() === 0) {
      const asRoot = await execa(installer, ["--help"], { reject: false });
      expect(asRoot.exitCode).toBe(0);
      const refused = await execa(installer, ["--host", "x", "--remote", "file:///x"], { env: { HOME: fresh, PATH: process.env.PATH ?? "" }, reject: false });
      expect(refused.stderr).toContain("not root");
    }
  });
});
