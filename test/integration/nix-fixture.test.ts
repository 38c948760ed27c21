// Proves the offline test fleet and the test helpers against the real tools:
// nix builds stand-in systems from a real git repo, nix-env keeps real
// generations, the stand-ins record calls and obey markers, the legacy apps
// run via `nix run`, and the health server and the smart-HTTP remote work.
import { readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCalls, readHostState } from "../helpers/fixture-state.js";
import { makeBareRemote, makeFleetRepo, serveHttp, type FleetRepo } from "../helpers/git-repo.js";
import { startHealthServer, type HealthServer } from "../helpers/health-server.js";
import { listGenerations, nixBuild, nixEnv, requireTool } from "../helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir, stateDirs, type StateDirs } from "../helpers/tmp.js";

const toplevel = (host: string) => `nixosConfigurations.${host}.config.system.build.toplevel`;

let repo: FleetRepo;
let fixture: StateDirs;
let health: HealthServer;
let first: string;

async function switchTo(outPath: string, operation = "switch") {
  return execa(join(outPath, "bin/switch-to-configuration"), [operation], {
    env: { ...fixture.env },
    reject: false,
  });
}

beforeAll(async () => {
  for (const tool of ["nix", "nix-env", "git", "age"]) requireTool(tool);
  repo = await makeFleetRepo({ template: true });
  first = await repo.head();
  fixture = await stateDirs();
  health = await startHealthServer(fixture.state);
});

afterAll(async () => {
  await health?.close();
  await cleanupTempDirs();
});

