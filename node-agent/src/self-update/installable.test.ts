// The self-update's flake installable with the real nix: Nix 2.8 fetches a
// git+file/git+https URL that has only ?rev= from refs/heads/master, so a
// source on a repository whose branch is main failed ("program 'git' failed
// with exit code 128"). installableOf adds ref=HEAD (the remote's default
// branch); the rev still pins the content.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { installableOf } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-installable-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();

describe("self-update installable", () => {
  it("keeps other references as they are and adds ref=HEAD to a git URL pinned by rev alone", () => {
    expect(installableOf({ source: "github:acme/flotilla/0123456789abcdef0123456789abcdef01234567" }, "x86_64-linux")).toBe("github:acme/flotilla/0123456789abcdef0123456789abcdef01234567#packages.x86_64-linux.flotilla");
    expect(installableOf({ source: "git+https://git.example/flotilla.git?ref=main&rev=abc" }, "x86_64-linux")).toBe("git+https://git.example/flotilla.git?ref=main&rev=abc#packages.x86_64-linux.flotilla");
    expect(installableOf({ source: "git+https://git.example/flotilla.git?rev=abc", attribute: "x" }, "x86_64-linux")).toBe("git+https://git.example/flotilla.git?rev=abc&ref=HEAD#x");
  });

  it("evaluates with the real nix for a repository whose branch is main", () => {
    const src = join(dir, "src");
    execFileSync("git", ["init", "-q", "-b", "main", src]);
    writeFileSync(join(src, "flake.nix"), '{ outputs = { self }: { x = "from-main"; }; }');
    git(src, "add", ".");
    git(src, "commit", "-qm", "x");
    const rev = git(src, "rev-parse", "HEAD");
    execFileSync("git", ["clone", "-q", "--bare", src, join(dir, "bare.git")]);
    const out = execFileSync("nix", ["eval", "--raw", installableOf({ source: `git+file://${dir}/bare.git?rev=${rev}`, attribute: "x" }, "x86_64-linux")], {
      encoding: "utf8",
      env: { ...process.env, NIX_CONFIG: "experimental-features = nix-command flakes\nsubstituters =" },
    });
    expect(out).toBe("from-main");
  });
});
