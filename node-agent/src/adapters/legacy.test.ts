// The legacy system with the real nix CLI (offline) on a small flake of its
// own: "build" resolves and builds the app once (an evaluation error is caught
// there, before anything runs); activation and rollback run the built program
// directly, never `nix run`; a program the garbage collector took is built
// again from its revision's flake reference.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LegacyHostSpec } from "../../../common/src/fleet/model.js";
import { memoryLogger } from "../../../common/src/log.js";
import { legacyHostSpec } from "../../../test/helpers/legacy-host.js";
import { nixEnv, requireTool } from "../../../test/helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../../../test/helpers/tmp.js";
import { BuildError, LegacyAppError, RollbackLegacyAppError } from "../errors.js";
import { commandRunner, type Runner } from "./exec.js";
import { appEvalArgs, LegacySystem, legacyAppArgv, realiseArgs } from "./legacy.js";
import { nixStoreBeside } from "../config.js";

// The app writes "<version> <FLOTILLA_REV> <SERVICE_PORT>" to ./ran of the directory it runs in.
const FLAKE = `{
  outputs = { self }:
    let
      version = builtins.replaceStrings [ "\\n" ] [ "" ] (builtins.readFile ./version);
      tools = system: derivation {
        name = "legacy-test-app-\${version}";
        inherit system version;
        builder = "/bin/sh";
        args = [ "-c" "/bin/mkdir -p $out/bin && printf '#!/bin/sh\\\\necho \\"%s $FLOTILLA_REV $SERVICE_PORT\\" >ran\\\\n' \\"$version\\" >$out/bin/deploy && /bin/chmod +x $out/bin/deploy" ];
      };
      apps = system:
        if builtins.pathExists ./fail-eval then throw "legacy test: fail-eval at \${version}"
        else { deploy = { type = "app"; program = "\${tools system}/bin/deploy"; }; notapp = { type = "derivation"; program = "/bin/true"; }; };
    in { apps = { x86_64-linux = apps "x86_64-linux"; aarch64-linux = apps "aarch64-linux"; }; };
}
`;

let repo: string;
let project: string;
let records: string;
const calls: string[][] = [];
let sys: LegacySystem;

const host = (app = "deploy"): LegacyHostSpec => legacyHostSpec({ projectDir: project, app });

