// CLI conventions of both bins, run as the real built CLIs (bin/*.js on dist/):
// --help on every command and subcommand (from the CLIs' own command tables),
// --version, usage errors (exit 2, one line on stderr naming the option, a
// --help hint), runtime failures (exit 1, `flotilla: <message>`, no stack
// unless FLOTILLA_DEBUG=1), a port in use, a rejected operator token, retry
// by revision prefix, and git's whole message for a missing remote.
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../controller/src/cli.js";
import { COMMANDS as AGENT_COMMANDS } from "../../node-agent/src/main.js";
import { FileStateStore } from "../../node-agent/src/adapters/state-file.js";
import { initialState } from "../../node-agent/src/loop/phases.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { buildCli, REPO_ROOT, type Cli, type CliResult } from "./cli-build.js";
import { makeHostSigners, newFleetRepo, OPERATOR_TOKEN, startTestController } from "./controller/harness.js";

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const AGENT_BIN = join(REPO_ROOT, "bin", "flotilla-agent.js");

let cli: Cli;
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(async () => {
  await cleanupTempDirs();
});

async function agent(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [AGENT_BIN, ...args], { cwd: REPO_ROOT, reject: false, env });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+\(?.*:\d+:\d+\)?$/m);

/** A usage error: exit 2, nothing on stdout, one error line naming `what`, then the --help hint. */
function expectUsageError(r: CliResult, what: string | RegExp, hint: RegExp): void {
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(2);
  expect(lines[0]).toMatch(what);
  expect(lines[1]).toMatch(hint);
}

/** Every `flotilla` command line the table knows: ["validate"], ["keys", "recipient"], … */
const operatorCommands = Object.entries(COMMANDS).flatMap(([name, c]) => [[name], ...(c.subcommands ?? []).map((s) => [name, s])]);

