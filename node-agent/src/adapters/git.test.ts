// The agent's git cache with real git: fetching the branch's new head, and
// the keep ref that a flake reference names, made once per revision and made
// again after `forget` dropped it.
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
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
});