async function commit(files: Record<string, string | null>): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    if (text === null) await execa("git", ["-C", repo, "rm", "-q", name]);
    else await writeFile(join(repo, name), text);
  }
  await execa("git", ["-C", repo, "add", "-A"]);
  await execa("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "c"]);
  return (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout.trim();
}

const ref = (rev: string) => `git+file://${repo}?rev=${rev}`;

beforeAll(async () => {
  const nix = requireTool("nix");
  repo = await makeTempDir("flotilla-legacy-flake-");
  project = await makeTempDir("flotilla-legacy-project-");
  records = await makeTempDir("flotilla-legacy-records-");
  await mkdir(repo, { recursive: true });
  await execa("git", ["init", "-q", repo]);
  const real = commandRunner(memoryLogger(), nixEnv());
  const run: Runner = (cmd, args, opts) => {
    calls.push([cmd, ...args]);
    return real(cmd, args, opts);
  };
  sys = new LegacySystem({ run, nix, nixStore: nixStoreBeside(nix), runAs: [], buildTimeoutMs: 120_000, activateTimeoutMs: 60_000, recordDir: records });
  await writeFile(join(project, ".env.production"), "SERVICE_PORT=9001\n");
});

afterAll(async () => {
  await cleanupTempDirs();
});

describe("legacy system (real nix)", () => {
  it("builds the app once in the build step: the generation is its program, present in the store", async () => {
    const rev = await commit({ "flake.nix": FLAKE, version: `v1-${Date.now()}\n` });
    calls.length = 0;
    const generation = await sys.build({ host: host(), rev, flakeRef: ref(rev) });
    expect(generation).toMatch(/^\/.+-legacy-test-app-v1-\d+\/bin\/deploy$/);
    // Built, not only evaluated: activation needs no second evaluation.
    expect(existsSync(generation)).toBe(true);
    expect(calls.filter((c) => c.includes("eval") && c.some((a) => a.includes("#apps."))).length).toBe(1);
    expect(calls.some((c) => c.includes("run"))).toBe(false);

    calls.length = 0;
    await sys.activate({ host: host(), rev, flakeRef: ref(rev), generation });
    // The program itself, through the env loader: no nix run, no evaluation.
    expect(calls).toHaveLength(1);
    expect(calls[0]!.at(-1)).toBe(generation);
    expect(calls[0]!.some((a) => a === "run" || a === "eval")).toBe(false);
    expect(readFileSync(join(project, "ran"), "utf8")).toBe(`${generation.split("-legacy-test-app-")[1]!.split("/")[0]} ${rev} 9001\n`);
    expect(readFileSync(join(records, "legacy-1.deployed"), "utf8")).toBe(`${rev} ${generation}\n`);
    expect(await sys.applied(host())).toEqual({ rev, generation, complete: true });
  });

  it("catches an evaluation error, and an attribute that is not an app, in the build step", async () => {
    const bad = await commit({ "fail-eval": "" });
    await expect(sys.build({ host: host(), rev: bad, flakeRef: ref(bad) })).rejects.toThrow(BuildError);
    await expect(sys.build({ host: host(), rev: bad, flakeRef: ref(bad) })).rejects.toThrow(/fail-eval at v1-/);
    const good = await commit({ "fail-eval": null });
    await expect(sys.build({ host: host("notapp"), rev: good, flakeRef: ref(good) })).rejects.toThrow(/type "derivation", not "app"/);
    await expect(sys.build({ host: host("missing"), rev: good, flakeRef: ref(good) })).rejects.toThrow(BuildError);
  });

  it("rolls back by running the previous revision's program, built again from its flake reference when the store lost it", async () => {
    const prev = await commit({ version: `v2-${Date.now()}\n` });
    const built = await sys.build({ host: host(), rev: prev, flakeRef: ref(prev) });
    // Present: run as it is.
    calls.length = 0;
    await sys.rollback(host(), { rev: prev, generation: built }, ref(prev));
    expect(calls).toHaveLength(1);
    expect(readFileSync(join(project, "ran"), "utf8")).toContain(` ${prev} 9001`);
    // Gone (garbage-collected): built again from the revision, then run.
    const gone = built.replace(/\/nix\/store\/[0-9a-z]{32}-/, "/nix/store/00000000000000000000000000000000-");
    calls.length = 0;
    await sys.rollback(host(), { rev: prev, generation: gone }, ref(prev));
    expect(calls.at(-1)!.at(-1)).toBe(built);
    expect(readFileSync(join(records, "legacy-1.deployed"), "utf8")).toBe(`${prev} ${gone}\n`);
    // Gone and not buildable: a rollback error, and no app ran.
    calls.length = 0;
    await expect(sys.rollback(host(), { rev: prev, generation: gone }, null)).rejects.toThrow(RollbackLegacyAppError);
    expect(calls).toHaveLength(0);
    // An activation whose program cannot be built again changed nothing.
    await expect(sys.activate({ host: host(), rev: prev, flakeRef: "git+file:///nonexistent", generation: gone })).rejects.toMatchObject({ unchanged: true });
    await expect(sys.activate({ host: host(), rev: prev, flakeRef: "git+file:///nonexistent", generation: gone })).rejects.toThrow(LegacyAppError);
  });
});

describe("legacy command lines", () => {
  it("evaluates the app once for its program and context", () => {
    expect(appEvalArgs("REF", "x86_64-linux", "build-legacy").slice(0, 4)).toEqual(["eval", "--no-eval-cache", "--json", "REF#apps.x86_64-linux.build-legacy"]);
  });

  it("realises what the program's context names, as nix run does", () => {
    expect(
      realiseArgs({
        "/nix/store/a-tools.drv": { outputs: ["out", "lib"] },
        "/nix/store/b-all.drv": { allOutputs: true },
        "/nix/store/c-source": { path: true },
        "/nix/store/d-self.drv": { path: true },
      }),
    ).toEqual(["/nix/store/a-tools.drv!out", "/nix/store/a-tools.drv!lib", "/nix/store/b-all.drv"]);
    expect(realiseArgs({})).toEqual([]);
  });

  it("runs the program through the env loader as the deploy user", () => {
    const argv = legacyAppArgv({ runAs: ["runuser", "-u", "{user}", "--"] }, host(), "/nix/store/x-app/bin/build-legacy");
    expect(argv.slice(0, 6)).toEqual(["runuser", "-u", "deploy", "--", "sh", "-c"]);
    expect(argv.slice(7)).toEqual(["flotilla-load-env", project, "2", ".env.production", ".env.local", "/nix/store/x-app/bin/build-legacy"]);
  });

  it("finds nix-store beside nix", () => {
    expect(nixStoreBeside("/usr/bin/nix")).toBe("/usr/bin/nix-store");
    expect(nixStoreBeside("nix")).toBe("nix-store");
  });
});