describe("flotilla: --help and --version", () => {
  it.each(operatorCommands.map((c) => [c.join(" "), c]))("flotilla %s --help prints usage on stdout, exit 0", async (_, words) => {
    const r = await cli.run([...words, "--help"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/usage/i);
    expect(r.stdout).toContain(`flotilla ${words.join(" ")}`);
    expect(r.stderr).toBe("");
  });

  it.each(AGENT_COMMANDS.map((c) => [c]))("flotilla-agent %s --help prints usage on stdout, exit 0", async (name) => {
    const r = await agent([name, "--help"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(name);
    expect(r.stderr).toBe("");
  });

  it("both bins print the package version", async () => {
    expect(await cli.run(["--version"])).toEqual({ exitCode: 0, stdout: `flotilla ${VERSION}`, stderr: "" });
    expect(await agent(["--version"])).toEqual({ exitCode: 0, stdout: `flotilla-agent ${VERSION}`, stderr: "" });
  });
});

describe("usage errors: exit 2, one line on stderr, a --help hint", () => {
  it.each(operatorCommands.map((c) => [c.join(" "), c]))("flotilla %s --no-such-option", async (_, words) => {
    const r = await cli.run([...words, "--no-such-option"]);
    const hint = words.length === 1 && COMMANDS[words[0]!]!.subcommands ? /--help/ : new RegExp(`Run \`flotilla ${words.join(" ")} --help\``);
    expectUsageError(r, /--no-such-option/, hint);
  });

  it.each(AGENT_COMMANDS.map((c) => [c]))("flotilla-agent %s --no-such-option", async (name) => {
    expectUsageError(await agent([name, "--no-such-option"]), /^flotilla-agent: unknown option --no-such-option$/, /flotilla-agent --help/);
  });

  it("a missing option value, a missing required option, an unknown command, extra arguments", async () => {
    expectUsageError(await cli.run(["serve", "--config"]), /^flotilla serve: option --config needs a value$/, /flotilla serve --help/);
    expectUsageError(await cli.run(["serve"]), /^flotilla serve: --config is required$/, /flotilla serve --help/);
    expectUsageError(await cli.run(["frobnicate"]), /^flotilla: unknown command "frobnicate"$/, /flotilla --help/);
    expectUsageError(await cli.run(["status", "extra"]), /^flotilla status: unexpected argument extra$/, /flotilla status --help/);
    expectUsageError(await cli.run(["keys", "recipient"]), /^flotilla keys recipient: takes one file/, /flotilla keys recipient --help/);
    expectUsageError(await cli.run(["secrets", "nope"]), /^flotilla secrets: unknown subcommand "nope"/, /flotilla secrets --help/);
    expectUsageError(await agent(["frobnicate"]), /^flotilla-agent: unknown command "frobnicate"$/, /--help/);
    expectUsageError(await agent(["status", "--config"]), /^flotilla-agent: option --config needs a file$/, /--help/);
  });

  it("no command at all: usage on stderr, exit 2", async () => {
    for (const r of [await cli.run([]), await agent([])]) {
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/usage/i);
    }
    for (const words of [["keys"], ["secrets"]]) {
      const r = await cli.run(words);
      expectUsageError(r, /expected a subcommand/, new RegExp(`flotilla ${words[0]} --help`));
    }
  });
});

describe("runtime failures: exit 1, one line, no stack", () => {
  it("an unreachable controller reads `flotilla: cannot reach …`; the stack only with FLOTILLA_DEBUG=1", async () => {
    const port = await closedPort();
    const r = await cli.run(["status", "--controller", `http://127.0.0.1:${port}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^flotilla: cannot reach the controller at http://127.0.0.1:${port}: .*ECONNREFUSED`));
    noStack(r.stderr);
    const debug = await cli.run(["status", "--controller", `http://127.0.0.1:${port}`], { env: { FLOTILLA_DEBUG: "1" } });
    expect(debug.exitCode).toBe(1);
    expect(debug.stderr).toMatch(/^\s+at /m);
    const flag = await cli.run(["status", "--debug", "--controller", `http://127.0.0.1:${port}`]);
    expect(flag.exitCode).toBe(1);
    expect(flag.stderr).toMatch(/^\s+at /m);
  });
});

describe("against a running controller", () => {
  let stop: () => Promise<void>;
  let url: string;
  let port: number;
  let configFile: string;
  beforeAll(async () => {
    const signers = await makeHostSigners(["h1"]);
    const repo = await newFleetRepo(signers, { waves: [{ name: "all", members: ["h1"] }] });
    const c = await startTestController({ repo });
    stop = () => c.stop();
    url = c.url;
    port = c.port;
    const dir = await makeTempDir("flotilla-cli-conv-");
    configFile = join(dir, "controller.yaml");
    await writeFile(
      configFile,
      stringify({ listen: `127.0.0.1:${port}`, dataDir: join(dir, "data"), fleet: { remotes: [repo.url], branch: "main" }, auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] } }),
    );
  }, 60_000);
  afterAll(async () => {
    await stop?.();
  });

  it("flotilla serve on a port in use: one line naming the address, exit 1", async () => {
    const r = await cli.run(["serve", "--config", configFile]);
    expect(r.exitCode).toBe(1);
    // Log lines of the startup before the listen come first; the error is the last line, and the only `flotilla:` one.
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.filter((l) => l.startsWith("flotilla"))).toEqual([`flotilla: cannot listen on 127.0.0.1:${port}: address already in use`]);
    expect(lines.at(-1)).toBe(`flotilla: cannot listen on 127.0.0.1:${port}: address already in use`);
    noStack(r.stderr);
  }, 60_000);

  it("a missing token and a wrong token say different things (both HTTP 401, exit 1)", async () => {
    const missing = await cli.run(["status", "--controller", url], { env: { FLOTILLA_TOKEN: "" } });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 401.*an operator bearer token is required.*no token sent: pass --token or set FLOTILLA_TOKEN/);
    const wrong = await cli.run(["status", "--controller", url, "--token", "not-the-token"]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/HTTP 401.*the operator token was rejected.*the token from --token was rejected/);
    expect(wrong.stderr).not.toMatch(/is required/);
    const fromEnv = await cli.run(["audit", "--controller", url], { env: { FLOTILLA_TOKEN: "stale" } });
    expect(fromEnv.stderr).toMatch(/the token from FLOTILLA_TOKEN was rejected/);
    const right = await cli.run(["status", "--controller", url, "--token", OPERATOR_TOKEN]);
    expect(right.exitCode, right.stderr).toBe(0);
  });
});

