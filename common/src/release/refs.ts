/**
 * Where release manifests live: in the fleet repo itself, so agents need
 * nothing but the git remote they already poll. The manifest of revision
 * <rev> is `release.json` in the tree of a parentless commit that the ref
 * `refs/flotilla/releases/<rev>` points at. Outside refs/heads and
 * refs/tags, so branch protection, clones and CI checkouts never see it;
 * a commit (not a bare blob) so every git host accepts the push.
 *
 * The builder writes it (`writeRelease`) and pushes it (`publishRelease`);
 * the agent fetches exactly that ref into its bare cache (`fetchRelease`).
 */
import type { Logger } from "../log.js";
import { RELEASE_FILE, RELEASE_REF_PREFIX } from "../../../schemas/src/release-constants.js";
import { GitCommandError, gitRunner, gitSaid, redactUrl, type GitRunner } from "../git/run.js";

export function releaseRef(rev: string): string {
  if (!/^[0-9a-f]{40}$/.test(rev)) throw new Error(`expected a 40-hex revision, not "${rev}"`);
  return `${RELEASE_REF_PREFIX}${rev}`;
}

function runner(log: Logger, git?: string, timeoutMs = 120_000): GitRunner {
  return gitRunner({ git, log, defaultTimeoutMs: timeoutMs });
}

const IDENTITY = {
  GIT_AUTHOR_NAME: "flotilla build",
  GIT_AUTHOR_EMAIL: "flotilla-build@localhost",
  GIT_COMMITTER_NAME: "flotilla build",
  GIT_COMMITTER_EMAIL: "flotilla-build@localhost",
};

/** Writes the signed manifest of `rev` under its ref in the repository `gitDir` (a .git dir or a bare repo). Returns the commit. */
export async function writeRelease(o: { gitDir: string; rev: string; text: string; log: Logger; git?: string }): Promise<string> {
  const run = runner(o.log, o.git);
  const g = (args: string[], input?: string) => run(["--git-dir", o.gitDir, ...args], { input, env: IDENTITY });
  const blob = (await g(["hash-object", "-w", "--stdin"], o.text)).stdout.trim();
  const tree = (await g(["mktree"], `100644 blob ${blob}\t${RELEASE_FILE}\n`)).stdout.trim();
  const commit = (await g(["commit-tree", tree, "-m", `flotilla release of ${o.rev}`])).stdout.trim();
  await g(["update-ref", releaseRef(o.rev), commit]);
  return commit;
}

/** Pushes the release ref of `rev` to `remote` (replacing an older build of the same revision). */
export async function publishRelease(o: { gitDir: string; rev: string; remote: string; log: Logger; git?: string }): Promise<void> {
  const ref = releaseRef(o.rev);
  await runner(o.log, o.git)(["--git-dir", o.gitDir, "push", "--quiet", o.remote, `+${ref}:${ref}`]);
}

/** The manifest text of `rev` in `gitDir`, or null when there is none. */
export async function readRelease(o: { gitDir: string; rev: string; log: Logger; git?: string }): Promise<string | null> {
  const r = await runner(o.log, o.git)(["--git-dir", o.gitDir, "cat-file", "blob", `${releaseRef(o.rev)}:${RELEASE_FILE}`], { allowFail: true });
  return r.exitCode === 0 ? r.stdout : null;
}

export class ReleaseFetchError extends Error {
  override name = "ReleaseFetchError";
}

/**
 * Fetches the release ref of `rev` from `remote` into the bare cache `gitDir`
 * and returns the manifest text; null when the remote has no such ref (not
 * published yet). Throws ReleaseFetchError when the remote does not answer.
 */
export async function fetchRelease(o: { gitDir: string; remote: string; rev: string; log: Logger; git?: string; timeoutMs?: number }): Promise<string | null> {
  const ref = releaseRef(o.rev);
  const run = runner(o.log, o.git, o.timeoutMs);
  const r = await run(["--git-dir", o.gitDir, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", o.remote, `+${ref}:${ref}`], { allowFail: true });
  if (r.exitCode !== 0) {
    if (/couldn't find remote ref/i.test(r.stderr)) return null;
    throw new ReleaseFetchError(`fetching ${ref} from ${redactUrl(o.remote)} failed: ${gitSaid(r.stderr) || `exit ${r.exitCode}`}`);
  }
  return readRelease(o);
}

export { GitCommandError };
