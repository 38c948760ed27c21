// Argument building as pure functions (deploy-rs style), and seed 000's env
// loader run by a real /bin/sh.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { LegacyHostSpec } from "../../../common/src/fleet/model.js";
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
});