describe("test fleet flake on real nix", () => {
  it("builds a stand-in toplevel from git+file://<repo>?rev=<sha> with the revision baked in", async () => {
    expect(first).toMatch(/^[0-9a-f]{40}$/);
    const out = await nixBuild(repo.flakeRef(first), toplevel("web-1"));
    expect(out).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-web-1-25\.05\.flotilla\.[0-9a-f]{7}$/);
    expect(await readFile(join(out, "configuration-revision"), "utf8")).toBe(first);
    expect(await readFile(join(out, "nixos-version"), "utf8")).toBe(`25.05.flotilla.${first.slice(0, 7)}`);
    expect(await readFile(join(out, "system"), "utf8")).toBe("x86_64-linux");
    const meta = JSON.parse(await readFile(join(out, "flotilla-fixture.json"), "utf8")) as Record<string, unknown>;
    expect(meta).toMatchObject({ host: "web-1", revision: first, failSwitch: false, unhealthy: false });
  });

  it("keeps real profile generations with nix-env --set", async () => {
    const profile = join(await makeTempDir("flotilla-profile-"), "system");
    const out1 = await nixBuild(repo.flakeRef(first), toplevel("canary-1"));
    await execa("nix-env", ["-p", profile, "--set", out1], { env: nixEnv() });
    expect(await readlink(profile)).toBe("system-1-link");
    expect(await readlink(`${profile}-1-link`)).toBe(out1);

    const second = await repo.commit({ "notes.txt": "second\n" }, "second commit");
    const out2 = await nixBuild(repo.flakeRef(second), toplevel("canary-1"));
    expect(out2).not.toBe(out1);
    await execa("nix-env", ["-p", profile, "--set", out2], { env: nixEnv() });
    expect(await readlink(profile)).toBe("system-2-link");
    expect(await readlink(`${profile}-2-link`)).toBe(out2);

    const generations = await listGenerations(profile);
    expect(generations.map((g) => [g.id, g.current])).toEqual([
      [1, false],
      [2, true],
    ]);

    await execa("nix-env", ["-p", profile, "--rollback"], { env: nixEnv() });
    expect(await readlink(profile)).toBe("system-1-link");
  });

  it("records switch-to-configuration calls and serves health from the state dir", async () => {
    const before = await health.urlFor("web-2");
    expect((await fetch(before)).status).toBe(503);

    const out = await nixBuild(repo.flakeRef(first), toplevel("web-2"));
    const result = await switchTo(out);
    expect(result.exitCode, result.stderr).toBe(0);

    const calls = await readCalls(fixture.log);
    expect(calls.at(-1)).toMatchObject({
      host: "web-2",
      operation: "switch",
      revision: first,
      outPath: out,
      status: "ok",
      mode: "nixos",
    });
    expect(Date.parse(calls.at(-1)?.time ?? "")).not.toBeNaN();
    expect(await readHostState(fixture.state, "web-2")).toMatchObject({
      currentRevision: first,
      currentSystem: out,
      health: "ok",
      mode: "nixos",
    });

    const response = await fetch(health.urlFor("web-2"));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(`ok ${first}\n`);
    expect(await execa("grep", ["-q", "ok", join(fixture.state, "web-2/health")], { reject: false })).toMatchObject({
      exitCode: 0,
    });

    expect((await switchTo(out, "dry-activate")).exitCode).toBe(0);
    expect((await switchTo(out, "boot")).exitCode).toBe(0);
    expect((await readCalls(fixture.log)).slice(-2).map((c) => c.operation)).toEqual(["dry-activate", "boot"]);
    expect(await readHostState(fixture.state, "web-2")).toMatchObject({ bootRevision: first, bootSystem: out });
    expect((await switchTo(out, "bogus")).exitCode).toBe(1);
  });

  it("fails switch-to-configuration at commits with markers/<host>/fail-switch, not before", async () => {
    const good = await nixBuild(repo.flakeRef(first), toplevel("db-1"));
    expect((await switchTo(good)).exitCode).toBe(0);

    const marked = await repo.commit({ "markers/db-1/fail-switch": "" }, "break db-1 activation");
    const bad = await nixBuild(repo.flakeRef(marked), toplevel("db-1"));
    const result = await switchTo(bad);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain("markers/db-1/fail-switch");
    expect((await readCalls(fixture.log)).at(-1)).toMatchObject({ host: "db-1", revision: marked, status: "failed" });
    expect((await readHostState(fixture.state, "db-1")).currentRevision).toBe(first);

    // The older commit still builds the same, working system.
    expect(await nixBuild(repo.flakeRef(first), toplevel("db-1"))).toBe(good);
    await repo.commit({ "markers/db-1/fail-switch": null }, "fix db-1");
  });

  it("fails the build at commits with markers/<host>/fail-build", async () => {
    const marked = await repo.commit({ "markers/web-1/fail-build": "" }, "break web-1 build");
    await expect(nixBuild(repo.flakeRef(marked), toplevel("web-1"))).rejects.toThrow(
      /markers\/web-1\/fail-build present at revision [0-9a-f]{40}/,
    );
    // Other hosts at the same commit still build.
    await nixBuild(repo.flakeRef(marked), toplevel("web-2"));
    const evalBroken = await repo.commit({ "markers/web-1/fail-eval": "" }, "break web-1 evaluation");
    await expect(nixBuild(repo.flakeRef(evalBroken), toplevel("web-1"))).rejects.toThrow(/markers\/web-1\/fail-eval present/);
    await repo.commit({ "markers/web-1/fail-build": null, "markers/web-1/fail-eval": null }, "fix web-1");
  });

  it("reports unhealthy hosts with markers/<host>/unhealthy (503)", async () => {
    const marked = await repo.commit({ "markers/canary-1/unhealthy": "" }, "canary-1 goes bad");
    const out = await nixBuild(repo.flakeRef(marked), toplevel("canary-1"));
    expect((await switchTo(out)).exitCode).toBe(0);
    expect((await readHostState(fixture.state, "canary-1")).health).toBe("bad");
    const response = await fetch(health.urlFor("canary-1"));
    expect(response.status).toBe(503);
    expect(await response.text()).toBe(`bad ${marked}\n`);
    expect((await fetch(`${health.url}/nope`)).status).toBe(404);
    await repo.commit({ "markers/canary-1/unhealthy": null }, "canary-1 recovers");
  });

  it("adds a host when a test commits hosts/<name>/host.nix", async () => {
    const sha = await repo.commit({ "hosts/web-3/host.nix": '{ kernel = "6.7.0-test"; }\n' }, "add web-3");
    const out = await nixBuild(repo.flakeRef(sha), toplevel("web-3"));
    expect(await readFile(join(out, "kernel"), "utf8")).toBe("flotilla-fixture-kernel 6.7.0-test\n");
    expect(await readFile(join(out, "etc/hostname"), "utf8")).toBe("web-3\n");
  });

  it("builds revisions that only exist on another branch", async () => {
    const sha = await repo.commit({ "markers/README.md": "testing\n" }, "testing change", { branch: "testing-web-1" });
    expect(await repo.head("testing-web-1")).toBe(sha);
    expect(await repo.head()).not.toBe(sha);
    const out = await nixBuild(repo.flakeRef(sha, "refs/heads/testing-web-1"), toplevel("web-1"));
    expect(await readFile(join(out, "configuration-revision"), "utf8")).toBe(sha);
    // For a local repo, ?rev= alone also finds a commit that main does not contain.
    expect(await nixBuild(repo.flakeRef(sha), toplevel("web-1"))).toBe(out);
  });

  it("runs the legacy apps with nix run, recording the env they saw", async () => {
    const head = await repo.head();
    const run = (app: string, env: Record<string, string>, args: string[] = []) =>
      execa("nix", ["run", `${repo.flakeRef(head)}#${app}`, "--", ...args], {
        env: nixEnv({ ...fixture.env, ...env }),
        extendEnv: false,
        reject: false,
      });

    const deploy = await run("build-legacy", { FLOTILLA_HOST: "legacy-1", SERVICE_PORT: "8080", SERVICE_NAME: 'a "b" c' });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    const call = (await readCalls(fixture.log)).at(-1);
    expect(call).toMatchObject({
      host: "legacy-1",
      operation: "build-legacy",
      revision: head,
      status: "ok",
      mode: "legacy",
      env: { SERVICE_PORT: "8080", SERVICE_NAME: 'a "b" c' },
    });
    expect(await readHostState(fixture.state, "legacy-1")).toMatchObject({
      currentRevision: head,
      health: "ok",
      mode: "legacy",
      env: { SERVICE_PORT: "8080", SERVICE_NAME: 'a "b" c' },
    });
    expect((await fetch(health.urlFor("legacy-1"))).status).toBe(200);

    const dump = await run("dump-db", {}, ["legacy-1"]);
    expect(dump.exitCode, dump.stderr).toBe(0);
    expect((await readHostState(fixture.state, "legacy-1")).backups).toHaveLength(1);
    for (const app of ["setup", "install"]) expect((await run(app, { FLOTILLA_HOST: "legacy-1" })).exitCode).toBe(0);
    expect((await run("build-legacy", {})).exitCode).toBe(2);

    const marked = await repo.commit(
      { "markers/legacy-1/fail-legacy": "", "markers/legacy-1/fail-dump-db": "" },
      "break legacy-1",
    );
    const failing = (app: string) =>
      execa("nix", ["run", `${repo.flakeRef(marked)}#${app}`, "--", "legacy-1"], {
        env: nixEnv(fixture.env),
        extendEnv: false,
        reject: false,
      });
    const failedDeploy = await failing("build-legacy");
    expect(failedDeploy.exitCode).toBe(1);
    expect(failedDeploy.stderr).toContain("markers/legacy-1/fail-legacy");
    expect((await failing("dump-db")).exitCode).toBe(1);
    expect((await readHostState(fixture.state, "legacy-1")).currentRevision).toBe(head);
  });
});

