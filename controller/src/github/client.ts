/**
 * GitHub through @octokit/rest: commit statuses on branch commits, PR lookup
 * for the audit (title, author, merger), and the branch head as a cheap
 * change check. Every GET is conditional (If-None-Match with the last ETag),
 * so a poll that finds nothing new is a 304 and costs no rate limit.
 */
import { Octokit } from "@octokit/rest";
import type { Logger } from "../../../common/src/log.js";
import { GitHubError } from "../errors.js";
import type { PullRequestInfo } from "../store/types.js";
import type { CommitState, GitHubPort } from "./port.js";

export interface GitHubClientOptions {
  repo: string;
  token: string | null;
  apiUrl: string;
  statusContext: string;
  log: Logger;
}

interface Cached {
  etag: string;
  response: unknown;
}

export class GitHubClient implements GitHubPort {
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly name: string;
  private readonly etags = new Map<string, Cached>();
  /** Conditional requests answered 304 (for tests and metrics). */
  notModified = 0;

  constructor(private readonly opts: GitHubClientOptions) {
    [this.owner, this.name] = opts.repo.split("/") as [string, string];
    this.octokit = new Octokit({ ...(opts.token ? { auth: opts.token } : {}), baseUrl: opts.apiUrl, userAgent: "flotilla-controller", request: { retries: 0 } });
    this.octokit.hook.wrap("request", async (request, options) => {
      if (options.method !== "GET") return request(options);
      const key = `${options.url}?${JSON.stringify(Object.entries(options).filter(([k]) => !["method", "url", "headers", "request", "baseUrl", "mediaType"].includes(k)))}`;
      const cached = this.etags.get(key);
      if (cached) options.headers = { ...options.headers, "if-none-match": cached.etag };
      try {
        const response = await request(options);
        const etag = response.headers.etag;
        if (etag) this.etags.set(key, { etag, response });
        return response;
      } catch (e) {
        if (cached && (e as { status?: number }).status === 304) {
          this.notModified++;
          return cached.response as Awaited<ReturnType<typeof request>>;
        }
        throw e;
      }
    });
  }

  private fail(what: string, e: unknown): never {
    const status = (e as { status?: number }).status;
    throw new GitHubError(`GitHub ${what} failed${status ? ` (HTTP ${status})` : ""}: ${(e as Error).message}`, { cause: e });
  }

  async setStatus(sha: string, state: CommitState, description: string, targetUrl: string | null): Promise<void> {
    try {
      await this.octokit.rest.repos.createCommitStatus({
        owner: this.owner, repo: this.name, sha, state, description, context: this.opts.statusContext, ...(targetUrl ? { target_url: targetUrl } : {}),
      });
      this.opts.log.debug("commit status posted", { sha: sha.slice(0, 12), state, description });
    } catch (e) {
      this.fail(`commit status for ${sha.slice(0, 12)}`, e);
    }
  }

  async pullRequestFor(sha: string): Promise<PullRequestInfo | null> {
    try {
      const { data } = await this.octokit.rest.repos.listPullRequestsAssociatedWithCommit({ owner: this.owner, repo: this.name, commit_sha: sha });
      const pr = data.find((p) => p.merged_at) ?? data[0];
      if (!pr) return null;
      const full = await this.octokit.rest.pulls.get({ owner: this.owner, repo: this.name, pull_number: pr.number });
      return { number: pr.number, title: pr.title, author: pr.user?.login ?? null, mergedBy: full.data.merged_by?.login ?? null, url: pr.html_url ?? null };
    } catch (e) {
      this.fail(`PR lookup for ${sha.slice(0, 12)}`, e);
    }
  }

  async branchHead(branch: string): Promise<string | null> {
    try {
      const { data } = await this.octokit.rest.repos.getBranch({ owner: this.owner, repo: this.name, branch });
      return data.commit.sha;
    } catch (e) {
      this.fail(`branch ${branch}`, e);
    }
  }
}
