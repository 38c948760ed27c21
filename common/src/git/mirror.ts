/**
 * A persistent bare cache of the fleet repo, shared by the agent and the
 * controller. Two ways to follow the branch: `remoteHead` (one `git ls-remote`,
 * then `fetch` when it moved: the controller) and `fetchHead` (one `git fetch`
 * of the branch, which also tells its head: the agent's poll; an unchanged
 * branch transfers no pack). Remotes are tried in order and the first that
 * answers wins.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { SIGNER_PRINCIPAL_PATTERN } from "../../../schemas/src/names.js";
import type { Logger } from "../log.js";
import { GitCommandError, gitRunner, gitSaid, redactUrl, spawnCollect, type GitRunner } from "./run.js";

export class RemoteUnreachableError extends Error {
  override name = "RemoteUnreachableError";
}

export interface CommitInfo {
  sha: string;
  author: string;
  authorEmail: string;
  committer: string;
  time: string;
  subject: string;
  parents: string[];
}

export interface SignatureCheck {
  ok: boolean;
  /** Principal of the allowed signer that made the signature, when ok. */
  signer?: string;
  detail: string;
}

export interface GitMirrorOptions {
  dir: string;
  remotes: string[];
  branch: string;
  log: Logger;
  git?: string;
  timeoutMs?: number;
}

const INCOMING = "refs/flotilla/incoming";

/**
 * One line of git's allowed-signers file (ssh-keygen ALLOWED SIGNERS), or null
 * when the signer cannot be written safely. Built from checked parts only (a
 * one-token principal, the key type and base64 blob without its comment) and
 * limited to the "git" namespace, so no principal or key text can add a line,
 * an option or a second key.
 */
export function allowedSignersLine(s: { principal: string; key: string }): string | null {
  if (!SIGNER_PRINCIPAL_PATTERN.test(s.principal)) return null;
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|sk-ssh-ed25519@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?:[ \t][^\r\n]*)?$/.exec(s.key.trim());
  if (!m) return null;
  return `${s.principal} namespaces="git" ${m[1]} ${m[2]}`;
}

export class GitMirror {
  readonly dir: string;
  readonly remotes: string[];
  readonly branch: string;
  private readonly run: GitRunner;
  private readonly gitCommand: string;

  constructor(opts: GitMirrorOptions) {
    this.dir = opts.dir;
    this.remotes = opts.remotes;
    this.branch = opts.branch;
    this.gitCommand = opts.git ?? "git";
    this.run = gitRunner({ git: opts.git, log: opts.log, defaultTimeoutMs: opts.timeoutMs ?? 300_000 });
  }

  private git(args: string[], o?: Parameters<GitRunner>[1]) {
    return this.run(["--git-dir", this.dir, ...args], o);
  }

  async init(): Promise<void> {
    if (existsSync(join(this.dir, "HEAD"))) return;
    await mkdir(this.dir, { recursive: true });
    await this.run(["init", "--quiet", "--bare", this.dir]);
    await this.git(["config", "gc.auto", "0"]);
    await this.git(["config", "core.logAllRefUpdates", "false"]);
  }

  /** The branch head on the first remote that answers. */
  async remoteHead(): Promise<{ remote: string; sha: string }> {
    const failures: string[] = [];
    for (const remote of this.remotes) {
      try {
        const r = await this.run(["ls-remote", "--heads", remote, `refs/heads/${this.branch}`]);
        const sha = r.stdout.split(/\s+/)[0] ?? "";
        if (!/^[0-9a-f]{40}$/.test(sha)) {
          failures.push(`${redactUrl(remote)}: branch "${this.branch}" not found`);
          continue;
        }
        return { remote, sha };
      } catch (e) {
        // what git said (all of it, gitSaid), or why git did not run at all (a SpawnError: EMFILE, ENOENT…)
        const said = e instanceof GitCommandError ? gitSaid(e.stderr) : undefined;
        failures.push(`${redactUrl(remote)}: ${said || (e as Error).message}`);
      }
    }
    throw new RemoteUnreachableError(`no fleet remote answered for branch "${this.branch}": ${failures.join("; ")}`);
  }

