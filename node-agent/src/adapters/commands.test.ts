// Argument building as pure functions (deploy-rs style), and the legacy env
// loader run by a real /bin/sh.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { LegacyHostSpec } from "../../../common/src/fleet/model.js";
import { legacyHostSpec } from "../../../test/helpers/legacy-host.js";
import { hookArgv } from "./hooks.js";
import { legacyAppArgv, recordedArgv } from "./legacy.js";
import { nixosRebuildArgs, toplevelInstallable } from "./nix.js";

const host = (projectDir: string, envFiles?: string[]): LegacyHostSpec => legacyHostSpec({ projectDir, ...(envFiles ? { envFiles } : {}) });

describe("command lines", () => {
  it("nixos-rebuild <op> --flake <ref>#<name>", () => {
    expect(nixosRebuildArgs("switch", "git+file:///c?rev=abc", "nixosConfigurations.web-1")).toEqual(["switch", "--flake", "git+file:///c?rev=abc#web-1"]);
    expect(() => nixosRebuildArgs("switch", "x", "packages.x86_64-linux.sys")).toThrow(/use activation "direct"/);
    expect(toplevelInstallable("R", "nixosConfigurations.db-1")).toBe("R#nixosConfigurations.db-1.config.system.build.toplevel");
  });

  it("runs the legacy app as the deploy user through the env loader", () => {
    const argv = legacyAppArgv({ runAs: ["runuser", "-u", "{user}", "--"] }, host("/home/deploy/app"), "/nix/store/x-tools/bin/build-legacy");
    expect(argv.slice(0, 6)).toEqual(["runuser", "-u", "deploy", "--", "sh", "-c"]);
    expect(argv.slice(7)).toEqual(["flotilla-load-env", "/home/deploy/app", "2", ".env.production", ".env.local", "/nix/store/x-tools/bin/build-legacy"]);
  });

  it("loads the first existing env file (.env.production over .env.local), exported", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-env-"));
    writeFileSync(join(dir, ".env.local"), "SERVICE_PORT=1\nONLY_LOCAL=yes\n");
    const show = ["sh", "-c", 'echo "$SERVICE_PORT/${ONLY_LOCAL:-}/$(pwd)"'];
    const run = async () => {
      const [cmd, ...args] = legacyAppArgv({ runAs: [] }, host(dir), "PROGRAM").slice(0, 8);
      return (await execa(cmd!, [...args, ...show], { cwd: "/" })).stdout;
    };
    expect(await run()).toBe(`1/yes/${dir}`);
    writeFileSync(join(dir, ".env.production"), "SERVICE_PORT=9001\n");
    expect(await run()).toBe(`9001//${dir}`);
  });

  it("runs a legacy host's hooks as the deploy user, in the checkout, with the app's env files loaded", async () => {
    const project = mkdtempSync(join(tmpdir(), "flotilla-env-"));
    const checkout = mkdtempSync(join(tmpdir(), "flotilla-checkout-"));
    writeFileSync(join(project, ".env.local"), "SERVICE_PORT=1\n");
    writeFileSync(join(project, ".env.production"), "SERVICE_PORT=9001\n");
    const hook = { command: ["sh", "-c", 'echo "$SERVICE_PORT/$(pwd)"'], timeoutMs: 1000 };
    const argv = hookArgv(["runuser", "-u", "{user}", "--"], hook, { host: host(project), dir: checkout });
    expect(argv.slice(0, 6)).toEqual(["runuser", "-u", "deploy", "--", "sh", "-c"]);
    expect(argv.slice(7, 12)).toEqual(["flotilla-load-env", checkout, "2", join(project, ".env.production"), join(project, ".env.local")]);
    const [cmd, ...args] = hookArgv([], hook, { host: host(project), dir: checkout });
    expect((await execa(cmd!, args, { cwd: "/" })).stdout).toBe(`9001/${checkout}`);
    // A NixOS host's hook is the bare argv (as its own user, if it names one).
    const nixos = { ...host(project), kind: "nixos" } as unknown as Parameters<typeof hookArgv>[2]["host"];
    expect(hookArgv(["runuser", "-u", "{user}", "--"], hook, { host: nixos, dir: checkout })).toEqual(hook.command);
    expect(hookArgv(["runuser", "-u", "{user}", "--"], { ...hook, user: "ops" }, { host: nixos, dir: checkout }).slice(0, 4)).toEqual(["runuser", "-u", "ops", "--"]);
  });

  it("records a legacy app run that exited 0 (and only such a run), from the shell that ran it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-record-"));
    const record = join(dir, "legacy", "legacy-1.deployed");
    const run = (script: string) => {
      const [cmd, ...args] = recordedArgv(record, "a".repeat(40), "/nix/store/x-app", ["sh", "-c", script]);
      return execa(cmd!, args, { reject: false });
    };
    const failed = await run("echo out; echo err >&2; exit 3");
    expect(failed.exitCode).toBe(3);
    expect([failed.stdout, failed.stderr]).toEqual(["out", "err"]);
    expect(existsSync(record)).toBe(false);
    expect((await run("exit 0")).exitCode).toBe(0);
    expect(readFileSync(record, "utf8")).toBe(`${"a".repeat(40)} /nix/store/x-app\n`);
    // A stop (SIGTERM to the shell) reaches the app: nothing is recorded for an app that did not finish.
    writeFileSync(record, "old\n");
    const slow = execa(recordedArgv(record, "b".repeat(40), "/g", ["sleep", "30"])[0]!, recordedArgv(record, "b".repeat(40), "/g", ["sleep", "30"]).slice(1), { reject: false });
    await new Promise((r) => setTimeout(r, 300));
    slow.kill("SIGTERM");
    const r = await slow;
    expect(r.exitCode === 143 || r.signal === "SIGTERM").toBe(true);
    expect(readFileSync(record, "utf8")).toBe("old\n");
  });
});
