import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../log.js";
import { GitMirror, RemoteUnreachableError } from "./mirror.js";

function repo() {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-mirror-src-"));
  const git = (...a: string[]) => execFileSync("git", a, { cwd: dir, encoding: "utf8" }).trim();
  git("init", "-q", "-b", "main");
  git("config", "user.email", "t@example.com");
  git("config", "user.name", "T");
  const commit = (file: string, text: string, extra: string[] = []) => {
    writeFileSync(join(dir, file), text);
    git("add", file);
    git("commit", "-q", "-m", `edit ${file}`, ...extra);
    return git("rev-parse", "HEAD");
  };
  return { dir, git, commit, url: `file://${dir}` };
}

describe("GitMirror", () => {
  it("sees the head, fetches incrementally, reads files and detects rewrites", async () => {
    const r = repo();
    const c1 = r.commit("fleet.yaml", "version: 1\n");
    const m = new GitMirror({ dir: join(mkdtempSync(join(tmpdir(), "flotilla-mirror-")), "cache.git"), remotes: ["file:///nonexistent/repo", r.url], branch: "main", log: memoryLogger() });
    await m.init();
    const head = await m.remoteHead();
    expect(head).toEqual({ remote: r.url, sha: c1 });
    expect(await m.fetch(head.remote, head.sha)).toBe(c1);
    expect((await m.readFile(c1, "fleet.yaml"))?.toString()).toBe("version: 1\n");
    expect(await m.readFile(c1, "missing.yaml")).toBeNull();
    const c2 = r.commit("fleet.yaml", "version: 2\n");
    expect(await m.fetch(r.url, c2)).toBe(c2);
    expect(await m.isAncestor(c1, c2)).toBe(true);
    expect(await m.commitsBetween(c1, c2)).toEqual([c2]);
    r.git("reset", "-q", "--hard", c1);
    const c3 = r.commit("other", "x");
    await m.fetch(r.url, c3);
    expect(await m.isAncestor(c2, c3)).toBe(false);
    expect((await m.commitInfo(c3)).subject).toBe("edit other");
  });

  it("fetchHead: one git fetch tells the head, follows a force-push, and keeps git's words when it fails", async () => {
    const r = repo();
    const c1 = r.commit("fleet.yaml", "version: 1\n");
    const dir = join(mkdtempSync(join(tmpdir(), "flotilla-mirror-")), "cache.git");
    const m = new GitMirror({ dir, remotes: ["file:///nonexistent/repo", r.url], branch: "main", log: memoryLogger() });
    await m.init();
    expect(await m.fetchHead()).toEqual({ remote: r.url, sha: c1 });
    expect(await m.hasCommit(c1)).toBe(true);
    // Unchanged: the same head again.
    expect(await m.fetchHead()).toEqual({ remote: r.url, sha: c1 });
    const c2 = r.commit("fleet.yaml", "version: 2\n");
    expect((await m.fetchHead()).sha).toBe(c2);
    expect(await m.isAncestor(c1, c2)).toBe(true);
    // A force-push back and onto another line: the head is the remote's, and the rewrite shows.
    r.git("reset", "-q", "--hard", c1);
    expect((await m.fetchHead()).sha).toBe(c1);
    const c3 = r.commit("other", "x");
    expect((await m.fetchHead()).sha).toBe(c3);
    expect(await m.isAncestor(c2, c3)).toBe(false);
    // Packed refs (no loose ref file to read): the head still comes from git.
    execFileSync("git", ["--git-dir", dir, "pack-refs", "--all"]);
    expect((await m.fetchHead()).sha).toBe(c3);
    // A remote without the branch, then none at all: every remote with what git said.
    const other = new GitMirror({ dir, remotes: [r.url], branch: "nope", log: memoryLogger() });
    await expect(other.fetchHead()).rejects.toThrow(/branch "nope" not found: fatal: couldn't find remote ref refs\/heads\/nope/);
    const none = new GitMirror({ dir, remotes: ["file:///nope/a", "file:///nope/b"], branch: "main", log: memoryLogger() });
    await expect(none.fetchHead()).rejects.toThrow(RemoteUnreachableError);
    await expect(none.fetchHead()).rejects.toThrow(/nope\/a: fatal: .*nope\/b: fatal: /);
  });

  it("reports every remote when none answers", async () => {
    const m = new GitMirror({ dir: join(mkdtempSync(join(tmpdir(), "flotilla-mirror-")), "c.git"), remotes: ["file:///nope/a", "file:///nope/b"], branch: "main", log: memoryLogger() });
    await m.init();
    await expect(m.remoteHead()).rejects.toThrow(RemoteUnreachableError);
    await expect(m.remoteHead()).rejects.toThrow(/nope\/a.*nope\/b/);
  });

  it("verifies ssh commit signatures against allowed signers", async () => {
    const r = repo();
    const keyDir = mkdtempSync(join(tmpdir(), "flotilla-signer-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "k")]);
    const pub = readFileSync(join(keyDir, "k.pub"), "utf8").trim();
    r.git("config", "gpg.format", "ssh");
    r.git("config", "user.signingkey", join(keyDir, "k"));
    const signed = r.commit("a", "1", ["-S"]);
    const unsigned = r.commit("b", "2");
    const m = new GitMirror({ dir: join(mkdtempSync(join(tmpdir(), "flotilla-mirror-")), "c.git"), remotes: [r.url], branch: "main", log: memoryLogger() });
    await m.init();
    await m.fetch(r.url);
    const signers = [{ principal: "alice@example.com", key: pub }];
    expect(await m.verifySignature(signed, signers)).toMatchObject({ ok: true, signer: "alice@example.com" });
    expect(await m.verifySignature(unsigned, signers)).toMatchObject({ ok: false, detail: "the commit is not signed" });
    const other = mkdtempSync(join(tmpdir(), "flotilla-signer-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(other, "k")]);
    const wrong = [{ principal: "mallory@example.com", key: readFileSync(join(other, "k.pub"), "utf8").trim() }];
    expect((await m.verifySignature(signed, wrong)).ok).toBe(false);
  });

  it("never lets a principal or key inject a line into the allowed-signers file", async () => {
    const r = repo();
    const alice = mkdtempSync(join(tmpdir(), "flotilla-signer-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(alice, "k")]);
    const mallory = mkdtempSync(join(tmpdir(), "flotilla-signer-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(mallory, "k")]);
    const alicePub = readFileSync(join(alice, "k.pub"), "utf8").trim();
    const malloryPub = readFileSync(join(mallory, "k.pub"), "utf8").trim();
    r.git("config", "gpg.format", "ssh");
    r.git("config", "user.signingkey", join(mallory, "k"));
    const byMallory = r.commit("a", "1", ["-S"]);
    const m = new GitMirror({ dir: join(mkdtempSync(join(tmpdir(), "flotilla-mirror-")), "c.git"), remotes: [r.url], branch: "main", log: memoryLogger() });
    await m.init();
    await m.fetch(r.url);
    // Mallory's key smuggled in through the principal, and through the key's comment.
    const viaPrincipal = [{ principal: `alice@example.com ${alicePub}\nmallory@example.com`, key: malloryPub }];
    const viaComment = [{ principal: "alice@example.com", key: `${alicePub}\nmallory@example.com ${malloryPub}` }];
    const viaSpace = [{ principal: `alice@example.com namespaces="git" ${malloryPub.split(" ").slice(0, 2).join(" ")} x`, key: alicePub }];
    for (const signers of [viaPrincipal, viaComment, viaSpace]) {
      const check = await m.verifySignature(byMallory, signers);
      expect(check.ok, JSON.stringify(signers)).toBe(false);
    }
    // The same signer listed properly does verify (the test can fail).
    expect((await m.verifySignature(byMallory, [{ principal: "mallory@example.com", key: malloryPub }])).ok).toBe(true);
  });
});