describe("git remotes", () => {
  it("serves a fleet repo over smart HTTP for ls-remote, fetch and push", async () => {
    const remote = await makeBareRemote(repo);
    const http = await serveHttp(remote.dir);
    try {
      const { stdout } = await execa("git", ["ls-remote", http.url, "refs/heads/main"]);
      expect(stdout).toBe(`${await repo.head()}\trefs/heads/main`);

      const clone = join(await makeTempDir("flotilla-clone-"), "fleet");
      await execa("git", ["clone", "-q", http.url, clone]);
      const sha = await repo.commit({ "notes.txt": "over http\n" }, "push over http");
      await repo.push(http.url);
      await execa("git", ["fetch", "-q", "origin"], { cwd: clone });
      expect((await execa("git", ["rev-parse", "origin/main"], { cwd: clone })).stdout).toBe(sha);
      expect(http.requests.some((r) => r.path.includes("git-upload-pack"))).toBe(true);
    } finally {
      await http.close();
    }
  });

  it("serves a non-bare repo and enforces basic auth when asked", async () => {
    const http = await serveHttp(repo.dir, { auth: { username: "agent", password: "s3cret" } });
    try {
      const denied = await execa("git", ["ls-remote", http.url], { reject: false, env: { GIT_TERMINAL_PROMPT: "0" } });
      expect(denied.exitCode).not.toBe(0);
      const { stdout } = await execa("git", ["ls-remote", http.urlWithAuth, "refs/heads/main"]);
      expect(stdout).toBe(`${await repo.head()}\trefs/heads/main`);
    } finally {
      await http.close();
    }
  });

  it("rewrites history with forcePush", async () => {
    const before = await repo.head();
    const rewritten = await repo.forcePush({ "notes.txt": "rewritten\n" }, "rewritten");
    const isAncestor = await repo.git(["merge-base", "--is-ancestor", before, rewritten]).then(
      () => true,
      () => false,
    );
    expect(isAncestor).toBe(false);
    expect(await repo.head()).toBe(rewritten);
  });
});
