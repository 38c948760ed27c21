// The agent's git cache with real git: fetching the branch's new head (one
// connection per poll, over a real smart-HTTP remote), the keep ref that a
// flake reference names, made once per revision and made again after
// `forget` dropped it, and real nix reading that reference in place.
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { makeFleetRepo, serveHttp } from "../../../test/helpers/git-repo.js";
import { nixEnv } from "../../../test/helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../../../test/helpers/tmp.js";
import { GitSource } from "./git.js";

afterAll(async () => {
  await cleanupTempDirs();
});

describe("GitSource", () => {
  it("fetches the new head and keeps the flake reference's revision reachable until forgotten", async () => {
    const repo = await makeTempDir("flotilla-git-remote-");
    const state = await makeTempDir("flotilla-git-state-");
    await execa("git", ["init", "-q", "-b", "main", repo]);
    const commit = async (msg: string) => {
      await execa("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", msg]);
      return (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout.trim();
    };
    const a = await commit("a");
    const log = memoryLogger();
    const src = new GitSource({ stateDir: state, remotes: [`file://${repo}`], branch: "main", git: "git", timeoutMs: 30_000, log });
    await src.init();
    const head = await src.head();
    expect(head.sha).toBe(a);
    await src.fetch(head.remote, a);
    expect(await src.hasCommit(a)).toBe(true);
    const b = await commit("b");
    await src.fetch(head.remote, b);
    expect(await src.hasCommit(b)).toBe(true);

    const keepRef = async (rev: string) =>
      (await execa("git", ["--git-dir", join(state, "cache.git"), "for-each-ref", "--format=%(refname)", `refs/flotilla/keep/${rev}`])).stdout.trim();
    expect(await src.flakeRef(a)).toBe(`git+file://${join(state, "cache.git")}?rev=${a}&ref=refs/flotilla/keep/${a}`);
    expect(await keepRef(a)).toBe(`refs/flotilla/keep/${a}`);
    await src.flakeRef(a);
    await src.flakeRef(b);
    await src.forget([b]);
    expect(await keepRef(a)).toBe("");
    expect(await keepRef(b)).toBe(`refs/flotilla/keep/${b}`);
    // Forgotten, then needed again (a rollback to it): the ref is made again.
    await src.flakeRef(a);
    expect(await keepRef(a)).toBe(`refs/flotilla/keep/${a}`);
  });

  it("a poll is one connection to the remote: head() fetches the branch (force-pushes included), fetch() of that head asks nothing more", async () => {
    const repo = await makeFleetRepo({ files: { "fleet.yaml": "version: 1\n" } });
    const remote = await serveHttp(repo.dir);
    try {
      const state = await makeTempDir("flotilla-git-state-");
      const src = new GitSource({ stateDir: state, remotes: [remote.url], branch: "main", git: "git", timeoutMs: 30_000, log: memoryLogger() });
      await src.init();
      const connections = () => remote.requests.filter((r) => r.method === "GET" && r.path.includes("/info/refs")).length;
      const poll = async () => {
        const before = connections();
        const h = await src.head();
        await src.fetch(h.remote, h.sha);
        return { sha: h.sha, connections: connections() - before, present: await src.hasCommit(h.sha) };
      };
      const a = await repo.head();
      expect(await poll()).toEqual({ sha: a, connections: 1, present: true });
      expect(await poll()).toEqual({ sha: a, connections: 1, present: true });
      const b = await repo.commit({ "fleet.yaml": "version: 2\n" });
      expect(await poll()).toEqual({ sha: b, connections: 1, present: true });
      // A force-push: the poll sees the rewritten head, and the cache can tell it is no descendant.
      const c = await repo.forcePush({ "fleet.yaml": "version: 3\n" });
      expect(await poll()).toEqual({ sha: c, connections: 1, present: true });
      expect(await src.isAncestor(b, c)).toBe(false);
      expect(await src.isAncestor(a, c)).toBe(true);
      // A revision off the branch (a pin elsewhere) is still fetched by id: b is in the cache already, so try an unknown one.
      const side = await repo.commit({ "side.txt": "x\n" }, "side", { branch: "side" });
      expect(await src.hasCommit(side)).toBe(false);
      await src.fetch(remote.url, side);
      expect(await src.hasCommit(side)).toBe(true);
    } finally {
      await remote.close();
    }
  });

  it("nix evaluates the revision through the flake reference (the bare cache, by its keep ref)", async () => {
    const repo = await makeFleetRepo({ files: { "flake.nix": "{ outputs = { self }: { rev = self.rev; text = builtins.readFile ./note.txt; }; }\n", "note.txt": "one\n" } });
    const state = await makeTempDir("flotilla-git-state-");
    const xdg = await makeTempDir("flotilla-git-xdg-");
    const src = new GitSource({ stateDir: state, remotes: [repo.url], branch: "main", git: "git", timeoutMs: 30_000, log: memoryLogger() });
    await src.init();
    const { sha } = await src.head();
    const ref = await src.flakeRef(sha);
    const env = nixEnv({ XDG_CACHE_HOME: xdg });
    expect((await execa("nix", ["eval", "--raw", `${ref}#rev`], { env, extendEnv: false })).stdout).toBe(sha);
    expect((await execa("nix", ["eval", "--raw", `${ref}#text`], { env, extendEnv: false })).stdout).toBe("one");
  });
});
