// Argument building as pure functions (deploy-rs style), and the legacy env
// loader run by a real /bin/sh.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { LegacyHostSpec } from "../../../common/src/fleet/model.js";
import { hookArgv } from "./hooks.js";
import { legacyAppArgv } from "./legacy.js";
import { nixosRebuildArgs, toplevelInstallable } from "./nix.js";

const host = (projectDir: string, envFiles = [".env.production", ".env.local"]): LegacyHostSpec => ({
  name: "legacy-1",
  kind: "legacy",
  hostKey: "",
  tags: [],
  checks: [],
  hooks: {},
  wave: "rest",
  waveIndex: 0,
  user: "deploy",
  app: "build-legacy",
  projectDir,
  envFiles,
});

describe("command lines", () => {
  it("nixos-rebuild <op> --flake <ref>#<name>", () => {
    expect(nixosRebuildArgs("switch", "git+file:///c?rev=abc", "nixosConfigurations.web-1")).toEqual(["switch", "--flake", "git+file:///c?rev=abc#web-1"]);
    expect(() => nixosRebuildArgs("switch", "x", "packages.x86_64-linux.sys")).toThrow(/use activation "direct"/);
    expect(toplevelInstallable("R", "nixosConfigurations.db-1")).toBe("R#nixosConfigurations.db-1.config.system.build.toplevel");
  });

  it("runs the legacy app as the deploy user through the env loader", () => {
    const argv = legacyAppArgv({ runAs: ["runuser", "-u", "{user}", "--"], nix: "/bin/nix" }, host("/home/deploy/app"), "REF");
    expect(argv.slice(0, 6)).toEqual(["runuser", "-u", "deploy", "--", "sh", "-c"]);
    expect(argv.slice(7)).toEqual(["flotilla-load-env", "/home/deploy/app", "2", ".env.production", ".env.local", "/bin/nix", "run", "--no-eval-cache", "REF#build-legacy"]);
  });

  it("loads the first existing env file (.env.production over .env.local), exported", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-env-"));
    writeFileSync(join(dir, ".env.local"), "SERVICE_PORT=1\nONLY_LOCAL=yes\n");
    const show = ["sh", "-c", 'echo "$SERVICE_PORT/${ONLY_LOCAL:-}/$(pwd)"'];
    const run = async () => {
      const [cmd, ...args] = legacyAppArgv({ runAs: [], nix: "unused" }, host(dir), "REF").slice(0, 8);
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
});