  /**
   * Fetches the branch from the first remote that answers (force: the cache
   * follows a rewritten branch too, the caller judges the move) and returns
   * its head: one connection per poll, where `remoteHead` + `fetch` make two.
   * The refspec names the one branch, so protocol v2 advertises only it, and
   * a head the cache already has transfers no pack.
   */
  async fetchHead(): Promise<{ remote: string; sha: string }> {
    const failures: string[] = [];
    for (const remote of this.remotes) {
      try {
        await this.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, `+refs/heads/${this.branch}:${INCOMING}`]);
      } catch (e) {
        const said = e instanceof GitCommandError ? gitSaid(e.stderr) : undefined;
        const missing = said && /couldn't find remote ref/i.test(said) ? `branch "${this.branch}" not found: ` : "";
        failures.push(`${redactUrl(remote)}: ${missing}${said || (e as Error).message}`);
        continue;
      }
      return { remote, sha: await this.incoming() };
    }
    throw new RemoteUnreachableError(`no fleet remote answered for branch "${this.branch}": ${failures.join("; ")}`);
  }

  /** refs/flotilla/incoming: the loose ref file git fetch just wrote (no process), else `git rev-parse` (packed refs, another ref backend). */
  private async incoming(): Promise<string> {
    const loose = await readFile(join(this.dir, INCOMING), "utf8").catch(() => "");
    const sha = loose.trim();
    if (/^[0-9a-f]{40}$/.test(sha)) return sha;
    return (await this.git(["rev-parse", "--verify", `${INCOMING}^{commit}`])).stdout.trim();
  }

  async hasCommit(sha: string): Promise<boolean> {
    const r = await this.git(["cat-file", "-e", `${sha}^{commit}`], { allowFail: true });
    return r.exitCode === 0;
  }

  /** Fetches the branch from `remote` into the cache (no-op when `sha` is already there). */
  async fetch(remote: string, sha?: string): Promise<string> {
    if (sha && (await this.hasCommit(sha))) {
      await this.git(["update-ref", INCOMING, sha]);
      return sha;
    }
    await this.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, `+refs/heads/${this.branch}:${INCOMING}`]);
    const head = (await this.git(["rev-parse", INCOMING])).stdout.trim();
    return head;
  }

  /** Does `ancestor` lie on the history of `descendant`? */
  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const r = await this.git(["merge-base", "--is-ancestor", ancestor, descendant], { allowFail: true });
    // 0 yes, 1 no; anything else (including -1, killed at the timeout) is no answer.
    if (r.exitCode !== 0 && r.exitCode !== 1) throw new GitCommandError(`git merge-base failed (exit ${r.exitCode}): ${r.stderr}`, [], r.exitCode, r.stderr);
    return r.exitCode === 0;
  }

  /** A file's bytes at a revision, or null when the path does not exist there. */
  async readFile(rev: string, path: string): Promise<Buffer | null> {
    const r = await spawnCollect(this.gitCommand, ["--git-dir", this.dir, "cat-file", "blob", `${rev}:${path}`], { timeoutMs: 60_000 });
    if (r.timedOut) throw new GitCommandError(`git cat-file ${rev.slice(0, 12)}:${path} timed out`, [], undefined, r.stderr.toString("utf8"));
    if (r.exitCode !== 0) return null;
    return r.stdout;
  }

  async commitInfo(rev: string): Promise<CommitInfo> {
    const sep = "\x1f";
    const r = await this.git(["show", "-s", `--format=%H${sep}%an${sep}%ae${sep}%cn${sep}%cI${sep}%P${sep}%s`, rev]);
    const [sha, author, authorEmail, committer, time, parents, subject] = r.stdout.split(sep);
    return { sha: sha!, author: author!, authorEmail: authorEmail!, committer: committer!, time: time!, parents: parents ? parents.split(" ") : [], subject: subject ?? "" };
  }

  /** Commits on the first-parent chain reachable from `to` but not from `from` (oldest first), at most the `max` newest. */
  async commitsBetween(from: string | null, to: string, max?: number): Promise<string[]> {
    const range = from ? [`${from}..${to}`] : [to];
    const r = await this.git(["rev-list", "--reverse", "--first-parent", ...(max !== undefined ? [`--max-count=${max}`] : []), ...range]);
    return r.stdout.split("\n").filter(Boolean);
  }

  /** Verifies the commit's SSH signature against the allowed signers. */
  async verifySignature(rev: string, signers: { principal: string; key: string }[]): Promise<SignatureCheck> {
    if (signers.length === 0) return { ok: false, detail: "no allowed signers configured" };
    const lines = signers.map(allowedSignersLine).filter((l): l is string => l !== null);
    if (lines.length === 0) return { ok: false, detail: "none of the allowed signers is usable (principal or key malformed)" };
    const file = join(tmpdir(), `flotilla-allowed-signers-${randomBytes(6).toString("hex")}`);
    await writeFile(file, lines.join("\n") + "\n", { mode: 0o600 });
    try {
      const r = await this.git(["-c", "gpg.format=ssh", "-c", `gpg.ssh.allowedSignersFile=${file}`, "verify-commit", "--raw", rev], { allowFail: true });
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.exitCode === 0) {
        const m = /Good "git" signature for (\S+)/.exec(out);
        return { ok: true, signer: m?.[1], detail: out.trim().split("\n")[0] ?? "good signature" };
      }
      const detail = /no signature found/i.test(out) || out.trim() === "" ? "the commit is not signed" : out.trim().split("\n").slice(-1)[0]!;
      return { ok: false, detail };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** A flake reference that nix can build from the cache at `rev`. */
  flakeRef(rev: string): string {
    return `git+file://${this.dir}?rev=${rev}&ref=${INCOMING}`;
  }
}
