// Real git repositories for tests: a fleet repo in a temp dir (optionally
// seeded from the offline test flake in test/fixtures/fleet/) that tests
// change commit by commit, and bare remotes to push it to.
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { makeTempDir } from "./tmp.js";

export { serveHttp, type HttpRemote, type ServeHttpOptions } from "./git-http.js";

/** The offline test flake copied into fleet repos by `makeFleetRepo({ template: true })`. */
export const FLEET_TEMPLATE_DIR = fileURLToPath(new URL("../fixtures/fleet/", import.meta.url));

/** Files to write (string) or delete (null), keyed by path relative to the repo root. */
export type FileChanges = Record<string, string | null>;

export interface FleetRepo {
  /** Work tree of the repo (non-bare; agents may fetch from it directly). */
  dir: string;
  /** file:// URL of `dir`, for git clone/fetch/ls-remote. */
  url: string;
  /** Writes/deletes files, commits them (to `branch`, default main; created from main if new); returns the 40-hex sha. */
  commit(files: FileChanges, message?: string, opts?: { branch?: string }): Promise<string>;
  /** Sha of `branch` (default main). */
  head(branch?: string): Promise<string>;
  /** `git+file://<dir>?rev=<rev>` (plus `&ref=<ref>` if given), for nix build/run. */
  flakeRef(rev: string, ref?: string): string;
  /** Rewrites history: commits `files` on top of `onto` (default main~1, i.e. replaces the last commit) and moves main there. Returns the new sha, which is not a descendant of the old head. */
  forcePush(files: FileChanges, message?: string, opts?: { onto?: string }): Promise<string>;
  /** Moves main back to `rev` (a force-push to an older commit). */
  resetTo(rev: string): Promise<void>;
  /** Pushes `branch` (default main) to a remote dir or URL. */
  push(remote: string, opts?: { branch?: string; force?: boolean }): Promise<void>;
  /** Runs git in the repo; returns trimmed stdout. */
  git(args: string[]): Promise<string>;
}

export interface MakeFleetRepoOptions {
  /** Initial files (committed together with the template, if any). */
  files?: FileChanges;
  /** Copy test/fixtures/fleet/ (flake.nix, hosts.nix, lib/, markers/) into the repo. Default false. */
  template?: boolean;
  /** Message of the initial commit. */
  message?: string;
}

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execa("git", args, { cwd, env: { GIT_TERMINAL_PROMPT: "0" } });
  return stdout.trim();
}

async function configureRepo(dir: string): Promise<void> {
  const settings: Array<[string, string]> = [
    ["user.name", "Flotilla Test"],
    ["user.email", "test@flotilla.invalid"],
    ["gc.auto", "0"],
    ["commit.gpgsign", "false"],
    ["tag.gpgsign", "false"],
  ];
  for (const [key, value] of settings) await git(dir, ["config", key, value]);
}

async function applyChanges(dir: string, files: FileChanges): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) {
      await rm(full, { recursive: true, force: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content);
    }
  }
}

/** Creates a real git repo (branch main) in a fresh temp dir; commits the template and `files` if any. */
export async function makeFleetRepo(options: MakeFleetRepoOptions = {}): Promise<FleetRepo> {
  const dir = await makeTempDir("flotilla-fleet-");
  await git(dir, ["init", "-q", "-b", "main"]);
  await configureRepo(dir);
  if (options.template) {
    await cp(FLEET_TEMPLATE_DIR, dir, {
      recursive: true,
      filter: (src) => !/(^|\/)result(-[^/]*)?$/.test(src),
    });
  }

  const repo: FleetRepo = {
    dir,
    url: `file://${dir}`,
    git: (args) => git(dir, args),
    head: (branch = "main") => git(dir, ["rev-parse", `refs/heads/${branch}`]),
    flakeRef: (rev, ref) => `git+file://${dir}?rev=${rev}${ref ? `&ref=${encodeURIComponent(ref)}` : ""}`,

    async commit(files, message = "update fleet", opts = {}) {
      const branch = opts.branch ?? "main";
      const current = await git(dir, ["symbolic-ref", "--short", "HEAD"]);
      if (branch !== current) {
        const exists = await execa("git", ["rev-parse", "--verify", "-q", `refs/heads/${branch}`], { cwd: dir, reject: false });
        await git(dir, exists.exitCode === 0 ? ["checkout", "-q", branch] : ["checkout", "-q", "-b", branch, "main"]);
      }
      try {
        await applyChanges(dir, files);
        await git(dir, ["add", "-A"]);
        await git(dir, ["commit", "-q", "--allow-empty", "-m", message]);
        return await git(dir, ["rev-parse", "HEAD"]);
      } finally {
        if (branch !== current) await git(dir, ["checkout", "-q", current]);
      }
    },

    async forcePush(files, message = "rewrite fleet history", opts = {}) {
      const onto = opts.onto ?? "main~1";
      await git(dir, ["reset", "-q", "--hard", onto]);
      return repo.commit(files, message);
    },

    async resetTo(rev) {
      await git(dir, ["reset", "-q", "--hard", rev]);
    },

    async push(remote, opts = {}) {
      const branch = opts.branch ?? "main";
      await git(dir, ["push", "-q", ...(opts.force ? ["--force"] : []), remote, `refs/heads/${branch}:refs/heads/${branch}`]);
    },
  };

  const initial = options.files ?? {};
  if (options.template || Object.keys(initial).length > 0) {
    await repo.commit(initial, options.message ?? "initial fleet");
  }
  return repo;
}

export interface BareRemote {
  /** The bare repo (`<tmp>/fleet.git`). */
  dir: string;
  /** file:// URL of `dir`. */
  url: string;
}

/** An empty bare repo (HEAD → main); if `source` is given, its main branch is pushed there. */
export async function makeBareRemote(source?: FleetRepo): Promise<BareRemote> {
  const parent = await makeTempDir("flotilla-remote-");
  const dir = join(parent, "fleet.git");
  await execa("git", ["init", "-q", "--bare", "-b", "main", dir]);
  await git(dir, ["config", "gc.auto", "0"]);
  if (source) await source.push(dir);
  return { dir, url: `file://${dir}` };
}
