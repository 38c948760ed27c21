/**
 * The Source port on a persistent bare cache (common/src/git/mirror.ts) in
 * the state dir. Every revision the agent may still need (target, current,
 * previous) is kept reachable by its own ref, refs/flotilla/keep/<sha>, so a
 * rollback builds even after the branch was rewritten, and nix is given that
 * ref (not the moving refs/flotilla/incoming) in the flake reference.
 *
 * The flake reference names the bare cache. (Nix 2.8 copies a bare
 * repository's revision into its own ~/.cache/nix/gitv3 first; a directory
 * whose `.git` file names the cache would be read in place, but how newer
 * Nix versions treat such a directory is untested here, and on the test
 * fleet it saved nothing measurable.)
 */
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatIssue, hasErrors, loadFleetAtRev } from "../../../common/src/fleet/load.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { gitRunner, spawnCollect, type GitRunner } from "../../../common/src/git/run.js";
import type { Logger } from "../../../common/src/log.js";
import type { FleetLoad, Source } from "../ports.js";

const KEEP = "refs/flotilla/keep/";

export interface GitSourceOptions {
  stateDir: string;
  remotes: string[];
  branch: string;
  git: string;
  timeoutMs: number;
  log: Logger;
}

export class GitSource implements Source {
  readonly mirror: GitMirror;
  private readonly run: GitRunner;
  private readonly checkouts: string;
  /** Revisions whose keep ref this process made (forget drops them): one update-ref per revision, not per step. */
  private readonly kept = new Set<string>();
  /** The head the last `head()` fetched into the cache (refs/flotilla/incoming). */
  private fetched: string | null = null;

  constructor(private readonly o: GitSourceOptions) {
    this.mirror = new GitMirror({ dir: join(o.stateDir, "cache.git"), remotes: o.remotes, branch: o.branch, log: o.log, git: o.git, timeoutMs: o.timeoutMs });
    this.run = gitRunner({ git: o.git, log: o.log, defaultTimeoutMs: o.timeoutMs });
    this.checkouts = join(o.stateDir, "checkouts");
  }

  private git(args: string[], opts?: Parameters<GitRunner>[1]) {
    return this.run(["--git-dir", this.mirror.dir, ...args], opts);
  }

  init(): Promise<void> {
    return this.mirror.init();
  }

  /** The branch head, fetched: a poll is one `git fetch` (an unchanged head transfers no pack). */
  async head() {
    this.fetched = null;
    const h = await this.mirror.fetchHead();
    this.fetched = h.sha;
    return h;
  }

  async fetch(remote: string, sha: string): Promise<void> {
    // The head the poll just fetched (the usual case): nothing left to do.
    if (sha === this.fetched) return;
    // The branch's new head is the commit asked for: it is there, no need to ask git again.
    if ((await this.mirror.fetch(remote, sha)) !== sha && !(await this.mirror.hasCommit(sha))) {
      // A revision that is not on the branch (a pin elsewhere): ask for it by id.
      await this.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, `+${sha}:${KEEP}${sha}`], { allowFail: true });
    }
  }

  hasCommit(sha: string) {
    return this.mirror.hasCommit(sha);
  }

  isAncestor(a: string, b: string) {
    return this.mirror.isAncestor(a, b);
  }

  async loadFleet(rev: string): Promise<FleetLoad> {
    const r = await loadFleetAtRev(this.mirror, rev, undefined, { branch: this.mirror.branch });
    if (r.fleet && !hasErrors(r.issues)) return { fleet: r.fleet, errors: [] };
    const errors = r.issues.filter((i) => i.severity === "error").map(formatIssue);
    return { errors: errors.length ? errors : ["fleet.yaml could not be loaded"] };
  }

  verifySignature(rev: string, signers: { principal: string; key: string }[]) {
    return this.mirror.verifySignature(rev, signers);
  }

  async flakeRef(rev: string): Promise<string> {
    if (!this.kept.has(rev)) {
      await this.git(["update-ref", `${KEEP}${rev}`, rev]);
      this.kept.add(rev);
    }
    return `git+file://${this.mirror.dir}?rev=${rev}&ref=${KEEP}${rev}`;
  }

  async checkout(rev: string): Promise<string> {
    const dir = join(this.checkouts, rev);
    if (existsSync(dir)) return dir;
    await mkdir(this.checkouts, { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    const started = Date.now();
    // Two steps through a temp tarball (no pipe between processes): each is a
    // plain spawn whose failure to start is an ordinary error (see run.ts).
    const tarball = `${tmp}.tar`;
    let r;
    try {
      await this.run(["--git-dir", this.mirror.dir, "archive", "--format=tar", "-o", tarball, rev], { timeoutMs: this.o.timeoutMs });
      r = await spawnCollect("tar", ["-x", "-C", tmp, "-f", tarball], { timeoutMs: this.o.timeoutMs });
    } catch (cause) {
      throw new Error(`checkout of ${rev.slice(0, 12)} failed: ${(cause as Error).message}`, { cause });
    } finally {
      await rm(tarball, { force: true });
    }
    this.o.log.info("ran", { cmd: `git archive ${rev} | tar -x`, ms: Date.now() - started, exit: r.exitCode });
    if (r.exitCode !== 0) throw new Error(`checkout of ${rev.slice(0, 12)} failed: tar exit ${r.exitCode}: ${r.stderr.toString("utf8").trim()}`);
    await rename(tmp, dir);
    return dir;
  }

  async reachable(remote: string, timeoutMs: number): Promise<boolean> {
    const r = await this.run(["ls-remote", "--heads", remote, `refs/heads/${this.o.branch}`], { timeoutMs, allowFail: true });
    return r.exitCode === 0 && /^[0-9a-f]{40}\s/.test(r.stdout);
  }

  async forget(keep: string[]): Promise<void> {
    const refs = (await this.git(["for-each-ref", "--format=%(refname)", KEEP])).stdout.split("\n").filter(Boolean);
    for (const rev of this.kept) if (!keep.includes(rev)) this.kept.delete(rev);
    for (const ref of refs) if (!keep.includes(ref.slice(KEEP.length))) await this.git(["update-ref", "-d", ref], { allowFail: true });
    if (!existsSync(this.checkouts)) return;
    for (const name of await readdir(this.checkouts)) if (!keep.includes(name)) await rm(join(this.checkouts, name), { recursive: true, force: true });
  }
}
