// One setting names the npm registry for every Nix build of Flotilla
// (issue #13, docs/packaging.md "The npm registry"): the `registry=` line of
// the repository's .npmrc reaches the package, the NixOS modules' default
// package and the agent's self-update, which builds the flake of
// `agent.selfUpdate.source` at a revision. The real `nix` (offline) with a
// stand-in nixpkgs (nix/tests/stub-*.nix): nothing here is built.
import { execFileSync } from "node:child_process";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { installableOf } from "../../node-agent/src/self-update/types.js";
import { nixEnv } from "../helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";

const ROOT = resolve(import.meta.dirname, "../..");

afterAll(cleanupTempDirs);

async function nixInstantiate(expr: string, cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa("nix-instantiate", ["--read-write-mode", "--eval", "--strict", "--json", "-E", expr], { cwd, env: nixEnv(), extendEnv: false, reject: false });
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

async function evalJson<T>(expr: string, cwd = ROOT): Promise<T> {
  const r = await nixInstantiate(expr, cwd);
  if (r.code !== 0) throw new Error(`nix-instantiate failed (exit ${r.code}):\n${r.stderr}\n${expr}`);
  return JSON.parse(r.stdout) as T;
}

/** The files of the flake that evaluation needs, copied to `dir` with `npmrc` as its .npmrc. */
async function flakeCopy(dir: string, npmrc: string): Promise<void> {
  for (const f of ["flake.nix", "package.json", "package-lock.json", "nix"]) await cp(join(ROOT, f), join(dir, f), { recursive: true });
  await writeFile(join(dir, ".npmrc"), npmrc);
}

/** What the flake's outputs say about the registry, evaluated against the stand-in nixpkgs. */
const flakeView = `
  let
    flake = import ./flake.nix;
    lib = import ./nix/tests/stub-lib.nix;
    pkgs = import ./nix/tests/stub-pkgs.nix { inherit lib; } // { stdenv.hostPlatform.system = "x86_64-linux"; };
    nixpkgs = { inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs); };
    outputs = flake.outputs { self = outputs; inherit nixpkgs; };
    zodOf = p: p.args.npmDeps.packageLock.packages."node_modules/zod".resolved;
    moduleDefault = m: (m { inherit pkgs; }).services.flotilla;
    overlaid = outputs.overlays.default pkgs pkgs;
  in {
    package = outputs.packages.x86_64-linux.flotilla.npmRegistry;
    packageZod = zodOf outputs.packages.x86_64-linux.flotilla;
    aarch64 = outputs.packages.aarch64-linux.flotilla.npmRegistry;
    overlay = overlaid.flotilla.npmRegistry;
    agentModule = (moduleDefault outputs.nixosModules.agent).agent.package.content.npmRegistry;
    controllerModule = (moduleDefault outputs.nixosModules.controller).controller.package.content.npmRegistry;
  }`;

describe("nix/lib/npmrc-registry.nix (npm's own .npmrc rules)", () => {
  const registryOf = async (text: string | null) => {
    const dir = await makeTempDir("npmrc-");
    if (text !== null) await writeFile(join(dir, ".npmrc"), text);
    return nixInstantiate(`import ${join(ROOT, "nix/lib/npmrc-registry.nix")} ${join(dir, ".npmrc")}`);
  };

  it("reads the registry= line: comments and scoped registries ignored, last one wins, quotes and CRLF accepted", async () => {
    expect(JSON.parse((await registryOf("registry=https://registry.npmjs.org/\n")).stdout)).toBe("https://registry.npmjs.org/");
    const text = '; a comment\n# registry=https://commented.test/\n@acme:registry=https://scoped.test/\n registry = "https://first.test/npm/" \r\nregistry=https://mirror.test/npm/\r\n';
    expect(JSON.parse((await registryOf(text)).stdout)).toBe("https://mirror.test/npm/");
  });

  it("is null without a file or a registry= line, and refuses ${VAR}, which Nix cannot expand", async () => {
    expect(JSON.parse((await registryOf(null)).stdout)).toBeNull();
    expect(JSON.parse((await registryOf("@acme:registry=https://scoped.test/\n")).stdout)).toBeNull();
    const r = await registryOf("registry=${NPM_MIRROR}\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("refers to an environment variable");
  });
});

describe("the repository's .npmrc", () => {
  it("names the registry npm uses here, and the flake's package takes it", async () => {
    const { stdout } = await execa("npm", ["config", "get", "registry"], { cwd: ROOT });
    const got = await evalJson<Record<string, string>>(flakeView);
    expect(got.package).toBe(stdout.trim());
  });

  it("is the one setting: changing that line alone changes the package, both systems, the overlay and both modules' default package", async () => {
    const dir = await makeTempDir("npmrc-flake-");
    await flakeCopy(dir, "; a mirror\nregistry=https://npm.mirror.test/repo/\n");
    const got = await evalJson<Record<string, string>>(flakeView, dir);
    expect(got).toEqual({
      package: "https://npm.mirror.test/repo/",
      packageZod: expect.stringMatching(/^https:\/\/npm\.mirror\.test\/repo\/zod\/-\/zod-\d+\.\d+\.\d+\.tgz$/),
      aarch64: "https://npm.mirror.test/repo/",
      overlay: "https://npm.mirror.test/repo/",
      agentModule: "https://npm.mirror.test/repo/",
      controllerModule: "https://npm.mirror.test/repo/",
    });
  });

  it("without a registry line, the package stops with an explanation naming .npmrc", async () => {
    const dir = await makeTempDir("npmrc-none-");
    await flakeCopy(dir, "; nothing\n");
    const r = await nixInstantiate(`let v = ${flakeView}; in v.packageZod`, dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Name the npm registry in the repository's .npmrc");
  });
});

describe("the agent's self-update source", () => {
  it("builds with the registry of the .npmrc at the pinned revision (the agent's own installable, nix eval)", async () => {
    // The stand-in nixpkgs as a flake, for --override-input (the real one cannot be fetched here).
    const stub = await makeTempDir("stub-nixpkgs-");
    await cp(join(ROOT, "nix/tests"), stub, { recursive: true });
    await writeFile(
      join(stub, "flake.nix"),
      `{ outputs = { self }: let lib = import ./stub-lib.nix; pkgs = import ./stub-pkgs.nix { inherit lib; } // { stdenv.hostPlatform.system = "x86_64-linux"; }; in { inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs); }; }\n`,
    );
    // A Flotilla repository with two revisions that differ only in .npmrc.
    const repo = await makeTempDir("flotilla-src-");
    await mkdir(repo, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync("git", args, { cwd: repo, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();
    git("init", "-q", "-b", "main");
    await flakeCopy(repo, "registry=https://first.mirror.test/\n");
    git("add", "-A");
    git("commit", "-q", "-m", "first");
    const rev1 = git("rev-parse", "HEAD");
    await writeFile(join(repo, ".npmrc"), "registry=https://second.mirror.test/npm/\n");
    git("commit", "-q", "-am", "another registry");
    const rev2 = git("rev-parse", "HEAD");

    const registryAt = async (rev: string) => {
      const installable = installableOf({ source: `git+file://${repo}?rev=${rev}` }, "x86_64-linux");
      expect(installable).toBe(`git+file://${repo}?rev=${rev}&ref=HEAD#packages.x86_64-linux.flotilla`);
      const r = await execa("nix", ["eval", "--json", "--no-write-lock-file", "--override-input", "nixpkgs", `path:${stub}`, `${installable}.npmRegistry`], {
        env: nixEnv(),
        extendEnv: false,
        reject: false,
      });
      if (r.exitCode !== 0) throw new Error(`nix eval ${installable}.npmRegistry failed:\n${r.stderr}`);
      return JSON.parse(r.stdout) as string;
    };
    expect(await registryAt(rev1)).toBe("https://first.mirror.test/");
    expect(await registryAt(rev2)).toBe("https://second.mirror.test/npm/");
  });
});