describe("flotilla-agent", () => {
  async function agentConfig(o: { remotes?: string[] } = {}): Promise<{ config: string; stateDir: string }> {
    const dir = await makeTempDir("flotilla-cli-agent-");
    const key = join(dir, "host_key");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const stateDir = join(dir, "state");
    const config = join(dir, "agent.yaml");
    await writeFile(config, stringify({ host: "h1", remotes: o.remotes ?? [`file://${dir}/fleet.git`], branch: "main", stateDir, hostKeyPath: key, secretsRoot: join(dir, "secrets") }));
    return { config, stateDir };
  }

  it("retry takes an unambiguous prefix of a failed revision; ambiguous or unknown prefixes are usage errors listing the candidates", async () => {
    const { config, stateDir } = await agentConfig();
    const store = new FileStateStore(stateDir);
    const a = "abcdef1" + "1".repeat(33);
    const b = "abcdef1" + "2".repeat(33);
    const c = "0123456789" + "a".repeat(30);
    const now = new Date().toISOString();
    await store.save({ ...initialState("h1", now), failedRevs: [a, b, c].map((rev) => ({ rev, reason: "HealthCheckFailed", time: now })) });

    const ok = await agent(["retry", c.slice(0, 12), "--config", config]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`retry requested for ${c}`);
    expect(await store.pendingRetry()).toEqual({ rev: c });

    const ambiguous = await agent(["retry", "abcdef1", "--config", config]);
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toMatch(/prefix abcdef1 is ambiguous/);
    expect(ambiguous.stderr).toContain(a);
    expect(ambiguous.stderr).toContain(b);

    const unknown = await agent(["retry", "fedcba9", "--config", config]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/no failed revision or target starts with fedcba9/);
    expect(unknown.stderr).toContain(c.slice(0, 12));

    expect((await agent(["retry", "abc", "--config", config])).exitCode).toBe(2); // too short
    const full = "9".repeat(40); // a full revision is taken as given
    expect((await agent(["retry", full, "--config", config])).exitCode).toBe(0);
    expect(await store.pendingRetry()).toEqual({ rev: full });
  });

  it("a missing fleet remote keeps git's whole message, not just its last line", async () => {
    const dir = await makeTempDir("flotilla-cli-missing-");
    const missing = join(dir, "no-such-repo");
    const { config } = await agentConfig({ remotes: [`file://${missing}`] });
    const r = await agent(["self-test", "--config", config]);
    expect(r.exitCode).toBe(1);
    const line = JSON.parse(r.stdout.trim().split("\n").pop()!) as { checks: { name: string; ok: boolean; detail: string }[] };
    const remote = line.checks.find((c) => c.name === "remote")!;
    expect(remote.ok).toBe(false);
    expect(remote.detail).toContain(`'${missing}' does not appear to be a git repository`);
    expect(remote.detail).toContain("Could not read from remote repository.");
    expect(remote.detail).toContain("and the repository exists.");
    expect(remote.detail).not.toContain("\n");
  });
});

describe("config errors: file:line:col, the dotted path, did you mean", () => {
  it("the agent's config (exit 2) and the controller's (exit 1)", async () => {
    const dir = await makeTempDir("flotilla-cli-config-");
    const agentYaml = join(dir, "agent.yaml");
    await writeFile(agentYaml, "host: h1\nremotes:\n  - not a url\nstateDri: /var/lib/x\n");
    const a = await agent(["status", "--config", agentYaml]);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain(`${agentYaml}:3:5  remotes[0]  expected a file://`);
    expect(a.stderr).toContain(`${agentYaml}:4:1  stateDri  unknown key "stateDri" (did you mean "stateDir"?)`);
    const controllerYaml = join(dir, "controller.yaml");
    await writeFile(controllerYaml, "listen: 127.0.0.1:0\nfleet:\n  remots: [file:///x]\n  branch: main\n");
    const c = await cli.run(["serve", "--config", controllerYaml]);
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toContain(`${controllerYaml}:3:3  fleet.remots  unknown key "remots" (did you mean "remotes"?)`);
    expect(c.stderr).toContain(`${controllerYaml}:2:1  fleet.remotes  required key "remotes" is missing`);
    noStack(c.stderr);
  });
});

async function closedPort(): Promise<number> {
  const s: Server = await new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => resolve(srv));
  });
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
